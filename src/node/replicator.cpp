#include "node/replicator.hpp"

#include "common/trace.hpp"

#include <spdlog/spdlog.h>

#include <future>

namespace status::node {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kAccessRefused = 403;
constexpr int kNotFound = 404;
constexpr int kPreconditionFailed = 406;

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

timeval to_timeval(std::chrono::microseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000000),
                 static_cast<suseconds_t>(d.count() % 1000000)};
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

}  // namespace

Replicator::Replicator(ReplicatorOptions options, Store& store, common::Metrics& metrics,
                       Hooks hooks)
    : options_(std::move(options)),
      store_(store),
      metrics_(metrics),
      hooks_(std::move(hooks)),
      queue_(options_.queue_prefix + store.node_id()),
      waiters_(options_.publish_timeout),
      outbox_(store.db_path()),
      watchdog_("publish_watchdog", 250ms, [this] { watch(); }) {
  metrics_.counter("replication_published_total", "changes published to the broker");
  metrics_.counter("replication_messages_total", "messages published (each carries one or more changes)");
  metrics_.counter("replication_confirmed_total", "publishes confirmed by the broker");
  metrics_.counter("replication_returned_total", "messages the broker could not route to any queue (kept, sent again)");
  metrics_.counter("replication_received_total", "messages received from the broker (own included)");
  metrics_.counter("replication_applied_total", "received changes that changed state");
  metrics_.counter("status_outbox_expired_total", "outbox rows older than the tombstone horizon, not sent (a very long outage)");
}

Replicator::~Replicator() { stop(); }

void Replicator::start() {
  waiters_.start();
  watchdog_.start();
  publisher_ = std::thread([this] { publisher_loop(); });
  consumer_ = std::thread([this] { consumer_loop(); });
}

void Replicator::stop() {
  if (stopping_.exchange(true)) return;
  cv_.notify_all();
  // A send blocked on a frozen broker has no deadline inside rabbitmq-c: cut the sockets.
  publisher_socket_.trip();
  consumer_socket_.trip();
  if (publisher_.joinable()) publisher_.join();
  if (consumer_.joinable()) consumer_.join();
  watchdog_.stop();
  waiters_.stop();
}

void Replicator::on_changes(const std::vector<Change>& changes) {
  // While the broker is away nothing is kept here: the outbox has every row, and the publisher
  // reads them from there when it reconnects. So memory stays flat through a long outage.
  if (!publisher_up_) return;
  {
    std::lock_guard lock(mutex_);
    if (fresh_overflow_) return;
    for (const auto& c : changes) {
      if (c.outbox_seq <= 0) continue;
      OutboxRow row{c.outbox_seq, c.status.version.hlc,
                    to_wire_json(c.status, false, c.traceparent)};
      if (fresh_bytes_ + row.payload.size() > options_.fresh_limit_bytes) {
        fresh_.clear();
        fresh_bytes_ = 0;
        fresh_overflow_ = true;
        break;
      }
      fresh_bytes_ += row.payload.size();
      fresh_.push_back(std::move(row));
    }
  }
  cv_.notify_all();
}

void Replicator::when_published(std::int64_t seq, SteadyClock::time_point committed_at,
                                std::function<void()> fn) {
  if (!publisher_up_ || stopping_) return fn();  // the row waits in the outbox
  waiters_.wait(seq, committed_at, std::move(fn));
}

Replicator::QueueState Replicator::wait_queue_state(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return queue_state_ != QueueState::kUnknown || stopping_; });
  return queue_state_;
}

bool Replicator::sleep_backoff(std::chrono::milliseconds& backoff) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, backoff, [&] { return stopping_.load(); });
  backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  return !stopping_;
}

void Replicator::watch() {
  auto started = send_started_ns_.load();
  if (started == 0 || blocked_) return;
  auto stalled = std::chrono::nanoseconds(now_ns() - started);
  if (stalled < options_.stall_limit) return;
  if (publisher_socket_.trip())
    spdlog::warn("event=publish_stalled ms={} action=reconnect",
                 std::chrono::duration_cast<std::chrono::milliseconds>(stalled).count());
}

bool Replicator::declare_topology(AmqpConnection& c, bool own_queue) {
  auto* conn = c.get();
  amqp_exchange_declare(conn, AmqpConnection::kChannel,
                        amqp_cstring_bytes(options_.exchange.c_str()), amqp_cstring_bytes("fanout"),
                        0, 1, 0, 0, amqp_empty_table);
  c.check("exchange.declare");
  if (!own_queue) return true;
  auto queue = amqp_cstring_bytes(queue_.c_str());
  // Passive first: a missing queue on a node that has data means the broker dropped its
  // backlog (expired or deleted queue); the node must then resynchronise from a peer.
  amqp_queue_declare(conn, AmqpConnection::kChannel, queue, 1, 0, 0, 0, amqp_empty_table);
  auto r = c.last_reply();
  bool existed = r.reply_type == AMQP_RESPONSE_NORMAL;
  if (!existed) {
    if (close_code(r) != kNotFound) throw AmqpError("queue.declare(passive): " + describe(r));
    c.reopen_channel();
  }
  amqp_table_entry_t entries[2];
  entries[0].key = amqp_cstring_bytes("x-queue-type");
  entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[0].value.value.bytes = amqp_cstring_bytes(options_.queue_type.c_str());
  entries[1].key = amqp_cstring_bytes("x-expires");
  entries[1].value.kind = AMQP_FIELD_KIND_I64;
  entries[1].value.value.i64 = options_.queue_expires.count();
  amqp_table_t args{2, entries};
  amqp_queue_declare(conn, AmqpConnection::kChannel, queue, 0, 1, 0, 0, args);
  r = c.last_reply();
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    if (close_code(r) != kPreconditionFailed) throw AmqpError("queue.declare: " + describe(r));
    // The queue exists with other arguments (pre-created, or --queue-type changed): consume it
    // as it is, and say so in /health and the log until an operator fixes it.
    c.reopen_channel();
    amqp_queue_declare(conn, AmqpConnection::kChannel, queue, 1, 0, 0, 0, amqp_empty_table);
    c.check("queue.declare(passive)");
    queue_health_ = QueueHealth::kMismatch;
    std::lock_guard lock(mutex_);
    auto now = SteadyClock::now();
    if (now - last_mismatch_log_ >= 30s) {
      last_mismatch_log_ = now;
      spdlog::warn("event=queue_mismatch queue={} wanted_type={} wanted_expires_ms={} error=\"{}\""
                   " action=\"consuming the queue as it is; delete it or fix the flags\"",
                   queue_, options_.queue_type, options_.queue_expires.count(), describe(r));
    }
  } else {
    queue_health_ = QueueHealth::kOk;
  }
  amqp_queue_bind(conn, AmqpConnection::kChannel, queue,
                  amqp_cstring_bytes(options_.exchange.c_str()), amqp_empty_bytes,
                  amqp_empty_table);
  c.check("queue.bind");
  {
    std::lock_guard lock(mutex_);
    if (!declared_once_) {
      declared_once_ = true;
      queue_state_ = existed ? QueueState::kExisted : QueueState::kCreated;
      spdlog::info("event=queue_declared queue={} existed={}", queue_, existed);
    } else if (!existed) {
      spdlog::warn("event=queue_recreated queue={}", queue_);
    }
  }
  cv_.notify_all();
  return existed;
}

void Replicator::publisher_loop() {
  auto backoff = std::chrono::milliseconds(100);
  std::size_t url_index = 0;
  while (!stopping_) {
    auto started = SteadyClock::now();
    try {
      AmqpConnection c(options_.urls[url_index % options_.urls.size()], options_.tls, 2000ms,
                       &publisher_socket_);
      try {
        publish_session(c);
      } catch (const AmqpError&) {
        c.mark_broken();
        throw;
      }
    } catch (const std::exception& e) {
      if (!stopping_) spdlog::warn("event=publisher_disconnected error=\"{}\"", e.what());
      publisher_up_ = false;
      blocked_ = false;
      waiters_.release_all();  // nobody waits for a broker that is gone
      ++url_index;
    }
    if (SteadyClock::now() - started > 10s) backoff = 100ms;  // it had worked: retry soon
    if (!sleep_backoff(backoff)) break;
  }
  publisher_up_ = false;
}

void Replicator::publish_session(AmqpConnection& c) {
  auto* conn = c.get();
  amqp_confirm_select(conn, AmqpConnection::kChannel);
  c.check("confirm.select");
  declare_topology(c, false);
  {
    std::lock_guard lock(mutex_);
    fresh_.clear();  // the backlog read below covers them
    fresh_bytes_ = 0;
    fresh_overflow_ = false;
  }
  publisher_up_ = true;
  spdlog::info("event=publisher_connected");

  amqp_basic_properties_t props{};
  props._flags =
      AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG;
  props.delivery_mode = 2;  // persistent
  props.content_type = amqp_cstring_bytes("application/json");
  props.app_id = amqp_cstring_bytes(store_.node_id().c_str());

  ConfirmTracker tracker;
  std::deque<OutboxRow> pending;
  std::int64_t cursor = 0;  // highest seq handed to the broker (or left out) in this session
  std::int64_t deleted_upto = 0;
  bool backlog = true;  // the outbox may hold rows older than `fresh_`
  auto last_delete = SteadyClock::now();

  while (!stopping_) {
    // 1. What is to be sent: the outbox's backlog first, then what the writer hands over.
    if (!blocked_ && pending.empty() && tracker.in_flight() < options_.window) {
      {
        std::lock_guard lock(mutex_);
        if (fresh_overflow_) {
          fresh_overflow_ = false;
          backlog = true;
        }
      }
      if (backlog) {
        for (auto& row : outbox_.pending(cursor, 4096)) pending.push_back(std::move(row));
        if (pending.size() < 4096) backlog = false;
      }
      if (!backlog) {
        std::unique_lock lock(mutex_);
        if (fresh_.empty() && tracker.empty())
          cv_.wait_for(lock, 200ms, [&] { return !fresh_.empty() || stopping_ || fresh_overflow_; });
        std::int64_t last = pending.empty() ? cursor : pending.back().seq;
        for (auto& row : fresh_)
          if (row.seq > last) pending.push_back(std::move(row));
        fresh_.clear();
        fresh_bytes_ = 0;
      }
      // A row older than the tombstone horizon would come too late: the others may have
      // forgotten a delete that came after it (docs/replication.md, long absences).
      auto horizon = store_.horizon_hlc();
      auto expired = std::erase_if(pending, [&](const OutboxRow& r) {
        if (r.hlc == 0 || r.hlc >= horizon) return false;
        cursor = std::max(cursor, r.seq);
        return true;
      });
      if (expired) {
        spdlog::warn("event=outbox_expired rows={}", expired);
        metrics_.inc("status_outbox_expired_total", {}, static_cast<double>(expired));
      }
    }
    // 2. Everything pending goes out now, packed: one message carries up to max_batch changes.
    //    Nothing waits to fill a batch. Mandatory: a message no queue takes comes back.
    while (!blocked_ && !pending.empty() && tracker.in_flight() < options_.window &&
           tracker.unconfirmed_bytes() < options_.max_unconfirmed_bytes) {
      auto m = pack(pending, options_.max_batch, options_.max_batch_bytes);
      std::string mac;
      amqp_table_entry_t mac_entry;
      if (options_.sign) {
        mac = options_.sign(m.body);
        mac_entry.key = amqp_cstring_bytes("x-status-mac");
        mac_entry.value.kind = AMQP_FIELD_KIND_UTF8;
        mac_entry.value.value.bytes = amqp_cstring_bytes(mac.c_str());
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers = amqp_table_t{1, &mac_entry};
      }
      send_started_ns_ = now_ns();
      int rc = amqp_basic_publish(conn, AmqpConnection::kChannel,
                                  amqp_cstring_bytes(options_.exchange.c_str()), amqp_empty_bytes,
                                  1, 0, &props, bytes(m.body));
      send_started_ns_ = 0;
      if (rc != AMQP_STATUS_OK) throw AmqpError(std::string("publish: ") + amqp_error_string2(rc));
      tracker.published(m);
      cursor = std::max(cursor, m.last_seq);
      metrics_.inc("replication_published_total", {}, static_cast<double>(m.count));
      metrics_.inc("replication_messages_total");
    }
    // 3. Confirms, returns and flow control from the broker, without blocking long.
    amqp_frame_t frame;
    auto tv = to_timeval(blocked_ ? 100000us : tracker.empty() ? 0us : 2000us);
    while (!stopping_) {
      int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) break;
      if (rc != AMQP_STATUS_OK) throw AmqpError(std::string("wait frame: ") + amqp_error_string2(rc));
      tv = to_timeval(0us);
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          auto n = tracker.ack(ack->delivery_tag, ack->multiple != 0);
          metrics_.inc("replication_confirmed_total", {}, static_cast<double>(n));
          break;
        }
        case AMQP_BASIC_NACK_METHOD:
          throw AmqpError("broker refused a message (nack)");  // reconnect; the outbox resends
        case AMQP_BASIC_RETURN_METHOD: {
          // No queue is bound (the broker lost its definitions, or queues are being
          // re-declared): its confirm follows, but the message went nowhere. Keep the rows —
          // the return precedes the message's ack, so everything confirmed before it was
          // routed — and send them again after a pause.
          amqp_message_t returned;
          if (amqp_read_message(conn, frame.channel, &returned, 0).reply_type ==
              AMQP_RESPONSE_NORMAL)
            amqp_destroy_message(&returned);
          metrics_.inc("replication_returned_total");
          throw AmqpError("a message was returned unroutable (no queue bound)");
        }
        case AMQP_CONNECTION_BLOCKED_METHOD:
          blocked_ = true;
          spdlog::warn("event=broker_blocked reason=\"resource alarm\"");
          break;
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
          blocked_ = false;
          spdlog::info("event=broker_unblocked");
          break;
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          throw AmqpError("broker closed the channel");
        default:
          break;
      }
    }
    // 4. Everything at or below this seq is confirmed: answer writers, delete from the outbox.
    auto confirmed = tracker.confirmed_upto(cursor, pending.empty() ? 0 : pending.front().seq);
    if (confirmed > deleted_upto) {
      waiters_.confirmed(confirmed);
      auto now = SteadyClock::now();
      if (now - last_delete > 20ms || tracker.empty()) {
        store_.outbox_delete_upto(confirmed);
        deleted_upto = confirmed;
        last_delete = now;
      }
    }
  }
}

void Replicator::consumer_loop() {
  auto backoff = std::chrono::milliseconds(100);
  std::size_t index = 0;
  while (!stopping_) {
    auto started = SteadyClock::now();
    try {
      AmqpConnection c(options_.urls[index % options_.urls.size()], options_.tls, 2000ms,
                       &consumer_socket_);
      try {
        consume_session(c);
      } catch (const AmqpError&) {
        c.mark_broken();
        throw;
      }
    } catch (const std::exception& e) {
      if (!stopping_) spdlog::warn("event=consumer_disconnected error=\"{}\"", e.what());
      consumer_up_ = false;
      ++index;
    }
    if (SteadyClock::now() - started > 10s) backoff = 100ms;
    if (!sleep_backoff(backoff)) break;
  }
  consumer_up_ = false;
}

void Replicator::apply_until_committed(std::vector<Status> states) {
  auto backoff = 200ms;
  while (!stopping_) {
    auto result = std::make_shared<std::promise<ApplyResult>>();
    auto f = result->get_future();
    store_.apply(states, [result](ApplyResult r) { result->set_value(r); });
    ApplyResult r = f.get();  // the store answers every item, also when it stops
    if (!r.failed) {
      metrics_.inc("replication_applied_total", {}, static_cast<double>(r.applied));
      if (r.rejected && hooks_.rejected) hooks_.rejected(static_cast<std::size_t>(r.rejected));
      return;
    }
    // Disk full or an I/O error: keep the messages unacknowledged and try again; they are never
    // dropped. (If this lasts past the heartbeat, the broker drops the connection and redelivers.)
    spdlog::warn("event=apply_failed states={} retry_ms={}", states.size(), backoff.count());
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, backoff, [&] { return stopping_.load(); });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  throw AmqpError("stopping");  // unacknowledged: redelivered to the next consumer
}

bool Replicator::authentic(const amqp_basic_properties_t& props, std::string_view body) const {
  if (!options_.verify) return true;
  if (!(props._flags & AMQP_BASIC_HEADERS_FLAG)) return false;
  for (int i = 0; i < props.headers.num_entries; ++i) {
    const auto& e = props.headers.entries[i];
    std::string_view key(static_cast<char*>(e.key.bytes), e.key.len);
    if (key != "x-status-mac") continue;
    if (e.value.kind != AMQP_FIELD_KIND_UTF8 && e.value.kind != AMQP_FIELD_KIND_BYTES) return false;
    std::string_view mac(static_cast<char*>(e.value.value.bytes.bytes), e.value.value.bytes.len);
    return options_.verify(body, mac);
  }
  return false;
}

void Replicator::consume_session(AmqpConnection& c) {
  auto* conn = c.get();
  bool existed = declare_topology(c, true);
  if (!existed && store_.sync_state() == SyncState::kDone) {
    spdlog::warn("event=backlog_lost queue={} action=resync", queue_);
    queue_health_ = QueueHealth::kLost;
    if (hooks_.backlog_lost) hooks_.backlog_lost();
  }
  amqp_basic_qos(conn, AmqpConnection::kChannel, 0, 2048, 0);
  c.check("basic.qos");
  // Exclusive: a second process with this node id (a copied data dir, a typo) cannot consume
  // the same queue and silently take half of this node's changes.
  amqp_basic_consume(conn, AmqpConnection::kChannel, amqp_cstring_bytes(queue_.c_str()),
                     amqp_empty_bytes, 0, 0, 1, amqp_empty_table);
  auto r = c.last_reply();
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    if (close_code(r) == kAccessRefused) {
      queue_taken_ = true;
      throw AmqpError("queue " + queue_ + " is consumed by another process (same node id?)");
    }
    throw AmqpError("basic.consume: " + describe(r));
  }
  queue_taken_ = false;
  if (queue_health_ != QueueHealth::kMismatch) queue_health_ = QueueHealth::kOk;
  consumer_up_ = true;
  spdlog::info("event=consumer_connected queue={}", queue_);

  const std::string& self = store_.node_id();
  while (!stopping_) {
    std::vector<Status> batch;
    std::vector<std::pair<std::size_t, std::string>> traces;  // (index in batch, traceparent)
    std::int64_t received_ns = 0;                              // the batch's first message
    std::uint64_t last_tag = 0;
    std::size_t received = 0, bad = 0;
    auto tv = to_timeval(200000us);
    // At most 1,024 messages or 4,096 changes per transaction: a long one would hold up the
    // node's own writes on the writer thread.
    while (received < 1024 && batch.size() < 4096) {
      amqp_maybe_release_buffers(conn);
      Envelope env;
      auto rr = amqp_consume_message(conn, env.out(), &tv, 0);
      if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && rr.library_error == AMQP_STATUS_TIMEOUT)
        break;
      if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
          amqp_frame_t frame;
          if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK)
            throw AmqpError("connection lost");
          if (frame.frame_type != AMQP_FRAME_METHOD) continue;
          auto id = frame.payload.method.id;
          if (id == AMQP_BASIC_CANCEL_METHOD) {
            // The queue was deleted (or its broker node went away): declare it again, and
            // treat a re-created queue as a lost backlog.
            queue_health_ = QueueHealth::kLost;
            throw AmqpError("the broker cancelled the consumer (queue deleted?)");
          }
          if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD)
            throw AmqpError("broker closed the channel");
          continue;
        }
        throw AmqpError("consume: " + describe(rr));
      }
      if (received++ == 0) received_ns = common::unix_ns();
      const auto& e = env.get();
      last_tag = e.delivery_tag;
      std::string origin(static_cast<char*>(e.message.properties.app_id.bytes),
                         (e.message.properties._flags & AMQP_BASIC_APP_ID_FLAG)
                             ? e.message.properties.app_id.len
                             : 0);
      std::string_view body(static_cast<char*>(e.message.body.bytes), e.message.body.len);
      if (origin != self && !authentic(e.message.properties, body)) {
        ++bad;  // not from a holder of the cluster key: not applied
      } else if (origin != self) {
        // One change (an object) or several packed by the publisher (an array).
        auto d = decode_message(body);
        for (auto& [i, tp] : d.traces) traces.emplace_back(batch.size() + i, std::move(tp));
        for (auto& s : d.states) batch.push_back(std::move(s));
        bad += d.bad;
      }
      tv = to_timeval(0us);  // take what is already there, then apply as one batch
    }
    if (received == 0) continue;
    metrics_.inc("replication_received_total", {}, static_cast<double>(received));
    if (bad) {
      spdlog::warn("event=malformed_changes dropped={}", bad);
      if (hooks_.rejected) hooks_.rejected(bad);
    }
    if (!batch.empty()) {
      // Each traced change's apply span: from its receipt to its commit here, a child of the
      // publishing node's span (what the message carried).
      std::vector<std::pair<common::TraceContext, std::string>> spans;
      for (const auto& [i, tp] : traces)
        if (auto parent = common::parse_traceparent(tp); parent && parent->sampled)
          spans.emplace_back(parent->child(), batch[i].version.node);
      std::uint64_t newest = 0;
      for (const auto& s : batch) newest = std::max(newest, s.version.hlc);
      apply_until_committed(std::move(batch));
      auto now = common::unix_ns();
      lag_ms_ = std::max<std::int64_t>(0, now / 1000000 - HybridClock::physical_ms(newest));
      for (auto& [ctx, origin] : spans)
        common::end_span({ctx, "apply", 5, received_ns, now,
                  {{"status.node", self}, {"status.origin", origin}}, false});
    }
    // Acknowledge only after the changes are committed locally.
    if (amqp_basic_ack(conn, AmqpConnection::kChannel, last_tag, 1) != AMQP_STATUS_OK)
      throw AmqpError("basic.ack failed");
  }
}

}  // namespace status::node
