// Two registries in one process, on ports the OS chooses, replicating to each other.

#include "registry/registry_service.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "common/http_client.hpp"
#include "../eventually.hpp"

using namespace status::registry;
namespace common = status::common;
namespace http = common::http;

using status::test::eventually;

namespace {

std::string body_for(const std::string& id) {
  return R"({"instance":{"instanceId":")" + id + R"(","hostName":"127.0.0.1","app":"STATUS-NODE",
    "ipAddr":"127.0.0.1","status":"UP","port":{"$":8081,"@enabled":"true"},
    "dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
    "leaseInfo":{"renewalIntervalInSecs":1,"durationInSecs":3}}})";
}

// Polls `pred` every 10 ms for at most `limit`.
ServiceOptions options(std::vector<common::BaseUrl> peers = {}) {
  ServiceOptions o;
  o.server.port = 0;
  o.server.threads = 1;
  o.peers = std::move(peers);
  o.peer_timeout = std::chrono::milliseconds(500);
  return o;
}

common::BaseUrl url_of(const RegistryService& s) {
  return common::parse_base_url("http://127.0.0.1:" + std::to_string(s.port()) + "/eureka");
}

int call(http::verb verb, const common::BaseUrl& base, const std::string& target,
         const std::string& body = {}) {
  auto r = common::http_request(verb, base, target, body, {}, std::chrono::milliseconds(2000));
  return r.ok() ? r.res.result_int() : -1;
}

}  // namespace

TEST(RegistryService, ReplicatesToPeerAndRepairsUnknownHeartbeats) {
  common::Metrics mb, ma;
  RegistryService b(options(), mb);
  b.start();
  RegistryService a(options({url_of(b)}), ma);
  a.start();
  auto A = url_of(a);

  ASSERT_EQ(call(http::verb::post, A, "/apps/STATUS-NODE", body_for("n1")), 204);
  EXPECT_TRUE(eventually([&] { return b.registry().find("STATUS-NODE", "n1").has_value(); }));

  ASSERT_EQ(call(http::verb::put, A, "/apps/STATUS-NODE/n1/status?value=OUT_OF_SERVICE"), 200);
  EXPECT_TRUE(eventually([&] {
    auto in = b.registry().find("STATUS-NODE", "n1");
    return in && in->effective_status() == Status::kOutOfService;
  }));

  // B forgets the instance (say it restarted): A's next replicated heartbeat gets 404 and A
  // sends the registration instead, override included.
  b.registry().cancel("STATUS-NODE", "n1");
  ASSERT_EQ(call(http::verb::put, A, "/apps/STATUS-NODE/n1"), 200);
  EXPECT_TRUE(eventually([&] {
    auto in = b.registry().find("STATUS-NODE", "n1");
    return in && in->effective_status() == Status::kOutOfService && in->status == Status::kUp;
  }));

  ASSERT_EQ(call(http::verb::delete_, A, "/apps/STATUS-NODE/n1"), 200);
  EXPECT_TRUE(eventually([&] { return !b.registry().find("STATUS-NODE", "n1"); }));
  // Replicated calls were not sent back: A never heard from B.
  EXPECT_EQ(ma.value("registry_registrations_total"), 1);
  a.stop();
  b.stop();
}

TEST(RegistryService, CopiesTheRegistryFromAPeerAtStart) {
  common::Metrics ma, mb;
  RegistryService a(options(), ma);
  a.start();
  ASSERT_EQ(call(http::verb::post, url_of(a), "/apps/STATUS-NODE", body_for("n1")), 204);
  ASSERT_EQ(call(http::verb::post, url_of(a), "/apps/STATUS-NODE", body_for("n2")), 204);
  // The first peer is down: the next one is asked.
  auto dead = common::parse_base_url("http://127.0.0.1:1/eureka");
  RegistryService b(options({dead, url_of(a)}), mb);
  b.start();
  EXPECT_EQ(b.registry().size(), 2u);
  b.stop();
  a.stop();
}

TEST(RegistryService, EvictsWithinOneSecondOfExpiry) {
  common::Metrics m;
  std::atomic<std::int64_t> now{1'000'000};
  auto o = options();
  o.eviction_interval = std::chrono::milliseconds(20);
  RegistryService s(o, m, [&now] { return now.load(); });
  s.start();
  ASSERT_EQ(call(http::verb::post, url_of(s), "/apps/STATUS-NODE", body_for("n1")), 204);
  now += 3000;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(s.registry().size(), 1u);
  now += 1;
  EXPECT_TRUE(
      eventually([&] { return s.registry().size() == 0; }, std::chrono::milliseconds(1000)));
  EXPECT_EQ(m.value("registry_evictions_total"), 1);
  s.stop();
}

namespace {

const char* kUsers = "node:node-pw\nother:other-pw\npeer:peer-pw\n";

ServiceOptions with_credentials(std::vector<common::BaseUrl> peers = {}) {
  auto o = options(std::move(peers));
  o.access = Access(Credentials::parse(kUsers, "test"), {"peer"}, false);
  return o;
}

common::BaseUrl url_as(const RegistryService& s, const std::string& userinfo) {
  return common::parse_base_url("http://" + userinfo + "@127.0.0.1:" + std::to_string(s.port()) +
                                "/eureka");
}

}  // namespace

TEST(RegistryService, PeersReplicateWithTheCredentialsOfTheirUrlAndKeepOwners) {
  common::Metrics mb, ma, mc, md;
  RegistryService b(with_credentials(), mb);
  b.start();
  RegistryService a(with_credentials({url_as(b, "peer:peer-pw")}), ma);
  a.start();
  auto A = url_as(a, "node:node-pw");
  ASSERT_EQ(call(http::verb::post, A, "/apps/STATUS-NODE", body_for("n1")), 204);
  ASSERT_TRUE(eventually([&] { return b.registry().find("STATUS-NODE", "n1").has_value(); }));
  EXPECT_EQ(b.registry().find("STATUS-NODE", "n1")->owner, "node");
  // The node fails over to B: its own credentials still work there, nobody else's do.
  EXPECT_EQ(call(http::verb::put, url_as(b, "node:node-pw"), "/apps/STATUS-NODE/n1"), 200);
  EXPECT_EQ(call(http::verb::put, url_as(b, "other:other-pw"), "/apps/STATUS-NODE/n1"), 409);
  EXPECT_EQ(call(http::verb::put, url_of(b), "/apps/STATUS-NODE/n1"), 401);

  // A peer with the wrong password replicates nothing.
  RegistryService c(with_credentials({url_as(b, "peer:wrong")}), mc);
  c.start();
  ASSERT_EQ(call(http::verb::post, url_as(c, "node:node-pw"), "/apps/STATUS-NODE", body_for("n2")),
            204);
  ASSERT_TRUE(eventually([&] {
    return mc.value("registry_replication_total",
                    {{"peer", url_of(b).str()}, {"kind", "register"}, {"result", "401"}}) == 1;
  }));
  EXPECT_FALSE(b.registry().find("STATUS-NODE", "n2"));

  // A registry that starts copies the owners too, so the rule holds there at once.
  RegistryService d(with_credentials({url_as(b, "peer:peer-pw")}), md);
  d.start();
  ASSERT_TRUE(d.registry().find("STATUS-NODE", "n1"));
  EXPECT_EQ(d.registry().find("STATUS-NODE", "n1")->owner, "node");
  EXPECT_EQ(call(http::verb::put, url_as(d, "other:other-pw"), "/apps/STATUS-NODE/n1"), 409);
  d.stop();
  c.stop();
  a.stop();
  b.stop();
}
