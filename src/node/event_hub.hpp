#pragma once
// Server-sent events: fans every applied change out to the connected /api/events clients.

#include "common/http_server.hpp"
#include "node/store.hpp"

#include <mutex>
#include <vector>

namespace status::node {

/// Thread-safe. publish() is called on the store's writer thread; subscribe() on I/O threads.
class EventHub {
 public:
  explicit EventHub(std::size_t max_subscribers = 1000) : max_(max_subscribers) {}
  /// Starts an event stream on `ex`; false when the subscriber limit is reached.
  bool subscribe(const common::ExchangePtr& ex, common::Response head);
  void publish(const std::vector<Change>& changes);
  /// A comment line to every subscriber, so idle proxies keep the stream open; drops dead ones.
  void ping();
  void close_all();
  std::size_t subscribers() const;
  /// The SSE frame for one change: "event: upsert\ndata: {…}\n\n" or "event: delete…".
  static std::string frame(const Change& c);

 private:
  mutable std::mutex mutex_;
  std::vector<common::ExchangePtr> subs_;
  std::size_t max_;
};

}  // namespace status::node
