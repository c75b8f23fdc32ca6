#pragma once
// Server-sent events: fans every applied change out to the connected /api/events clients.

#include "common/http_server.hpp"
#include "node/store.hpp"

#include <mutex>
#include <vector>

namespace status::node {

/// Thread-safe. publish() is called on the store's writer thread; subscribe() on I/O threads.
/// Subscribers are capped in all and per client, so that one client cannot take every slot.
class EventHub {
 public:
  explicit EventHub(std::size_t max_subscribers = 1000, std::size_t max_per_client = 32)
      : max_(max_subscribers), max_per_client_(max_per_client) {}
  enum class Subscribed { kOk, kFull, kClientFull };
  /// Starts an event stream on `ex` for `client` (common::client_key of its address), unless
  /// the hub is full (kFull) or that client holds max_per_client streams already (kClientFull).
  Subscribed subscribe(const common::ExchangePtr& ex, common::Response head,
                       const std::string& client);
  void set_limits(std::size_t max_subscribers, std::size_t max_per_client) {
    max_ = max_subscribers;
    max_per_client_ = max_per_client;
  }
  void publish(const std::vector<Change>& changes);
  /// A comment line to every subscriber, so idle proxies keep the stream open; drops dead ones.
  void ping();
  void close_all();
  std::size_t subscribers() const;
  /// The SSE frame for one change: "event: upsert\ndata: {…}\n\n" or "event: delete…".
  static std::string frame(const Change& c);

 private:
  struct Sub {
    common::ExchangePtr ex;
    std::string client;
  };
  mutable std::mutex mutex_;
  std::vector<Sub> subs_;
  std::size_t max_;
  std::size_t max_per_client_;  // 0: no per-client cap
};

}  // namespace status::node
