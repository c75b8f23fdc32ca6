#include "registry/handlers.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "test_support.hpp"

using namespace status::registry;
using status::common::Metrics;
using status::common::Request;
using status::registry::testing::FakeClock;
namespace http = status::common::http;
namespace json = boost::json;

namespace {

constexpr const char* kReplicationHeaderName = "x-netflix-discovery-replication";

// The registration body the status nodes (and Spring's Java client) send, for app `app`.
std::string body_for(const std::string& app, const std::string& id,
                     const std::string& host = "127.0.0.1") {
  return R"({"instance":{"instanceId":")" + id + R"(","hostName":")" + host + R"(","app":")" + app +
         R"(","ipAddr":"127.0.0.1","status":"UP","port":{"$":8081,"@enabled":"true"},
         "dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
         "leaseInfo":{"renewalIntervalInSecs":1,"durationInSecs":3}}})";
}

class RecordingSink : public ReplicationSink {
 public:
  void replicate(ReplicationTask task) override { tasks.push_back(std::move(task)); }
  std::vector<ReplicationTask> tasks;
};

class Handlers : public ::testing::Test {
 protected:
  HandlerResult call(http::verb method, const std::string& target, const std::string& body = {},
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    Request req{method, target, 11};
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    return handle_request(req, deps_);
  }
  int status(http::verb method, const std::string& target, const std::string& body = {}) {
    return call(method, target, body).response.result_int();
  }
  std::string detail(const HandlerResult& r) {
    EXPECT_EQ(r.response[http::field::content_type], "application/problem+json");
    return std::string(json::parse(r.response.body()).at("detail").as_string());
  }
  json::value get_json(const std::string& target) {
    auto r = call(http::verb::get, target);
    EXPECT_EQ(r.response.result_int(), 200) << r.response.body();
    return json::parse(r.response.body());
  }

  FakeClock clock_;
  Registry registry_{clock_.clock()};
  RecordingSink sink_;
  Metrics metrics_;
  HandlerDeps deps_{registry_, &sink_, &metrics_};
};

}  // namespace

TEST_F(Handlers, RegisterUnderBothPrefixes) {
  auto r = call(http::verb::post, "/eureka/apps/STATUS-NODE", body_for("STATUS-NODE", "n1"));
  EXPECT_EQ(r.response.result_int(), 204);
  EXPECT_TRUE(r.response.body().empty());
  EXPECT_EQ(r.route, "/eureka/apps/{app}");
  EXPECT_EQ(status(http::verb::post, "/eureka/v2/apps/STATUS-NODE", body_for("STATUS-NODE", "n2")),
            204);
  EXPECT_EQ(registry_.size(), 2u);
  for (auto prefix : {"/eureka", "/eureka/v2"}) {
    auto doc = get_json(std::string(prefix) + "/apps");
    EXPECT_EQ(doc.at("applications").at("application").at(0).at("instance").as_array().size(), 2u);
  }
  EXPECT_EQ(metrics_.value("registry_registrations_total"), 2);
}

TEST_F(Handlers, AppNameComparedCaseInsensitively) {
  EXPECT_EQ(status(http::verb::post, "/eureka/apps/status-node", body_for("STATUS-NODE", "n1")),
            204);
  EXPECT_EQ(status(http::verb::post, "/eureka/apps/STATUS-NODE", body_for("status-node", "n2")),
            204);
  EXPECT_EQ(get_json("/eureka/apps/status-node").at("application").at("name"), "STATUS-NODE");
}

TEST_F(Handlers, AppPathMismatchIs400) {
  auto r = call(http::verb::post, "/eureka/apps/OTHER", body_for("STATUS-NODE", "n1"));
  EXPECT_EQ(r.response.result_int(), 400);
  EXPECT_NE(detail(r).find("Mismatched appName"), std::string::npos);
  EXPECT_EQ(registry_.size(), 0u);
}

TEST_F(Handlers, MalformedAndIncompleteBodiesAre400WithAReason) {
  auto r = call(http::verb::post, "/eureka/apps/APP", "{\"instance\": {");
  EXPECT_EQ(r.response.result_int(), 400);
  EXPECT_NE(detail(r).find("malformed JSON"), std::string::npos);
  r = call(http::verb::post, "/eureka/apps/APP",
           R"({"instance":{"app":"APP","dataCenterInfo":{}}})");
  EXPECT_EQ(r.response.result_int(), 400);
  EXPECT_NE(detail(r).find("hostName"), std::string::npos);
  r = call(http::verb::post, "/eureka/apps/APP", R"({"instance":{"app":"APP","hostName":"h"}})");
  EXPECT_NE(detail(r).find("dataCenterInfo"), std::string::npos);
  r = call(http::verb::post, "/eureka/apps/APP",
           R"({"instance":{"hostName":"h","dataCenterInfo":{}}})");
  EXPECT_NE(detail(r).find("app"), std::string::npos);
  EXPECT_EQ(status(http::verb::post, "/eureka/apps/APP", ""), 400);
  EXPECT_EQ(status(http::verb::post, "/eureka/apps/APP", "\xff\xfe"), 400);
  EXPECT_EQ(registry_.size(), 0u);
}

TEST_F(Handlers, XmlBodyIsUnsupportedMediaType) {
  Request req{http::verb::post, "/eureka/apps/APP", 11};
  req.set(http::field::content_type, "application/xml");
  req.body() = "<instance/>";
  req.prepare_payload();
  EXPECT_EQ(handle_request(req, deps_).response.result_int(), 415);
}

TEST_F(Handlers, HeartbeatKnownAndUnknown) {
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/STATUS-NODE/n1"), 404);
  status(http::verb::post, "/eureka/apps/STATUS-NODE", body_for("STATUS-NODE", "n1"));
  clock_.advance_ms(1000);
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/STATUS-NODE/n1?status=UP&lastDirtyTimestamp=1"),
            200);
  EXPECT_EQ(registry_.find("STATUS-NODE", "n1")->last_renewal_ts, clock_.now());
  EXPECT_EQ(status(http::verb::put, "/eureka/v2/apps/STATUS-NODE/n1"), 200);
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/STATUS-NODE/n2"), 404);
  EXPECT_EQ(metrics_.value("registry_renewals_total"), 2);
}

TEST_F(Handlers, CancelThenUnknown) {
  status(http::verb::post, "/eureka/apps/APP", body_for("APP", "a"));
  EXPECT_EQ(status(http::verb::delete_, "/eureka/apps/APP/a"), 200);
  EXPECT_EQ(status(http::verb::delete_, "/eureka/apps/APP/a"), 404);
  EXPECT_EQ(status(http::verb::get, "/eureka/apps/APP/a"), 404);
  EXPECT_EQ(status(http::verb::get, "/eureka/apps/APP"), 404);
}

TEST_F(Handlers, StatusOverrideAndRemoval) {
  status(http::verb::post, "/eureka/apps/APP", body_for("APP", "a"));
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/APP/a/status?value=OUT_OF_SERVICE"), 200);
  auto in = get_json("/eureka/apps/APP/a").at("instance");
  EXPECT_EQ(in.at("status"), "OUT_OF_SERVICE");
  EXPECT_EQ(in.at("overriddenstatus"), "OUT_OF_SERVICE");
  EXPECT_EQ(in.at("actionType"), "MODIFIED");
  EXPECT_EQ(get_json("/eureka/apps").at("applications").at("apps__hashcode"), "OUT_OF_SERVICE_1_");
  EXPECT_EQ(status(http::verb::delete_, "/eureka/apps/APP/a/status"), 200);
  EXPECT_EQ(get_json("/eureka/apps/APP/a").at("instance").at("status"), "UP");
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/APP/a/status?value=SLEEPY"), 400);
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/APP/a/status"), 400);
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/APP/ghost/status?value=UP"), 404);
  EXPECT_EQ(status(http::verb::delete_, "/eureka/apps/APP/ghost/status"), 404);
}

TEST_F(Handlers, DeltaCarriesActionTypes) {
  status(http::verb::post, "/eureka/apps/APP", body_for("APP", "a"));
  status(http::verb::post, "/eureka/apps/APP", body_for("APP", "b"));
  status(http::verb::delete_, "/eureka/apps/APP/b");
  auto apps = get_json("/eureka/apps/delta").at("applications");
  std::map<std::string, std::string> actions;
  for (const auto& app : apps.at("application").as_array())
    for (const auto& in : app.at("instance").as_array())
      actions[std::string(in.at("instanceId").as_string())] =
          std::string(in.at("actionType").as_string());
  EXPECT_EQ(actions["a"], "ADDED");
  EXPECT_EQ(actions["b"], "DELETED");
  EXPECT_EQ(apps.at("apps__hashcode"), "UP_1_");
}

TEST_F(Handlers, InstancesByIdAndByVip) {
  std::string body = body_for("APP", "a");
  body.insert(body.rfind("}}"), R"(,"vipAddress":"app,app-alias")");
  ASSERT_EQ(status(http::verb::post, "/eureka/apps/APP", body), 204);
  EXPECT_EQ(get_json("/eureka/instances/a").at("instance").at("instanceId"), "a");
  EXPECT_EQ(status(http::verb::get, "/eureka/instances/zzz"), 404);
  auto apps = get_json("/eureka/vips/app-alias").at("applications").at("application");
  EXPECT_EQ(apps.as_array().size(), 1u);
  EXPECT_TRUE(
      get_json("/eureka/vips/none").at("applications").at("application").as_array().empty());
}

TEST_F(Handlers, InstanceIdsArePercentDecoded) {
  ASSERT_EQ(status(http::verb::post, "/eureka/apps/APP", body_for("APP", "host:app 1")), 204);
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/APP/host:app%201"), 200);
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/APP/bad%zz"), 400);
}

TEST_F(Handlers, AcceptNegotiation) {
  status(http::verb::post, "/eureka/apps/APP", body_for("APP", "a"));
  EXPECT_EQ(call(http::verb::get, "/eureka/apps", {}, {{"Accept", "application/xml"}})
                .response.result_int(),
            406);
  EXPECT_EQ(call(http::verb::get, "/eureka/apps", {}, {{"Accept", "application/json"}})
                .response.result_int(),
            200);
  EXPECT_EQ(call(http::verb::get, "/eureka/apps", {}, {{"Accept", "*/*"}}).response.result_int(),
            200);
  auto r = call(http::verb::get, "/eureka/apps", {},
                {{"Accept", "application/xml, application/json;q=0.5"}});
  EXPECT_EQ(r.response.result_int(), 200);
  EXPECT_EQ(r.response[http::field::content_type], "application/json");
}

TEST_F(Handlers, ClientCallsAreReplicatedReplicasAreNot) {
  status(http::verb::post, "/eureka/apps/APP", body_for("APP", "a"));
  status(http::verb::put, "/eureka/apps/APP/a");
  status(http::verb::put, "/eureka/apps/APP/a/status?value=OUT_OF_SERVICE");
  status(http::verb::delete_, "/eureka/apps/APP/a/status");
  status(http::verb::delete_, "/eureka/apps/APP/a");
  using K = ReplicationTask::Kind;
  std::vector<K> kinds;
  for (const auto& t : sink_.tasks) kinds.push_back(t.kind);
  EXPECT_EQ(kinds, (std::vector<K>{K::kRegister, K::kHeartbeat, K::kStatus, K::kDeleteStatus,
                                   K::kCancel}));
  EXPECT_EQ(sink_.tasks[1].status, "UP");
  EXPECT_EQ(sink_.tasks[2].status, "OUT_OF_SERVICE");
  sink_.tasks.clear();
  std::vector<std::pair<std::string, std::string>> replica = {{kReplicationHeaderName, "true"}};
  EXPECT_EQ(call(http::verb::post, "/eureka/apps/APP", body_for("APP", "b"), replica)
                .response.result_int(),
            204);
  EXPECT_EQ(call(http::verb::put, "/eureka/apps/APP/b", {}, replica).response.result_int(), 200);
  EXPECT_EQ(call(http::verb::delete_, "/eureka/apps/APP/b", {}, replica).response.result_int(),
            200);
  EXPECT_TRUE(sink_.tasks.empty());
  // Failed calls are not replicated either.
  status(http::verb::put, "/eureka/apps/APP/ghost");
  EXPECT_TRUE(sink_.tasks.empty());
}

TEST_F(Handlers, HealthMetricsDashboard) {
  EXPECT_EQ(get_json("/health"), json::parse(R"({"status":"UP"})"));
  status(http::verb::post, "/eureka/apps/STATUS-NODE", body_for("STATUS-NODE", "n<1>"));
  describe_metrics(metrics_, registry_);
  auto m = call(http::verb::get, "/metrics");
  EXPECT_EQ(m.response.result_int(), 200);
  EXPECT_NE(m.response.body().find("registry_registrations_total 1"), std::string::npos);
  EXPECT_NE(m.response.body().find("registry_instances 1"), std::string::npos);
  auto d = call(http::verb::get, "/");
  EXPECT_EQ(d.response.result_int(), 200);
  EXPECT_NE(d.response[http::field::content_type].find("text/html"), std::string::npos);
  EXPECT_NE(d.response.body().find("n&lt;1&gt;"), std::string::npos);
  EXPECT_NE(d.response.body().find("STATUS-NODE"), std::string::npos);
}

TEST_F(Handlers, UnknownPathsAndMethods) {
  EXPECT_EQ(status(http::verb::get, "/nothing"), 404);
  EXPECT_EQ(status(http::verb::get, "/eurekax/apps"), 404);
  EXPECT_EQ(status(http::verb::get, "/eureka/apps/A/b/c/d"), 404);
  auto r = call(http::verb::delete_, "/eureka/apps");
  EXPECT_EQ(r.response.result_int(), 405);
  EXPECT_EQ(r.response[http::field::allow], "GET");
  EXPECT_EQ(status(http::verb::post, "/health"), 405);
  EXPECT_EQ(status(http::verb::post, "/eureka/apps/A/b"), 405);
}
