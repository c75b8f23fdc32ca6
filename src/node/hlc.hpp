#pragma once
// Hybrid logical clock (Kulkarni et al.): stamps that follow wall-clock time but never go
// backwards and always exceed every stamp this node has seen.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

namespace status::node {

/// Thread-safe.
class HybridClock {
 public:
  using PhysicalClock = std::function<std::uint64_t()>;  // ms since epoch
  static std::uint64_t system_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }
  explicit HybridClock(PhysicalClock physical = system_ms) : physical_(std::move(physical)) {}

  /// A new stamp for a local event, greater than any stamp returned or observed before.
  std::uint64_t now() {
    std::lock_guard lock(mutex_);
    std::uint64_t pt = physical_() << 16;
    last_ = pt > last_ ? pt : last_ + 1;
    return last_;
  }
  /// Observes a remote stamp so that later local stamps order after it.
  void observe(std::uint64_t remote) {
    std::lock_guard lock(mutex_);
    if (remote > last_) last_ = remote;
  }
  /// The wall clock this HLC follows (ms since epoch).
  std::uint64_t wall_ms() const { return physical_(); }
  /// The last stamp handed out or observed.
  std::uint64_t last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }
  static std::int64_t physical_ms(std::uint64_t stamp) { return static_cast<std::int64_t>(stamp >> 16); }

 private:
  PhysicalClock physical_;
  mutable std::mutex mutex_;
  std::uint64_t last_ = 0;
};

}  // namespace status::node
