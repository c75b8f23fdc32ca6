#pragma once
// Replication through RabbitMQ. Local changes go to the `status.changes` fanout exchange from
// the store's outbox (persistent, mandatory messages, pipelined publisher confirms; an outbox
// row is deleted only once confirmed and routed). Every node consumes its own durable queue bound
// to that exchange (exclusively: a second process with the same node id cannot) and acknowledges
// a message only after its changes are committed locally. See docs/replication.md.

#include "common/background.hpp"
#include "common/metrics.hpp"
#include "node/amqp.hpp"
#include "node/confirm_waiters.hpp"
#include "node/replication_wire.hpp"
#include "node/store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace status::node {

struct ReplicatorOptions {
  std::vector<std::string> urls;  // tried in turn (a RabbitMQ cluster's nodes)
  AmqpTls tls;                    // for the amqps:// ones
  std::string exchange = "status.changes";
  std::string queue_prefix = "status.node.";
  std::string queue_type = "classic";                               // or "quorum"
  std::chrono::milliseconds queue_expires{7LL * 24 * 3600 * 1000};  // an unused queue's lifetime
  std::size_t window = 1024;                 // unconfirmed messages in flight
  std::size_t max_batch = 256;               // changes packed into one message at most
  std::size_t max_batch_bytes = 256 * 1024;  // … and bytes (a lone change may exceed)
  std::size_t max_unconfirmed_bytes = 4 * 1024 * 1024;  // sent but not yet confirmed
  std::chrono::milliseconds publish_timeout{2000};      // longest a write waits for its confirm
  std::chrono::milliseconds stall_limit{3000};  // a send blocked this long: the socket is cut
  std::size_t fresh_limit_bytes = 16 * 1024 * 1024;  // beyond: read from the outbox instead
  /// With a cluster key: the MAC each message carries (header x-status-mac), and its check on
  /// receipt (a message that fails is not applied, and counted as rejected).
  std::function<std::string(std::string_view body)> sign;
  std::function<bool(std::string_view body, std::string_view mac)> verify;
};

/// The broker as the node sees it (for /health and the bootstrap decision).
enum class QueueHealth { kUnknown, kOk, kMismatch, kLost };

/// Threads: one publisher and one consumer, each owning its own connection, plus the confirm
/// sweeper and a watchdog. Public methods are thread-safe.
class Replicator {
 public:
  struct Hooks {
    /// The broker dropped this node's backlog (its queue was gone and had to be created, or the
    /// consumer was cancelled). The node must resynchronise from a peer. Consumer thread.
    std::function<void()> backlog_lost;
    /// Replicated states were refused (bad stamp, invalid content, failed authentication).
    std::function<void(std::size_t)> rejected;
  };
  Replicator(ReplicatorOptions options, Store& store, common::Metrics& metrics, Hooks hooks);
  ~Replicator();
  void start();
  /// Cuts both connections (a frozen broker cannot hold up the stop), joins every thread and
  /// answers every waiting write.
  void stop();

  /// Feeds committed local changes to the publisher (store change listener).
  void on_changes(const std::vector<Change>& changes);
  /// Calls `fn` once outbox row `seq` is confirmed by the broker, at once when the broker is
  /// unreachable (the row stays in the outbox), and at the latest `publish_timeout` after the
  /// commit, whatever the broker does.
  void when_published(std::int64_t seq, std::chrono::steady_clock::time_point committed_at,
                      std::function<void()> fn);

  /// What the first declaration of the node's queue found: blocks until known or `timeout`.
  enum class QueueState { kUnknown, kExisted, kCreated };
  QueueState wait_queue_state(std::chrono::milliseconds timeout);
  /// Another consumer holds this node's queue (a second process with the same node id).
  bool queue_taken() const { return queue_taken_.load(); }
  bool publisher_connected() const { return publisher_up_.load(); }
  bool publisher_blocked() const { return blocked_.load(); }
  bool consumer_connected() const { return consumer_up_.load(); }
  /// How old (by its stamp's wall time) the newest change of the last applied batch was when
  /// it was committed here, in ms: the replication lag as this node last saw it (-1: none yet).
  std::int64_t replication_lag_ms() const { return lag_ms_.load(); }
  QueueHealth queue_health() const { return queue_health_.load(); }
  std::uint64_t publish_timeouts() const { return waiters_.timeouts(); }

 private:
  void publisher_loop();
  void consumer_loop();
  void publish_session(AmqpConnection& c);
  void consume_session(AmqpConnection& c);
  /// Declares exchange (and with `own_queue` the node's queue and binding); returns whether
  /// the queue existed.
  bool declare_topology(AmqpConnection& c, bool own_queue);
  void apply_until_committed(std::vector<Status> states);
  /// The message carries a valid MAC (always true without a cluster key).
  bool authentic(const amqp_basic_properties_t& props, std::string_view body) const;
  bool sleep_backoff(std::chrono::milliseconds& backoff);
  void watch();  // watchdog: cuts a publisher send that blocks past stall_limit

  ReplicatorOptions options_;
  Store& store_;
  common::Metrics& metrics_;
  Hooks hooks_;
  std::string queue_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> publisher_up_{false}, consumer_up_{false}, blocked_{false};
  std::atomic<std::int64_t> lag_ms_{-1};
  std::atomic<bool> queue_taken_{false};
  std::atomic<QueueHealth> queue_health_{QueueHealth::kUnknown};
  std::atomic<std::int64_t> send_started_ns_{0};  // 0: the publisher is not inside a send
  SocketBreaker publisher_socket_, consumer_socket_;
  ConfirmWaiters waiters_;
  OutboxReader outbox_;
  common::PeriodicTask watchdog_;
  std::thread publisher_, consumer_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::deque<OutboxRow> fresh_;  // committed, not yet published (bounded: fresh_limit_bytes)
  std::size_t fresh_bytes_ = 0;
  bool fresh_overflow_ = false;  // fresh_ was dropped: the publisher reads the outbox instead
  QueueState queue_state_ = QueueState::kUnknown;
  bool declared_once_ = false;
  std::chrono::steady_clock::time_point last_mismatch_log_{};
};

}  // namespace status::node
