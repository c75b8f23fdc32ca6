#include "gateway/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace status::gateway {

double TokenBucket::level(Clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - last_).count();
  return std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
}

bool TokenBucket::take(Clock::time_point now) {
  double t = level(now);
  if (t < 1.0) return false;
  tokens_ = t - 1.0;
  last_ = now;
  return true;
}

int TokenBucket::retry_after(Clock::time_point now) const {
  double missing = 1.0 - level(now);
  if (missing <= 0) return 1;
  return std::max(1, static_cast<int>(std::ceil(missing / rate_)));
}

bool TokenBucket::full(Clock::time_point now) const { return level(now) >= burst_; }

int RateLimiter::check(const std::string& client, Clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string>{}(client) % kShards];
  std::lock_guard lock(shard.mutex);
  auto& buckets = shard.buckets;
  auto it = buckets.find(client);
  if (it == buckets.end()) {
    // A new client: make room first. The sweep is O(n), so it runs at most once a second.
    if (buckets.size() >= kSweepAt && now - shard.last_sweep >= std::chrono::seconds(1)) {
      shard.last_sweep = now;
      std::erase_if(buckets, [&](const auto& kv) { return kv.second.full(now); });
    }
    if (buckets.size() >= kMaxPerShard) buckets.erase(buckets.begin());
    it = buckets.try_emplace(client, rate_, burst_, now).first;
  }
  if (it->second.take(now)) return 0;
  return it->second.retry_after(now);
}

std::size_t RateLimiter::clients() {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace status::gateway
