#pragma once
// One model for background work: a Clock that can be faked, a Gate that stop() waits on, and a
// PeriodicTask (its own thread, a fixed interval, stop() wakes and joins it). No detached
// threads: everything that runs in the background belongs to an object whose stop() ends it.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace status::common {

/// Steady time for background work. Thread-safe. Tests use FakeClock.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  /// Waits on `cv` (with `lock` held on entry and exit) until `until` or until `done()` is true.
  virtual void wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          time_point until, const std::function<bool()>& done) = 0;
  /// The process-wide steady clock.
  static Clock& real();
};

/// Time moves only when a test calls advance(); waiters wake then.
class FakeClock : public Clock {
 public:
  time_point now() const override;
  void wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, time_point until,
                  const std::function<bool()>& done) override;
  void advance(std::chrono::milliseconds d);
  /// Number of threads currently waiting in wait_until (lets a test wait for a task to park).
  std::size_t waiters() const;

 private:
  mutable std::mutex mutex_;
  time_point now_{};
  std::size_t waiters_ = 0;
};

/// Counts work in progress; close_and_wait() refuses new work and waits for the rest.
/// Thread-safe.
class Gate {
 public:
  class Pass {
   public:
    Pass() = default;
    explicit Pass(Gate* g) : gate_(g) {}
    Pass(Pass&& o) noexcept : gate_(o.gate_) { o.gate_ = nullptr; }
    Pass& operator=(Pass&& o) noexcept;
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    ~Pass();
    explicit operator bool() const { return gate_ != nullptr; }

   private:
    Gate* gate_ = nullptr;
  };
  /// A pass while the gate is open; an empty one (false) once it is closed.
  Pass enter();
  void close_and_wait();
  bool closed() const;
  std::size_t inside() const;

 private:
  void leave();
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t inside_ = 0;
  bool closed_ = false;
};

/// Runs `fn` every `interval` on a thread of its own, the first run at once (or after
/// `first_delay`). An exception from `fn` is logged and the task carries on. start() and stop()
/// from one owner thread; wake() from any thread runs the task early.
class PeriodicTask {
 public:
  PeriodicTask(std::string name, std::chrono::milliseconds interval, std::function<void()> fn,
               Clock& clock = Clock::real());
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void start(std::chrono::milliseconds first_delay = std::chrono::milliseconds(0));
  /// Wakes the thread, waits for a run in progress to finish, joins. Idempotent.
  void stop();
  /// Runs the task as soon as possible (the next run is then `interval` after that one).
  void wake();
  /// Sleeps `d` on this task's clock, returning early (false) when the task is stopping. For use
  /// inside `fn` (a pause between two steps of one run).
  bool pause(std::chrono::milliseconds d);
  bool stopping() const;
  std::uint64_t runs() const;

 private:
  void loop(std::chrono::milliseconds first_delay);
  std::string name_;
  std::chrono::milliseconds interval_;
  std::function<void()> fn_;
  Clock& clock_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::uint64_t runs_ = 0;
  std::thread thread_;
};

}  // namespace status::common
