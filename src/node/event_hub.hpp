#pragma once
// Server-sent events: fans every applied change out to the connected /api/events clients, and
// keeps the recent ones so that a client that reconnects — here or to another node — resumes
// where it left off (Last-Event-ID) instead of reloading everything.

#include "common/http_server.hpp"
#include "node/store.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace status::node {

/// Where a client's last event lies: an event id as this node writes them,
/// "<ms>.<seq>.<boot>" (hex): the wall time the sending node applied the change, its place in
/// that node's stream and that stream's random token. Opaque to clients.
struct EventId {
  std::int64_t ms = 0;
  std::uint64_t seq = 0;
  std::string boot;
  std::string str() const;
  static std::optional<EventId> parse(std::string_view s);
};

/// Thread-safe. publish() is called on the store's writer thread; subscribe() on I/O threads.
/// Subscribers are capped in all and per client, so that one client cannot take every slot.
class EventHub {
 public:
  struct Options {
    std::size_t max_subscribers = 1000;
    std::size_t max_per_client = 32;  // 0: no per-client cap
    // The replay log: how far back a reconnecting client can resume (else event: reset).
    std::size_t replay_max = 10000;
    std::int64_t replay_window_ms = 600 * 1000;
    std::size_t replay_max_bytes = 16 << 20;
    // At most this much is replayed to one client (it must fit the server's per-stream queue,
    // HttpServer::Options::stream_queue_limit); a longer gap gets event: reset.
    std::size_t replay_send_max_bytes = 900 * 1024;
    // A client that comes from another node gets everything this node applied since its last
    // event's time minus this much: the two nodes' clocks and replication lag differ.
    std::int64_t resume_margin_ms = 10 * 1000;
  };
  using WallClock = std::function<std::int64_t()>;
  EventHub() : EventHub(Options{}) {}
  explicit EventHub(Options o, WallClock now = StatusIndex::system_ms);
  enum class Subscribed { kOk, kFull, kClientFull };
  /// Starts an event stream on `ex` for `client` (common::client_key of its address), unless
  /// the hub is full (kFull) or that client holds max_per_client streams already (kClientFull).
  /// With `last_event_id` the stream starts with every change since that event (some may
  /// repeat), or with `event: reset` when this node cannot tell what the client missed.
  /// With `heartbeat_s` (> 0) the stream gets `event: heartbeat` (data {}, no id) whenever that
  /// many seconds passed without an event to it (see beat()).
  Subscribed subscribe(const common::ExchangePtr& ex, common::Response head,
                       const std::string& client,
                       const std::optional<std::string>& last_event_id = std::nullopt,
                       int heartbeat_s = 0);
  void set_limits(std::size_t max_subscribers, std::size_t max_per_client) {
    std::lock_guard lock(mutex_);
    options_.max_subscribers = max_subscribers;
    options_.max_per_client = max_per_client;
  }
  void set_replay(std::size_t max_events, std::int64_t window_ms) {
    std::lock_guard lock(mutex_);
    options_.replay_max = max_events;
    options_.replay_window_ms = window_ms;
  }
  void publish(const std::vector<Change>& changes);
  /// Where a resume the log cannot serve because this node started after the client's last
  /// event may take the changes from instead: the store's state since a time
  /// (StatusIndex::changed_since). (A log trimmed by count, size or age means reset.) Set
  /// before clients connect.
  using StateSince = std::function<std::optional<std::vector<Change>>(std::int64_t from_ms)>;
  void set_state_since(StateSince f) {
    std::lock_guard lock(mutex_);
    state_since_ = std::move(f);
  }
  /// A comment line to every subscriber, so idle proxies keep the stream open; drops dead ones.
  void ping();
  /// `event: heartbeat` to each heartbeat subscriber whose last event is its interval old or
  /// older; drops dead ones. Called often (every 250 ms): a heartbeat comes within that much
  /// after its due time. Costs a look at each subscriber, nothing when none asked for one.
  void beat();
  /// The monotonic clock (ms) beat() measures intervals on; for tests. Set before clients connect.
  void set_beat_clock(WallClock c) {
    std::lock_guard lock(mutex_);
    beat_clock_ = std::move(c);
  }
  static constexpr const char* kHeartbeat = "event: heartbeat\ndata: {}\n\n";
  void close_all();
  /// The stream's position now: the id of this node's last event (as `event: reset` carries
  /// it). A stream opened with it as Last-Event-ID gets every change applied after this call —
  /// so a list read after it, with a stream started from it, misses nothing.
  std::string position() const;
  /// The subscribers whose stream is open (one whose client has gone no longer counts).
  std::size_t subscribers() const;
  std::size_t replay_size() const;
  /// "event: upsert\ndata: {…}\n\n", "event: delete…" or "event: expire…" (without the id);
  /// empty for a change that is nobody's event (a history-only change).
  static std::string frame(const Change& c);

 private:
  struct Sub {
    common::ExchangePtr ex;
    std::string client;
    std::int64_t heartbeat_ms = 0;  // 0: none
    std::int64_t sent_ms = 0;       // beat_clock_ at its last event (or its subscribe)
  };
  struct Logged {
    std::uint64_t seq;
    std::int64_t ms;
    std::string frame;  // with its id line
  };
  void trim(std::int64_t now);  // under mutex_
  std::string replay(const std::optional<std::string>& last_event_id, std::int64_t now) const;

  mutable std::mutex mutex_;
  Options options_;
  WallClock now_;
  WallClock beat_clock_;
  std::size_t beating_ = 0;  // subscribers with a heartbeat (as of the last look)
  std::string boot_;
  std::vector<Sub> subs_;
  std::deque<Logged> log_;
  std::size_t log_bytes_ = 0;
  std::uint64_t next_seq_ = 1;
  std::int64_t started_ms_;
  std::int64_t complete_since_ms_;  // the log holds every event applied since then
  StateSince state_since_;
};

}  // namespace status::node
