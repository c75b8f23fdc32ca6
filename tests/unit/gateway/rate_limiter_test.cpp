#include "gateway/rate_limiter.hpp"

#include <gtest/gtest.h>

using namespace status::gateway;
using namespace std::chrono_literals;

TEST(TokenBucket, BurstThenRate) {
  Clock::time_point t0{};
  TokenBucket b(10, 3, t0);  // 10/s, burst 3
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  EXPECT_EQ(b.retry_after(t0), 1);
  EXPECT_FALSE(b.take(t0 + 50ms));
  EXPECT_TRUE(b.take(t0 + 100ms));  // one token per 100 ms
  EXPECT_FALSE(b.take(t0 + 150ms));
  EXPECT_FALSE(b.full(t0 + 150ms));
  EXPECT_TRUE(b.full(t0 + 10s));
}

TEST(TokenBucket, RetryAfterForSlowRates) {
  Clock::time_point t0{};
  TokenBucket b(0.25, 1, t0);  // one request per 4 s
  EXPECT_TRUE(b.take(t0));
  EXPECT_EQ(b.retry_after(t0), 4);
  EXPECT_EQ(b.retry_after(t0 + 3s), 1);
}

TEST(RateLimiter, PerClient) {
  RateLimiter l(1, 2);
  Clock::time_point t0{};
  EXPECT_EQ(l.check("a", t0), 0);
  EXPECT_EQ(l.check("a", t0), 0);
  EXPECT_GT(l.check("a", t0), 0);
  EXPECT_EQ(l.check("b", t0), 0);  // another address has its own bucket
  EXPECT_EQ(l.check("a", t0 + 1s), 0);
}

// Bounded however many clients come (review F14): idle buckets go, and there is a hard cap.
TEST(RateLimiter, HoldsABoundedNumberOfClients) {
  RateLimiter l(1, 2);
  Clock::time_point t0{};
  constexpr std::size_t kCap = RateLimiter::kShards * RateLimiter::kMaxPerShard;
  for (std::size_t i = 0; i < kCap + 50000; ++i) l.check("c" + std::to_string(i), t0);
  EXPECT_LE(l.clients(), kCap);
  // A second later every one of them is idle again: the next newcomers sweep them away.
  for (int i = 0; i < 1000; ++i) l.check("d" + std::to_string(i), t0 + 10s);
  EXPECT_LT(l.clients(), kCap / 2);
  EXPECT_EQ(l.check("new", t0 + 10s), 0);
}
