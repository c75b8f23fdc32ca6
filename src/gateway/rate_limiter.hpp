#pragma once
// Per-client-IP token buckets: `rate` requests per second on average, bursts up to `burst`.

#include "gateway/instance.hpp"

#include <mutex>
#include <string>
#include <unordered_map>

namespace status::gateway {

/// One bucket. Pure (time is passed in); not thread-safe.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}
  /// Takes one token if there is one. Otherwise returns false and leaves the bucket as it is.
  bool take(Clock::time_point now);
  /// Whole seconds until a token will be there (≥ 1), for Retry-After.
  int retry_after(Clock::time_point now) const;
  /// True when the bucket is full again (an idle client; its entry may be dropped).
  bool full(Clock::time_point now) const;

 private:
  double level(Clock::time_point now) const;
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

/// All clients' buckets. Thread-safe (one mutex: only used when --rate-limit is set).
class RateLimiter {
 public:
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
  /// 0 when the request may pass; otherwise the Retry-After seconds for a 429.
  int check(const std::string& client, Clock::time_point now);

 private:
  static constexpr std::size_t kSweepAt = 10000;
  double rate_, burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, TokenBucket> buckets_;
};

}  // namespace status::gateway
