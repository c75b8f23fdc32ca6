#include "common/background.hpp"

#include <spdlog/spdlog.h>

namespace status::common {

namespace {

class RealClock : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  void wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, time_point until,
                  const std::function<bool()>& done) override {
    cv.wait_until(lock, until, done);
  }
};

}  // namespace

Clock& Clock::real() {
  static RealClock clock;
  return clock;
}

Clock::time_point FakeClock::now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

void FakeClock::wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                           time_point until, const std::function<bool()>& done) {
  {
    std::lock_guard l(mutex_);
    ++waiters_;
  }
  // Polls in real milliseconds: advance() cannot take the waiter's own mutex, so a notify from
  // it could be lost between the check and the wait.
  while (!done() && now() < until) cv.wait_for(lock, std::chrono::milliseconds(1));
  std::lock_guard l(mutex_);
  --waiters_;
}

void FakeClock::advance(std::chrono::milliseconds d) {
  std::lock_guard lock(mutex_);
  now_ += d;
}

std::size_t FakeClock::waiters() const {
  std::lock_guard lock(mutex_);
  return waiters_;
}

Gate::Pass& Gate::Pass::operator=(Pass&& o) noexcept {
  if (this != &o) {
    if (gate_) gate_->leave();
    gate_ = o.gate_;
    o.gate_ = nullptr;
  }
  return *this;
}

Gate::Pass::~Pass() {
  if (gate_) gate_->leave();
}

Gate::Pass Gate::enter() {
  std::lock_guard lock(mutex_);
  if (closed_) return Pass();
  ++inside_;
  return Pass(this);
}

void Gate::leave() {
  std::lock_guard lock(mutex_);
  if (--inside_ == 0) cv_.notify_all();
}

void Gate::close_and_wait() {
  std::unique_lock lock(mutex_);
  closed_ = true;
  cv_.wait(lock, [&] { return inside_ == 0; });
}

bool Gate::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

std::size_t Gate::inside() const {
  std::lock_guard lock(mutex_);
  return inside_;
}

PeriodicTask::PeriodicTask(std::string name, std::chrono::milliseconds interval,
                           std::function<void()> fn, Clock& clock)
    : name_(std::move(name)), interval_(interval), fn_(std::move(fn)), clock_(clock) {}

PeriodicTask::~PeriodicTask() { stop(); }

void PeriodicTask::start(std::chrono::milliseconds first_delay) {
  thread_ = std::thread([this, first_delay] { loop(first_delay); });
}

void PeriodicTask::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicTask::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool PeriodicTask::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  clock_.wait_until(lock, cv_, clock_.now() + d, [&] { return stopping_; });
  return !stopping_;
}

bool PeriodicTask::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

std::uint64_t PeriodicTask::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

void PeriodicTask::loop(std::chrono::milliseconds first_delay) {
  auto next = clock_.now() + first_delay;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      clock_.wait_until(lock, cv_, next, [&] { return stopping_ || woken_; });
      if (stopping_) return;
      woken_ = false;
    }
    try {
      fn_();
    } catch (const std::exception& e) {
      // A failed run is retried at the next interval; the task never takes the process down.
      spdlog::error("event=task_failed task={} error=\"{}\"", name_, e.what());
    } catch (...) {
      spdlog::error("event=task_failed task={} error=\"not a std::exception\"", name_);
    }
    std::lock_guard lock(mutex_);
    ++runs_;
    next = clock_.now() + interval_;
  }
}

}  // namespace status::common
