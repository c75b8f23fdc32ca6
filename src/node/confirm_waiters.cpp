#include "node/confirm_waiters.hpp"

namespace status::node {

using namespace std::chrono_literals;

ConfirmWaiters::ConfirmWaiters(std::chrono::milliseconds timeout, common::Clock& clock)
    : timeout_(timeout), clock_(clock), sweeper_("confirm_sweeper", 10ms, [this] { expire(); }, clock) {}

ConfirmWaiters::~ConfirmWaiters() { stop(); }

void ConfirmWaiters::start() { sweeper_.start(); }

void ConfirmWaiters::stop() {
  sweeper_.stop();
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  release_all();
}

void ConfirmWaiters::wait(std::int64_t seq, time_point committed_at, std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (!stopped_ && seq > confirmed_upto_) {
      by_seq_.emplace(seq, Waiter{committed_at + timeout_, std::move(fn)});
      return;
    }
  }
  fn();
}

void ConfirmWaiters::confirmed(std::int64_t upto) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(mutex_);
    if (upto <= confirmed_upto_) return;
    confirmed_upto_ = upto;
    auto end = by_seq_.upper_bound(upto);
    for (auto it = by_seq_.begin(); it != end; ++it) ready.push_back(std::move(it->second.fn));
    by_seq_.erase(by_seq_.begin(), end);
  }
  for (auto& f : ready) f();
}

void ConfirmWaiters::release_all() {
  std::multimap<std::int64_t, Waiter> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(by_seq_);
  }
  for (auto& [seq, w] : all) w.fn();
}

void ConfirmWaiters::expire() {
  std::vector<std::function<void()>> late;
  {
    std::lock_guard lock(mutex_);
    auto now = clock_.now();
    // Seqs are handed out in commit order, so deadlines grow with the seq: stop at the first
    // one still in time.
    auto it = by_seq_.begin();
    for (; it != by_seq_.end() && it->second.deadline <= now; ++it)
      late.push_back(std::move(it->second.fn));
    by_seq_.erase(by_seq_.begin(), it);
    timeouts_ += late.size();
  }
  for (auto& f : late) f();
}

std::uint64_t ConfirmWaiters::timeouts() const {
  std::lock_guard lock(mutex_);
  return timeouts_;
}

std::size_t ConfirmWaiters::waiting() const {
  std::lock_guard lock(mutex_);
  return by_seq_.size();
}

}  // namespace status::node
