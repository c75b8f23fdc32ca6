#pragma once
// A queue and one thread that takes whatever is queued, up to a batch size, and hands it to
// `process` as one batch (the store commits a batch in one transaction: one fsync for many
// requests). Between batches it runs `idle_work` when asked to (WAL rewinds).

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace status::node {

template <class Item>
class GroupCommitter {
 public:
  using Process = std::function<void(std::vector<Item>&)>;
  GroupCommitter(std::size_t max_batch, Process process, std::function<void()> between)
      : max_batch_(max_batch), process_(std::move(process)), between_(std::move(between)) {}
  ~GroupCommitter() { stop(); }
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  void start() { thread_ = std::thread([this] { loop(); }); }
  /// Processes what is queued, then ends the thread. Items queued later are dropped (their
  /// destructors run: see Completion in store.hpp). Idempotent.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    queue_.clear();
  }
  bool running() const { return thread_.joinable(); }
  void enqueue(Item item) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(item));
    }
    cv_.notify_one();
  }
  /// Asks for `between` to run after the current batch (or at once when idle).
  void request_between() {
    {
      std::lock_guard lock(mutex_);
      between_requested_ = true;
    }
    cv_.notify_one();
  }
  std::size_t queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

 private:
  void loop() {
    std::vector<Item> batch;
    while (true) {
      bool between = false;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || between_requested_; });
        if (queue_.empty() && stopping_) return;
        while (!queue_.empty() && batch.size() < max_batch_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        std::swap(between, between_requested_);
      }
      try {
        if (!batch.empty()) process_(batch);
        batch.clear();  // answers anything `process` left unanswered (see Completion)
        if (between && between_) between_();
      } catch (const std::exception& e) {
        // `process` answers its own failures; this is the last guard of the writer thread.
        spdlog::error("event=writer_error error=\"{}\"", e.what());
        batch.clear();
      }
    }
  }

  std::size_t max_batch_;
  Process process_;
  std::function<void()> between_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool between_requested_ = false;
  std::thread thread_;
};

}  // namespace status::node
