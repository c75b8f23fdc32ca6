#pragma once
// Replication through RabbitMQ. Local changes go to the `status.changes` fanout exchange from
// the store's outbox (persistent messages, pipelined publisher confirms; an outbox row is
// deleted only once confirmed). Every node consumes its own durable queue bound to that
// exchange and acknowledges a message only after its change is committed locally.
// See docs/replication.md.

#include "common/metrics.hpp"
#include "node/store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace status::node {

class AmqpConnection;

struct ReplicatorOptions {
  std::vector<std::string> urls;  // tried in turn (a RabbitMQ cluster's nodes)
  std::string exchange = "status.changes";
  std::string queue_prefix = "status.node.";
  std::string queue_type = "classic";                 // or "quorum"
  std::chrono::milliseconds queue_expires{7LL * 24 * 3600 * 1000};  // an unused queue's lifetime
  std::size_t window = 1024;                          // unconfirmed messages in flight
  std::size_t max_batch = 256;                        // changes packed into one message at most
  std::size_t max_batch_bytes = 256 * 1024;           // … and bytes (a lone change may exceed)
  std::chrono::milliseconds confirm_wait{1000};       // longest a write waits for its confirm
};

/// Threads: one publisher and one consumer, each owning its own connection. Public methods are
/// thread-safe.
class Replicator {
 public:
  Replicator(ReplicatorOptions options, Store& store, common::Metrics& metrics);
  ~Replicator();
  void start();
  void stop();

  /// Feeds committed local changes to the publisher (store change listener).
  void on_changes(const std::vector<Change>& changes);
  /// Calls `fn` once outbox row `seq` is confirmed by the broker, or at once when the broker is
  /// unreachable (the row stays in the outbox), or after confirm_wait.
  void when_published(std::int64_t seq, std::function<void()> fn);

  /// The first queue declaration's finding: blocks until known or `timeout`.
  enum class QueueState { kUnknown, kExisted, kCreated };
  QueueState wait_queue_state(std::chrono::milliseconds timeout);
  bool publisher_connected() const { return publisher_up_.load(); }
  bool consumer_connected() const { return consumer_up_.load(); }

 private:
  void publisher_loop();
  void consumer_loop();
  void publish_session(AmqpConnection& c);
  void consume_session(AmqpConnection& c);
  void declare_topology(AmqpConnection& c, bool own_queue);
  void fire_waiters(std::int64_t confirmed_upto, bool all);
  bool sleep_backoff(std::chrono::milliseconds& backoff);

  ReplicatorOptions options_;
  Store& store_;
  common::Metrics& metrics_;
  std::string queue_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> publisher_up_{false}, consumer_up_{false};
  std::thread publisher_, consumer_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::deque<std::pair<std::int64_t, std::string>> fresh_;  // committed, not yet published
  std::multimap<std::int64_t, std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> waiters_;
  QueueState queue_state_ = QueueState::kUnknown;
  std::int64_t confirmed_upto_ = 0;  // every outbox seq ≤ this is confirmed
  std::size_t url_index_ = 0;
};

}  // namespace status::node
