#pragma once
// Per-client-IP token buckets: `rate` requests per second on average, bursts up to `burst`.

#include "gateway/instance.hpp"

#include <array>
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

/// All clients' buckets, keyed by common::client_key (IPv6 per /64). Thread-safe: the keys are
/// spread over shards, each with its own mutex. Bounded: a shard with many buckets drops the
/// idle (full) ones, at most once a second, and never holds more than kMaxPerShard (then an
/// arbitrary bucket goes; its client starts afresh).
class RateLimiter {
 public:
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
  /// 0 when the request may pass; otherwise the Retry-After seconds for a 429.
  int check(const std::string& client, Clock::time_point now);
  std::size_t clients();

  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kSweepAt = 1024;       // buckets per shard before idle ones go
  static constexpr std::size_t kMaxPerShard = 16384;  // 262,144 clients in all

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, TokenBucket> buckets;
    Clock::time_point last_sweep{};
  };
  double rate_, burst_;
  std::array<Shard, kShards> shards_;
};

}  // namespace status::gateway
