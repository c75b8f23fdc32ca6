#include "common/eureka_client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "common/http_server.hpp"
#include "../eventually.hpp"

using namespace status::common;
namespace json = boost::json;

using status::test::eventually;

namespace {

struct Seen {
  std::string method, target, body, authorization;
};

// A stand-in registry: records every request; heartbeats answer `heartbeat_status`.
class FakeRegistry {
 public:
  FakeRegistry()
      : server_(
            ServerOptions{}, [this](Request&& req, ExchangePtr ex) { handle(req, ex); }, nullptr) {
    server_.start();
  }
  ~FakeRegistry() { server_.stop(); }
  BaseUrl url(const std::string& userinfo = "") const {
    return parse_base_url("http://" + userinfo + "127.0.0.1:" + std::to_string(server_.port()) +
                          "/eureka");
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t count(const std::string& method) {
    std::size_t n = 0;
    for (const auto& s : seen()) n += s.method == method;
    return n;
  }
  std::atomic<int> heartbeat_status{200};
  std::atomic<int> register_status{204};
  std::string app_body;  // answer of GET /eureka/apps/{APP}; empty → 404

 private:
  void handle(const Request& req, const ExchangePtr& ex) {
    Seen s{std::string(req.method_string()), std::string(req.target()), req.body(),
           std::string(req[http::field::authorization])};
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(s);
    }
    Response res{http::status::ok, 11};
    if (s.method == "POST") res.result(static_cast<http::status>(register_status.load()));
    if (s.method == "PUT") res.result(static_cast<http::status>(heartbeat_status.load()));
    if (s.method == "GET") {
      if (app_body.empty()) {
        res.result(http::status::not_found);
      } else {
        res.body() = app_body;
      }
    }
    res.prepare_payload();
    ex->respond(std::move(res));
  }
  std::mutex mutex_;
  std::vector<Seen> seen_;
  HttpServer server_;
};

InstanceInfo node_info(unsigned short port = 8081) {
  InstanceInfo info;
  info.instance_id = "n1";
  info.port = port;
  info.metadata["nodeId"] = "n1";
  return info;
}

}  // namespace

TEST(EurekaClient, RegistrationBodyLooksLikeTheJavaClients) {
  json::value doc = json::parse(EurekaClient::registration_body(node_info(), "STARTING", 1234));
  const auto& in = doc.at("instance");
  EXPECT_EQ(in.at("instanceId"), "n1");
  EXPECT_EQ(in.at("hostName"), "127.0.0.1");
  EXPECT_EQ(in.at("app"), "STATUS-NODE");
  EXPECT_EQ(in.at("ipAddr"), "127.0.0.1");
  EXPECT_EQ(in.at("status"), "STARTING");
  EXPECT_EQ(in.at("port"), json::parse(R"({"$":8081,"@enabled":"true"})"));
  EXPECT_EQ(in.at("securePort").at("@enabled"), "false");
  EXPECT_EQ(
      in.at("dataCenterInfo"),
      json::parse(
          R"({"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"})"));
  EXPECT_EQ(in.at("leaseInfo").at("renewalIntervalInSecs"), 1);
  EXPECT_EQ(in.at("leaseInfo").at("durationInSecs"), 3);
  EXPECT_EQ(in.at("metadata").at("nodeId"), "n1");
  EXPECT_EQ(in.at("homePageUrl"), "http://127.0.0.1:8081/");
  EXPECT_EQ(in.at("healthCheckUrl"), "http://127.0.0.1:8081/health");
  EXPECT_EQ(in.at("vipAddress"), "status-node");
  EXPECT_EQ(in.at("lastDirtyTimestamp"), "1234");
}

TEST(EurekaClient, SecureInstanceRegistersItsSecurePortAndHttpsUrls) {
  auto info = node_info();
  info.secure = true;
  json::value doc = json::parse(EurekaClient::registration_body(info, "UP", 1));
  const auto& in = doc.at("instance");
  EXPECT_EQ(in.at("securePort"), json::parse(R"({"$":8081,"@enabled":"true"})"));
  EXPECT_EQ(in.at("port").at("@enabled"), "false");
  EXPECT_EQ(in.at("homePageUrl"), "https://127.0.0.1:8081/");
  EXPECT_EQ(in.at("healthCheckUrl"), "https://127.0.0.1:8081/health");
  EXPECT_EQ(in.at("secureHealthCheckUrl"), "https://127.0.0.1:8081/health");
  // Read back, it is called over https on that port.
  auto list = parse_discovered(json::serialize(json::object{
      {"application", json::object{{"name", "STATUS-NODE"}, {"instance", json::array{in}}}}}));
  ASSERT_TRUE(list && list->size() == 1);
  EXPECT_EQ(list->at(0).url, "https://127.0.0.1:8081");
  json::value plain = json::parse(EurekaClient::registration_body(node_info(), "UP", 1));
  EXPECT_FALSE(plain.at("instance").as_object().contains("secureHealthCheckUrl"));
}

TEST(EurekaClient, RegistersHeartbeatsReregistersOn404AndDeregisters) {
  FakeRegistry registry;
  EurekaClient client({registry.url()}, node_info());
  client.start("STARTING");
  ASSERT_TRUE(eventually([&] { return client.registered(); }));
  auto first = registry.seen().front();
  EXPECT_EQ(first.method, "POST");
  EXPECT_EQ(first.target, "/eureka/apps/STATUS-NODE");
  EXPECT_EQ(json::parse(first.body).at("instance").at("status"), "STARTING");

  // Heartbeat after one renewal interval, with the Java client's query.
  ASSERT_TRUE(eventually([&] { return registry.count("PUT") >= 1; }));
  auto beats = registry.seen();
  EXPECT_EQ(beats.back().target.rfind(
                "/eureka/apps/STATUS-NODE/n1?status=STARTING&lastDirtyTimestamp=", 0),
            0u)
      << beats.back().target;

  // Going UP re-registers at once, not at the next heartbeat.
  auto before = std::chrono::steady_clock::now();
  client.set_status("UP");
  ASSERT_TRUE(eventually([&] { return registry.count("POST") >= 2; }));
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(900));
  EXPECT_EQ(json::parse(registry.seen().back().body).at("instance").at("status"), "UP");

  // The registry forgot us: the heartbeat's 404 brings a registration.
  registry.heartbeat_status = 404;
  auto posts = registry.count("POST");
  ASSERT_TRUE(eventually([&] { return registry.count("POST") > posts; }));
  registry.heartbeat_status = 200;

  client.stop();
  auto last = registry.seen().back();
  EXPECT_EQ(last.method, "DELETE");
  EXPECT_EQ(last.target, "/eureka/apps/STATUS-NODE/n1");
  client.stop();  // idempotent
  EXPECT_EQ(registry.count("DELETE"), 1u);
}

TEST(EurekaClient, FailsOverToTheNextRegistry) {
  FakeRegistry registry;
  auto dead = parse_base_url("http://127.0.0.1:1/eureka");
  EurekaClient client({dead, registry.url()}, node_info());
  client.start("UP");
  ASSERT_TRUE(eventually([&] { return client.registered(); }));
  EXPECT_EQ(registry.count("POST"), 1u);
  client.stop();
  EXPECT_EQ(registry.count("DELETE"), 1u);
}

TEST(EurekaClient, HeartbeatsMoveToAPeerWhenItsRegistryDies) {
  auto first = std::make_unique<FakeRegistry>();
  FakeRegistry second;  // knows the instance already, as a replicating peer would
  EurekaClient client({first->url(), second.url()}, node_info());
  client.start("UP");
  ASSERT_TRUE(eventually([&] { return client.registered(); }));
  EXPECT_EQ(first->count("POST"), 1u);
  first.reset();
  ASSERT_TRUE(eventually([&] { return second.count("PUT") >= 1; }));
  EXPECT_EQ(second.count("POST"), 0u) << "the peer answered the heartbeat: no registration needed";
  client.stop();
  EXPECT_EQ(second.count("DELETE"), 1u) << "deregistered where its heartbeats went";
}

TEST(EurekaClient, StopWithoutStartIsHarmless) {
  EurekaClient client({parse_base_url("http://127.0.0.1:1/eureka")}, node_info());
  client.stop();
  EXPECT_FALSE(client.registered());
}

TEST(EurekaDiscovery, ParsesEurekaJsonLeniently) {
  auto list = parse_discovered(R"({"application":{"name":"STATUS-NODE","instance":[
    {"instanceId":"n1","hostName":"127.0.0.1","app":"STATUS-NODE","status":"UP",
     "port":{"$":8081,"@enabled":"true"},"metadata":{"@class":"java.util.Collections$EmptyMap"}},
    {"hostName":"h2","app":"STATUS-NODE","status":"OUT_OF_SERVICE","port":"8082","metadata":{"k":"v"}}]}})");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].url, "http://127.0.0.1:8081");
  EXPECT_TRUE((*list)[0].metadata.empty());
  EXPECT_EQ((*list)[1].instance_id, "h2");
  EXPECT_EQ((*list)[1].status, "OUT_OF_SERVICE");
  EXPECT_EQ((*list)[1].metadata.at("k"), "v");
  // A lone instance object, the whole-registry shape, and garbage.
  auto lone = parse_discovered(
      R"({"applications":{"application":[{"name":"X","instance":{"hostName":"h","port":{"$":"81","@enabled":true}}}]}})");
  ASSERT_TRUE(lone);
  EXPECT_EQ(lone->at(0).url, "http://h:81");
  // Both ports given, the secure one enabled (as Eureka's Java clients register with TLS).
  auto secure = parse_discovered(R"({"application":{"instance":{"hostName":"h",
    "port":{"$":80,"@enabled":"false"},"securePort":{"$":8443,"@enabled":"true"}}}})");
  ASSERT_TRUE(secure);
  EXPECT_EQ(secure->at(0).url, "https://h:8443");
  EXPECT_FALSE(parse_discovered("nope"));
  EXPECT_FALSE(parse_discovered("{}"));
}

TEST(EurekaDiscovery, FetchTriesEachRegistry) {
  FakeRegistry registry;
  auto dead = parse_base_url("http://127.0.0.1:1/eureka");
  auto none =
      fetch_instances({dead, registry.url()}, "status-node", std::chrono::milliseconds(500));
  ASSERT_TRUE(none) << "an unknown application is an empty list, not a failure";
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(registry.seen().back().target, "/eureka/apps/STATUS-NODE");
  registry.app_body =
      R"({"application":{"name":"STATUS-NODE","instance":[{"instanceId":"n1","hostName":"127.0.0.1","status":"UP","port":{"$":8081,"@enabled":"true"}}]}})";
  auto some =
      fetch_instances({dead, registry.url()}, "STATUS-NODE", std::chrono::milliseconds(500));
  ASSERT_TRUE(some);
  ASSERT_EQ(some->size(), 1u);
  EXPECT_EQ(some->at(0).instance_id, "n1");
  EXPECT_FALSE(fetch_instances({dead}, "STATUS-NODE", std::chrono::milliseconds(500)));
}

TEST(EurekaJson, LenientScalars) {
  auto v = json::parse(R"({"a":"12","b":12,"c":"x","t":"true","f":false,"p":{"$":"80"}})");
  const auto& o = v.as_object();
  EXPECT_EQ(eureka_json::integer(eureka_json::member(o, "a")), 12);
  EXPECT_EQ(eureka_json::integer(eureka_json::member(o, "b")), 12);
  EXPECT_FALSE(eureka_json::integer(eureka_json::member(o, "c")));
  // Out of int64's range: no number (the cast would be undefined behaviour).
  auto big = json::parse(R"({"d":1e300,"e":-1e300,"u":18446744073709551615,"ok":3.0})");
  EXPECT_FALSE(eureka_json::integer(eureka_json::member(big.as_object(), "d")));
  EXPECT_FALSE(eureka_json::integer(eureka_json::member(big.as_object(), "e")));
  EXPECT_FALSE(eureka_json::integer(eureka_json::member(big.as_object(), "u")));
  EXPECT_EQ(eureka_json::integer(eureka_json::member(big.as_object(), "ok")), 3);
  EXPECT_EQ(eureka_json::flag(eureka_json::member(o, "t")), true);
  EXPECT_EQ(eureka_json::flag(eureka_json::member(o, "f")), false);
  EXPECT_EQ(eureka_json::port(eureka_json::member(o, "p"))->number, 80);
  EXPECT_FALSE(eureka_json::port(eureka_json::member(o, "missing")));
  // Out of range before any narrowing: 4294967376 = 2^32 + 80 is not port 80 (review F25).
  auto wide = json::parse(R"({"p":{"$":4294967376},"q":4294967376,"r":-1,"s":65536,"t":65535})");
  const auto& w = wide.as_object();
  EXPECT_FALSE(eureka_json::port(eureka_json::member(w, "p")));
  EXPECT_FALSE(eureka_json::port(eureka_json::member(w, "q")));
  EXPECT_FALSE(eureka_json::port(eureka_json::member(w, "r")));
  EXPECT_FALSE(eureka_json::port(eureka_json::member(w, "s")));
  EXPECT_EQ(eureka_json::port(eureka_json::member(w, "t"))->number, 65535);
  EXPECT_EQ(encode_path_segment("a b/c:d"), "a%20b%2Fc:d");
}

TEST(EurekaClient, SendsTheCredentialsOfItsUrlOnEveryCall) {
  FakeRegistry registry;
  registry.app_body = R"({"application":{"name":"STATUS-NODE","instance":[]}})";
  auto url = registry.url("node:p%40ss@");
  EurekaClient client({url}, node_info());
  client.start("UP");
  ASSERT_TRUE(eventually([&] { return client.registered() && registry.count("PUT") >= 1; }));
  ASSERT_TRUE(fetch_instances({url}, "STATUS-NODE", std::chrono::milliseconds(2000)));
  client.stop();
  auto seen = registry.seen();
  std::set<std::string> methods;
  for (const auto& s : seen) {
    methods.insert(s.method);
    EXPECT_EQ(s.authorization, "Basic bm9kZTpwQHNz") << s.method << " " << s.target;  // node:p@ss
  }
  EXPECT_EQ(methods, (std::set<std::string>{"POST", "PUT", "GET", "DELETE"}));
  // Without userinfo, no Authorization at all.
  FakeRegistry open;
  ASSERT_TRUE(fetch_instances({open.url()}, "STATUS-NODE", std::chrono::milliseconds(2000)));
  EXPECT_EQ(open.seen().at(0).authorization, "");
}

TEST(EurekaClient, RefusedRegistrationIsRetriedNotTakenForSuccess) {
  FakeRegistry registry;
  registry.register_status = 409;  // the id is registered under other credentials
  EurekaClient client({registry.url("node:pw@")}, node_info());
  client.start("UP");
  ASSERT_TRUE(eventually([&] { return registry.count("POST") >= 2; }));
  EXPECT_FALSE(client.registered());
  registry.register_status = 204;
  ASSERT_TRUE(eventually([&] { return client.registered(); }));
  client.stop();
}

// The host registered for a server: its bind address, or with a wildcard bind the source
// address of this host's route to the registries (the host-level test checks it between
// network namespaces, where that is a bridge address).
TEST(ReachableHost, BindAddressUnlessWildcardThenTheRouteSource) {
  auto url = [](const std::string& u) { return parse_base_url(u); };
  EXPECT_EQ(reachable_host("10.1.2.3", {}), "10.1.2.3");
  EXPECT_EQ(reachable_host("0.0.0.0", {url("http://127.0.0.1:8761/eureka")}), "127.0.0.1");
  EXPECT_EQ(reachable_host("0.0.0.0", {url("http://no-such-host.invalid:8761"),
                                       url("http://127.0.0.1:8761")}),
            "127.0.0.1");
  EXPECT_EQ(reachable_host("0.0.0.0", {}), std::nullopt);
  EXPECT_EQ(reachable_host("::", {url("http://no-such-host.invalid:8761")}), std::nullopt);
}
