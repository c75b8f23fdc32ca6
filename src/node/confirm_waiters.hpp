#pragma once
// Writes waiting for the broker's confirm of their outbox row. Each waits at most until its
// deadline (commit time + --publish-timeout): a sweeper thread of its own answers the late ones,
// so no broker behaviour — frozen, blocked by an alarm, black-holed — keeps a write unanswered.

#include "common/background.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace status::node {

/// Thread-safe.
class ConfirmWaiters {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit ConfirmWaiters(std::chrono::milliseconds timeout,
                          common::Clock& clock = common::Clock::real());
  ~ConfirmWaiters();
  void start();
  /// Answers everyone still waiting, then ends the sweeper.
  void stop();

  /// Calls `fn` once row `seq` is confirmed, or at `committed_at + timeout`, whichever is first;
  /// at once if it is already confirmed or the waiters are stopped.
  void wait(std::int64_t seq, time_point committed_at, std::function<void()> fn);
  /// Every row up to `upto` is confirmed.
  void confirmed(std::int64_t upto);
  /// Answers every waiter now (the broker is gone: the rows stay in the outbox).
  void release_all();
  /// Answers the waiters whose deadline has passed (the sweeper calls it; tests may).
  void expire();
  std::uint64_t timeouts() const;
  std::size_t waiting() const;

 private:
  struct Waiter {
    time_point deadline;
    std::function<void()> fn;
  };
  std::chrono::milliseconds timeout_;
  common::Clock& clock_;
  mutable std::mutex mutex_;
  std::multimap<std::int64_t, Waiter> by_seq_;
  std::int64_t confirmed_upto_ = 0;
  bool stopped_ = false;
  std::uint64_t timeouts_ = 0;
  common::PeriodicTask sweeper_;
};

}  // namespace status::node
