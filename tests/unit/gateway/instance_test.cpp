#include "gateway/instance.hpp"

#include <gtest/gtest.h>

using namespace status::gateway;
using namespace std::chrono_literals;

TEST(Ejection, FailureEjectsAndBackoffDoublesUpToMax) {
  Ejection e(EjectionPolicy{100ms, 350ms});
  Clock::time_point t0{};
  EXPECT_FALSE(e.ejected());
  EXPECT_TRUE(e.on_failure(t0));
  EXPECT_FALSE(e.on_failure(t0 + 1ms));  // already ejected
  EXPECT_TRUE(e.ejected());
  EXPECT_FALSE(e.probe_due(t0 + 99ms));
  EXPECT_TRUE(e.probe_due(t0 + 100ms));
  e.on_probe_failure(t0 + 100ms);
  EXPECT_EQ(e.backoff(), 200ms);
  EXPECT_FALSE(e.probe_due(t0 + 299ms));
  EXPECT_TRUE(e.probe_due(t0 + 300ms));
  e.on_probe_failure(t0 + 300ms);
  EXPECT_EQ(e.backoff(), 350ms);  // capped
  e.on_probe_failure(t0 + 650ms);
  EXPECT_EQ(e.backoff(), 350ms);
  e.on_probe_success();
  EXPECT_FALSE(e.ejected());
  EXPECT_FALSE(e.probe_due(t0 + 10s));
  EXPECT_TRUE(e.on_failure(t0 + 10s));
  EXPECT_EQ(e.backoff(), 100ms);  // starts over after a re-admission
}

TEST(Instance, HealthFlagFollowsEjection) {
  Instance i(Discovered{"n1", "localhost", "127.0.0.1", 8081, "UP"}, EjectionPolicy{50ms, 1s});
  EXPECT_EQ(i.key(), "127.0.0.1:8081");
  EXPECT_EQ(i.url(), "http://localhost:8081");
  auto t0 = Clock::now();
  EXPECT_TRUE(i.healthy());
  EXPECT_TRUE(i.report_failure(t0));
  EXPECT_FALSE(i.healthy());
  EXPECT_FALSE(i.probe_due(t0));
  EXPECT_TRUE(i.probe_due(t0 + 50ms));
  i.report_probe(false, t0 + 50ms);
  EXPECT_FALSE(i.healthy());
  i.report_probe(true, t0 + 200ms);
  EXPECT_TRUE(i.healthy());
  EXPECT_EQ(i.failures.load(), 1);
}

TEST(Directory, MergesStaticAndRegistryAndKeepsState) {
  Directory d({Discovered{"127.0.0.1:9001", "127.0.0.1", "127.0.0.1", 9001, "UP"}}, {});
  auto v0 = d.version();
  EXPECT_EQ(d.snapshot()->routable.size(), 1u);
  d.update({{"n1", "127.0.0.1", "127.0.0.1", 8081, "UP"},
            {"n2", "127.0.0.1", "127.0.0.1", 8082, "STARTING"}});
  EXPECT_NE(d.version(), v0);
  auto s = d.snapshot();
  EXPECT_EQ(s->all.size(), 3u);
  EXPECT_EQ(s->routable.size(), 2u);  // STARTING is not routed to
  s->all[1]->requests = 7;
  // OUT_OF_SERVICE: stops routing at once; counters survive.
  d.update({{"n1", "127.0.0.1", "127.0.0.1", 8081, "OUT_OF_SERVICE"},
            {"n2", "127.0.0.1", "127.0.0.1", 8082, "UP"}});
  s = d.snapshot();
  ASSERT_EQ(s->all.size(), 3u);
  EXPECT_EQ(s->all[1]->requests.load(), 7);
  EXPECT_EQ(s->all[1]->status(), "OUT_OF_SERVICE");
  ASSERT_EQ(s->routable.size(), 2u);
  EXPECT_EQ(s->routable[1]->id(), "n2");
  // Gone from the registry: dropped; the static upstream stays.
  auto v1 = d.version();
  d.update({});
  EXPECT_NE(d.version(), v1);
  EXPECT_EQ(d.snapshot()->all.size(), 1u);
  auto v2 = d.version();
  d.update({});
  EXPECT_EQ(d.version(), v2);  // nothing changed, no new snapshot
}

TEST(Directory, RegistryViewOfAStaticUpstreamWins) {
  Directory d({Discovered{"127.0.0.1:8081", "127.0.0.1", "127.0.0.1", 8081, "UP"}}, {});
  d.update({{"n1", "127.0.0.1", "127.0.0.1", 8081, "OUT_OF_SERVICE"}});
  auto s = d.snapshot();
  ASSERT_EQ(s->all.size(), 1u);
  EXPECT_EQ(s->all[0]->id(), "n1");
  EXPECT_TRUE(s->routable.empty());
}
