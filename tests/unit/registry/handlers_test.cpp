#include "registry/handlers.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "common/basic_auth.hpp"
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

// Names end up in logs and on operators' terminals (review F21): no control characters.
TEST_F(Handlers, ControlCharactersInNamesAre400) {
  EXPECT_EQ(status(http::verb::post, "/eureka/apps/STATUS-NODE", body_for("STATUS-NODE", "n1\nevent=forged")),
            400);
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/STATUS-NODE/n1%0Aevent=forged"), 400);
  EXPECT_EQ(status(http::verb::delete_, "/eureka/apps/STATUS-NODE/x%1B%5B2J"), 400);
  EXPECT_EQ(registry_.size(), 0u);
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

// --- with --credentials-file ------------------------------------------------------------------

namespace {

using status::common::basic_authorization;
using Headers = std::vector<std::pair<std::string, std::string>>;

Headers as(const std::string& user, const std::string& password) {
  return {{"Authorization", basic_authorization(user, password)}};
}
const Headers kNode = as("node", "node-pw");
const Headers kOther = as("other", "other-pw");
const Headers kPeer = as("peer", "peer-pw");
const Headers kWrong = as("node", "other-pw");

Headers replica(Headers h) {
  h.emplace_back(kReplicationHeaderName, "true");
  return h;
}

class HandlersWithCredentials : public Handlers {
 protected:
  HandlersWithCredentials() { deps_.access = &access_; }
  void protect_reads() { access_ = Access(credentials(), {"peer"}, true); }
  static Credentials credentials() {
    return Credentials::parse("node:node-pw\nother:other-pw\npeer:peer-pw\n", "test");
  }
  int status_as(const Headers& who, http::verb method, const std::string& target,
                const std::string& body = {}) {
    return call(method, target, body, who).response.result_int();
  }
  Access access_{credentials(), {"peer"}, false};
};

struct Write {
  http::verb method;
  std::string target;
  bool body;
};
const std::vector<Write> kWrites = {
    {http::verb::post, "/eureka/apps/APP", true},
    {http::verb::put, "/eureka/apps/APP/a", false},
    {http::verb::put, "/eureka/apps/APP/a/status?value=OUT_OF_SERVICE", false},
    {http::verb::delete_, "/eureka/apps/APP/a/status", false},
    {http::verb::put, "/eureka/apps/APP/a/metadata?k=v", false},
    {http::verb::delete_, "/eureka/apps/APP/a", false},
};

}  // namespace

TEST_F(HandlersWithCredentials, EveryWriteNeedsValidCredentials) {
  ASSERT_EQ(status_as(kNode, http::verb::post, "/eureka/apps/APP", body_for("APP", "a")), 204);
  auto before = registry_.snapshot().version;
  for (const auto& w : kWrites) {
    for (const auto& who : {Headers{}, kWrong, as("nobody", "node-pw"),
                            Headers{{"Authorization", "Bearer node-pw"}}}) {
      for (auto prefix : {"/eureka", "/eureka/v2"}) {
        std::string target = prefix + w.target.substr(std::string("/eureka").size());
        auto r = call(w.method, target, w.body ? body_for("APP", "a") : "", who);
        EXPECT_EQ(r.response.result_int(), 401) << target;
        EXPECT_EQ(r.response[http::field::www_authenticate], "Basic realm=\"eureka\"");
        EXPECT_EQ(r.response[http::field::content_type], "application/problem+json");
      }
    }
  }
  EXPECT_EQ(registry_.snapshot().version, before) << "nothing changed";
  EXPECT_TRUE(registry_.find("APP", "a"));
  EXPECT_EQ(metrics_.value("registry_auth_failures_total"), 6 * 4 * 2);
  // With the right ones, each works.
  std::vector<int> answers;
  for (const auto& w : kWrites)
    answers.push_back(status_as(kNode, w.method, w.target, w.body ? body_for("APP", "a") : ""));
  EXPECT_EQ(answers, (std::vector<int>{204, 200, 200, 200, 200, 200}));
  EXPECT_FALSE(registry_.find("APP", "a"));
}

TEST_F(HandlersWithCredentials, ReadsAreOpenUnlessProtected) {
  status_as(kNode, http::verb::post, "/eureka/apps/APP", body_for("APP", "a"));
  for (auto target :
       {"/eureka/apps", "/eureka/apps/delta", "/eureka/apps/APP", "/eureka/apps/APP/a",
        "/eureka/v2/apps", "/eureka/instances/a", "/", "/metrics", "/health"})
    EXPECT_EQ(status(http::verb::get, target), 200) << target;
  protect_reads();
  for (auto target :
       {"/eureka/apps", "/eureka/apps/delta", "/eureka/apps/APP", "/eureka/apps/APP/a",
        "/eureka/v2/apps", "/eureka/instances/a", "/eureka/vips/x", "/", "/metrics"}) {
    auto r = call(http::verb::get, target);
    EXPECT_EQ(r.response.result_int(), 401) << target;
    EXPECT_EQ(r.response[http::field::www_authenticate], "Basic realm=\"eureka\"");
    EXPECT_EQ(status_as(kWrong, http::verb::get, target), 401) << target;
    EXPECT_EQ(status_as(kOther, http::verb::get, target), 200) << target;
  }
  EXPECT_EQ(status(http::verb::get, "/health"), 200) << "health checks need no credentials";
  EXPECT_EQ(call(http::verb::get, "/").response.body().find("APP"), std::string::npos);
}

TEST_F(HandlersWithCredentials, NoTakeoverOfAnotherUsersInstance) {
  ASSERT_EQ(status_as(kNode, http::verb::post, "/eureka/apps/APP", body_for("APP", "a")), 204);
  auto hijack = body_for("APP", "a", "10.6.6.6");
  auto r = call(http::verb::post, "/eureka/apps/APP", hijack, kOther);
  EXPECT_EQ(r.response.result_int(), 409);
  EXPECT_NE(detail(r).find("registered under other credentials"), std::string::npos);
  for (const auto& w : kWrites)
    EXPECT_EQ(status_as(kOther, w.method, w.target, w.body ? hijack : ""), 409) << w.target;
  EXPECT_EQ(registry_.find("APP", "a")->host_name, "127.0.0.1");
  EXPECT_EQ(registry_.find("APP", "a")->effective_status(), Status::kUp);
  EXPECT_GE(metrics_.value("registry_conflicts_total"), 6);
  // The same credentials may register again, and change it.
  EXPECT_EQ(status_as(kNode, http::verb::post, "/eureka/apps/APP", hijack), 204);
  EXPECT_EQ(registry_.find("APP", "a")->host_name, "10.6.6.6");
  EXPECT_EQ(status_as(kOther, http::verb::post, "/eureka/apps/APP", body_for("APP", "b")), 204)
      << "another id is free";
  // The owner travels in the body: a client cannot claim another's ownership with it.
  std::string forged = body_for("APP", "c");
  forged.insert(forged.rfind("}}"), R"(,"owner":"node")");
  ASSERT_EQ(status_as(kOther, http::verb::post, "/eureka/apps/APP", forged), 204);
  EXPECT_EQ(registry_.find("APP", "c")->owner, "other");
}

TEST_F(HandlersWithCredentials, ReplicationHeaderOnlyFromPeers) {
  ASSERT_EQ(status_as(kNode, http::verb::post, "/eureka/apps/APP", body_for("APP", "a")), 204);
  sink_.tasks.clear();
  // A client that sends the header (to keep its change from the other registries, or to act on
  // any instance as a peer does) is refused.
  auto r =
      call(http::verb::put, "/eureka/apps/APP/a/status?value=OUT_OF_SERVICE", {}, replica(kOther));
  EXPECT_EQ(r.response.result_int(), 403);
  EXPECT_EQ(status_as(replica(kNode), http::verb::put, "/eureka/apps/APP/a"), 403);
  EXPECT_EQ(status_as(replica({}), http::verb::put, "/eureka/apps/APP/a"), 401);
  EXPECT_EQ(status_as(replica({}), http::verb::get, "/eureka/apps"), 403) << "reads too";
  // A peer may, on any instance; its registration keeps the owner it sends.
  EXPECT_EQ(status_as(replica(kPeer), http::verb::put, "/eureka/apps/APP/a"), 200);
  std::string from_peer = body_for("APP", "b");
  from_peer.insert(from_peer.rfind("}}"), R"(,"owner":"node")");
  EXPECT_EQ(status_as(replica(kPeer), http::verb::post, "/eureka/apps/APP", from_peer), 204);
  EXPECT_EQ(registry_.find("APP", "b")->owner, "node");
  EXPECT_EQ(status_as(kNode, http::verb::put, "/eureka/apps/APP/b"), 200);
  EXPECT_EQ(status_as(kOther, http::verb::put, "/eureka/apps/APP/b"), 409);
  EXPECT_TRUE(sink_.tasks.size() == 1 && sink_.tasks[0].kind == ReplicationTask::Kind::kHeartbeat)
      << "only the node's own heartbeat is replicated";
  // An operator with the peers' credentials (no replication header) may override any instance,
  // and that change is replicated like a client's.
  EXPECT_EQ(status_as(kPeer, http::verb::put, "/eureka/apps/APP/a/status?value=OUT_OF_SERVICE"),
            200);
  EXPECT_EQ(registry_.find("APP", "a")->effective_status(), Status::kOutOfService);
  EXPECT_EQ(sink_.tasks.back().kind, ReplicationTask::Kind::kStatus);
}

TEST_F(HandlersWithCredentials, OwnersAreShownToPeersOnly) {
  status_as(kNode, http::verb::post, "/eureka/apps/APP", body_for("APP", "a"));
  auto owner_of = [&](const Headers& who) {
    auto r = call(http::verb::get, "/eureka/apps", {}, who);
    auto in = json::parse(r.response.body())
                  .at("applications")
                  .at("application")
                  .at(0)
                  .at("instance")
                  .at(0)
                  .as_object();
    return in.contains("owner") ? std::string(in.at("owner").as_string()) : "";
  };
  EXPECT_EQ(owner_of(replica(kPeer)), "node");
  EXPECT_EQ(owner_of(kPeer), "node");
  EXPECT_EQ(owner_of(kNode), "");
  EXPECT_EQ(status_as(replica(kNode), http::verb::get, "/eureka/apps"), 403);
  EXPECT_EQ(owner_of({}), "");
}

TEST_F(Handlers, WithoutCredentialsEverythingIsOpenAndOwnersAreIgnored) {
  std::string body = body_for("APP", "a");
  body.insert(body.rfind("}}"), R"(,"owner":"node")");
  ASSERT_EQ(status(http::verb::post, "/eureka/apps/APP", body), 204);
  EXPECT_EQ(registry_.find("APP", "a")->owner, "");
  EXPECT_EQ(status(http::verb::put, "/eureka/apps/APP/a"), 200);
  EXPECT_EQ(call(http::verb::put, "/eureka/apps/APP/a", {}, kOther).response.result_int(), 200)
      << "credentials mean nothing to an open registry";
}

// --- bounds (F7) and the dashboard (F20) ---------------------------------------------------------

TEST_F(Handlers, MetadataAndInstanceBoundsAre413) {
  ASSERT_EQ(status(http::verb::post, "/eureka/apps/APP", body_for("APP", "a")), 204);
  std::string chunk(2000, 'A');
  int accepted = 0, refused = 0;
  for (int i = 0; i < 100; ++i) {
    auto r =
        call(http::verb::put, "/eureka/apps/APP/a/metadata?k" + std::to_string(i) + "=" + chunk);
    if (r.response.result_int() == 200) ++accepted;
    if (r.response.result_int() == 413) {
      ++refused;
      EXPECT_NE(detail(r).find("at most 32 metadata entries"), std::string::npos);
    }
  }
  EXPECT_EQ(accepted, 8);
  EXPECT_EQ(refused, 92);
  EXPECT_LE(get_json("/eureka/apps/APP/a").at("instance").at("metadata").as_object().size(), 8u);
  std::string many = "/eureka/apps/APP/a/metadata?";
  for (int i = 0; i < 40; ++i) many += "m" + std::to_string(i) + "=1&";
  EXPECT_EQ(status(http::verb::put, many), 413);
  // A registration that is too large at once.
  std::string big = body_for("APP", "b");
  big.insert(big.rfind("}}"), R"(,"homePageUrl":")" + std::string(3000, 'x') + "\"");
  auto r = call(http::verb::post, "/eureka/apps/APP", big);
  EXPECT_EQ(r.response.result_int(), 413);
  EXPECT_EQ(detail(r), "homePageUrl is 3000 bytes; at most 2048 are allowed");
  EXPECT_FALSE(registry_.find("APP", "b"));
}

TEST(HandlersBounds, FullRegistryIs507) {
  FakeClock clock;
  RegistryOptions o;
  o.max_instances = 2;
  Registry registry(clock.clock(), o);
  HandlerDeps deps{registry};
  auto post = [&](const std::string& id) {
    Request req{http::verb::post, "/eureka/apps/APP", 11};
    req.set(http::field::content_type, "application/json");
    req.body() = body_for("APP", id);
    req.prepare_payload();
    return handle_request(req, deps).response;
  };
  EXPECT_EQ(post("a").result_int(), 204);
  EXPECT_EQ(post("b").result_int(), 204);
  auto r = post("c");
  EXPECT_EQ(r.result_int(), 507);
  EXPECT_NE(r.body().find("the registry is full: at most 2 instances"), std::string::npos);
  EXPECT_EQ(post("a").result_int(), 204) << "re-registration still works";
}

TEST_F(Handlers, DashboardLinksOnlyHttpUrlsAndEscapesEverything) {
  auto with_home = [&](const std::string& id, const std::string& url) {
    std::string b = body_for("APP", id);
    b.insert(b.rfind("}}"), R"(,"homePageUrl":")" + url + "\"");
    ASSERT_EQ(status(http::verb::post, "/eureka/apps/APP", b), 204) << url;
  };
  with_home(
      "js",
      R"(javascript:fetch(\"/eureka/apps/STATUS-NODE/n1/status?value=OUT_OF_SERVICE\",{method:\"PUT\"}))");
  with_home("js2", " JaVaScRiPt:alert(1)");
  with_home("data", "data:text/html,<script>alert(1)</script>");
  with_home("quote", R"(http://h/\"onmouseover='alert(1)')");
  with_home("ok", "https://example.com:8443/x?a=1&b=2");
  auto d = call(http::verb::get, "/");
  const std::string& html = d.response.body();
  EXPECT_EQ(html.find("href=\"javascript"), std::string::npos);
  EXPECT_EQ(html.find("href=\" JaVaScRiPt"), std::string::npos);
  EXPECT_EQ(html.find("href=\"data:"), std::string::npos);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("javascript:fetch(&quot;/eureka"), std::string::npos) << "shown as text";
  EXPECT_EQ(html.find("'alert"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"https://example.com:8443/x?a=1&amp;b=2\""), std::string::npos);
  auto csp = std::string(d.response["Content-Security-Policy"]);
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("script-src"), std::string::npos);
  EXPECT_EQ(d.response["X-Frame-Options"], "DENY");
}
