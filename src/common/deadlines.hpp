#pragma once
// Coarse timeouts for the many sockets of one I/O thread. Each object that owns a socket embeds
// a Deadlines::Entry and moves its deadline as its work goes on (read, write, idle); the thread
// calls sweep() every few tens of milliseconds, which expires every entry whose deadline passed.
//
// Why not a timer per operation (beast::tcp_stream)? There, every read and every write arms an
// Asio timer, cancels it when the operation completes and runs the cancelled timer's handler:
// a timer-queue insert and removal, an allocation and an extra handler per I/O operation. That
// was a large share of the gateway's user time per proxied request. A deadline here is one
// clock read and a store.
//
// Single-threaded: entries are created, moved, swept and destroyed on the owning thread only.

#include <chrono>
#include <cstddef>
#include <unordered_set>
#include <vector>

namespace status::common {

class Deadlines {
 public:
  using Clock = std::chrono::steady_clock;

  /// Embed (or derive from) one per socket owner; it registers itself for its whole lifetime.
  class Entry {
   public:
    explicit Entry(Deadlines& owner) : owner_(owner) { owner_.entries_.insert(this); }
    virtual ~Entry() { owner_.entries_.erase(this); }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

    template <class Duration>
    void expires_after(Duration d) {
      deadline_ = Clock::now() + d;
      expired_ = false;
    }
    void expires_at(Clock::time_point t) {
      deadline_ = t;
      expired_ = false;
    }
    void expires_never() {
      deadline_ = Clock::time_point::max();
      expired_ = false;
    }
    /// True once the current deadline has passed and on_expire() ran (until the next re-arm).
    bool expired() const { return expired_; }

   protected:
    /// Called on the owning thread when the deadline passed; typically closes the socket, so
    /// that the pending operation completes with an error the owner then reads as a timeout.
    virtual void on_expire() = 0;

   private:
    friend class Deadlines;
    Deadlines& owner_;
    Clock::time_point deadline_ = Clock::time_point::max();
    bool expired_ = false;
  };

  /// Expires every entry whose deadline is at or before `now`. An entry's on_expire() may
  /// destroy or re-arm other entries; each is looked at once.
  void sweep(Clock::time_point now) {
    due_.clear();
    for (Entry* e : entries_)
      if (e->deadline_ <= now) due_.push_back(e);
    for (Entry* e : due_) {
      if (!entries_.contains(e) || e->deadline_ > now) continue;  // gone or re-armed meanwhile
      e->deadline_ = Clock::time_point::max();
      e->expired_ = true;
      e->on_expire();
    }
  }

  std::size_t size() const { return entries_.size(); }

 private:
  std::unordered_set<Entry*> entries_;
  std::vector<Entry*> due_;
};

}  // namespace status::common
