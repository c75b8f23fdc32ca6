#include "gateway/balancer.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace status::gateway;

namespace {

std::vector<InstancePtr> make(int n) {
  std::vector<InstancePtr> v;
  for (int i = 0; i < n; ++i)
    v.push_back(std::make_shared<Instance>(
        Discovered{"n" + std::to_string(i), "127.0.0.1", "127.0.0.1",
                   static_cast<unsigned short>(8081 + i), "UP"},
        EjectionPolicy{}));
  return v;
}

std::map<std::size_t, int> spread(LbPolicy p, const std::vector<InstancePtr>& c, int picks,
                                  PickState& st, std::span<const Instance* const> ex = {}) {
  std::map<std::size_t, int> count;
  for (int k = 0; k < picks; ++k) {
    auto i = pick(p, c, ex, st);
    EXPECT_TRUE(i.has_value());
    if (i) ++count[*i];
  }
  return count;
}

}  // namespace

TEST(Balancer, ParsePolicy) {
  EXPECT_EQ(parse_lb_policy("round-robin"), LbPolicy::kRoundRobin);
  EXPECT_EQ(parse_lb_policy("p2c"), LbPolicy::kP2c);
  EXPECT_FALSE(parse_lb_policy("random"));
}

TEST(Balancer, RoundRobinSpreadsExactlyEvenly) {
  auto c = make(3);
  PickState st;
  auto count = spread(LbPolicy::kRoundRobin, c, 3000, st);
  ASSERT_EQ(count.size(), 3u);
  for (auto [i, n] : count) EXPECT_EQ(n, 1000) << "instance " << i;
}

TEST(Balancer, RoundRobinSkipsEjectedAndExcluded) {
  auto c = make(3);
  c[1]->report_failure(Clock::now());
  PickState st;
  auto count = spread(LbPolicy::kRoundRobin, c, 100, st);
  EXPECT_EQ(count.count(1), 0u);
  EXPECT_EQ(count[0] + count[2], 100);
  const Instance* ex[] = {c[0].get()};
  count = spread(LbPolicy::kRoundRobin, c, 10, st, ex);
  EXPECT_EQ(count[2], 10);
}

TEST(Balancer, AllEjectedStillPicksButAllExcludedDoesNot) {
  auto c = make(2);
  for (auto& i : c) i->report_failure(Clock::now());
  PickState st;
  EXPECT_TRUE(pick(LbPolicy::kRoundRobin, c, {}, st));
  EXPECT_TRUE(pick(LbPolicy::kP2c, c, {}, st));
  const Instance* ex[] = {c[0].get(), c[1].get()};
  EXPECT_FALSE(pick(LbPolicy::kRoundRobin, c, ex, st));
  EXPECT_FALSE(pick(LbPolicy::kP2c, c, ex, st));
  EXPECT_FALSE(pick(LbPolicy::kP2c, {}, {}, st));
}

TEST(Balancer, P2cAvoidsTheBusiestInstance) {
  auto c = make(3);
  c[0]->in_flight = 50;  // a slow node piling up requests
  PickState st;
  auto count = spread(LbPolicy::kP2c, c, 3000, st);
  // The busiest instance only wins when both choices are it, which p2c never draws.
  EXPECT_EQ(count.count(0), 0u);
  EXPECT_NEAR(count[1], 1500, 150);
  EXPECT_NEAR(count[2], 1500, 150);
}

TEST(Balancer, P2cSpreadsEvenlyWhenIdle) {
  auto c = make(4);
  PickState st;
  auto count = spread(LbPolicy::kP2c, c, 4000, st);
  for (auto [i, n] : count) EXPECT_NEAR(n, 1000, 150) << "instance " << i;
}

TEST(Balancer, P2cHonoursExclusion) {
  auto c = make(3);
  PickState st;
  const Instance* ex[] = {c[0].get(), c[2].get()};
  for (int k = 0; k < 20; ++k) EXPECT_EQ(pick(LbPolicy::kP2c, c, ex, st), 1u);
}
