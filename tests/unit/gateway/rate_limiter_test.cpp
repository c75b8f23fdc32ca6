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
