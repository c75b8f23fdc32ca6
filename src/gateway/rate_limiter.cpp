#include "gateway/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

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
  std::lock_guard lock(mutex_);
  if (buckets_.size() >= kSweepAt)
    std::erase_if(buckets_, [&](const auto& kv) { return kv.second.full(now); });
  auto it = buckets_.try_emplace(client, rate_, burst_, now).first;
  if (it->second.take(now)) return 0;
  return it->second.retry_after(now);
}

}  // namespace status::gateway
