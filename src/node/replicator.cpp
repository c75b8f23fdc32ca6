#include "node/replicator.hpp"

#include "node/amqp.hpp"

#include <spdlog/spdlog.h>

#include <future>

namespace status::node {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

timeval to_timeval(std::chrono::microseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000000),
                 static_cast<suseconds_t>(d.count() % 1000000)};
}

}  // namespace

Replicator::Replicator(ReplicatorOptions options, Store& store, common::Metrics& metrics)
    : options_(std::move(options)), store_(store), metrics_(metrics),
      queue_(options_.queue_prefix + store.node_id()) {
  metrics_.describe("replication_published_total", "counter", "changes published to the broker");
  metrics_.describe("replication_messages_total", "counter",
                    "messages published (each carries one or more changes)");
  metrics_.describe("replication_confirmed_total", "counter", "publishes confirmed by the broker");
  metrics_.describe("replication_received_total", "counter", "messages received from the broker (own included)");
  metrics_.describe("replication_applied_total", "counter", "received changes that changed state");
}

Replicator::~Replicator() { stop(); }

void Replicator::start() {
  publisher_ = std::thread([this] { publisher_loop(); });
  consumer_ = std::thread([this] { consumer_loop(); });
}

void Replicator::stop() {
  if (stopping_.exchange(true)) return;
  cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  if (consumer_.joinable()) consumer_.join();
  fire_waiters(0, true);
}

void Replicator::on_changes(const std::vector<Change>& changes) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& c : changes)
      if (c.outbox_seq > 0) fresh_.emplace_back(c.outbox_seq, to_wire_json(c.status));
  }
  cv_.notify_all();
}

void Replicator::when_published(std::int64_t seq, std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    // A confirm may arrive before the writer asks for it (the publisher sees the change first).
    if (publisher_up_ && !stopping_ && seq > confirmed_upto_) {
      waiters_.emplace(seq, std::make_pair(SteadyClock::now() + options_.confirm_wait, std::move(fn)));
      return;
    }
  }
  fn();  // broker unreachable: the change waits in the outbox; answer after the local commit
}

void Replicator::fire_waiters(std::int64_t confirmed_upto, bool all) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(mutex_);
    confirmed_upto_ = std::max(confirmed_upto_, confirmed_upto);
    auto now = SteadyClock::now();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (all || it->first <= confirmed_upto || it->second.first <= now) {
        ready.push_back(std::move(it->second.second));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : ready) f();
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

void Replicator::declare_topology(AmqpConnection& c, bool own_queue) {
  auto* conn = c.get();
  amqp_exchange_declare(conn, AmqpConnection::kChannel, amqp_cstring_bytes(options_.exchange.c_str()),
                        amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
  c.check("exchange.declare");
  if (!own_queue) return;
  // Passive first: a missing queue on a node that has data means the broker dropped its
  // backlog (expired or deleted queue); the node must then resynchronise from a peer.
  amqp_queue_declare(conn, AmqpConnection::kChannel, amqp_cstring_bytes(queue_.c_str()), 1, 0, 0, 0,
                     amqp_empty_table);
  auto r = amqp_get_rpc_reply(conn);
  bool existed = r.reply_type == AMQP_RESPONSE_NORMAL;
  if (!existed) {
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD)
      throw AmqpError("queue.declare(passive): " + describe(r));
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
  amqp_queue_declare(conn, AmqpConnection::kChannel, amqp_cstring_bytes(queue_.c_str()), 0, 1, 0, 0,
                     args);
  c.check("queue.declare");
  amqp_queue_bind(conn, AmqpConnection::kChannel, amqp_cstring_bytes(queue_.c_str()),
                  amqp_cstring_bytes(options_.exchange.c_str()), amqp_empty_bytes, amqp_empty_table);
  c.check("queue.bind");
  {
    std::lock_guard lock(mutex_);
    if (queue_state_ == QueueState::kUnknown) {
      queue_state_ = existed ? QueueState::kExisted : QueueState::kCreated;
      spdlog::info("event=queue_declared queue={} existed={}", queue_, existed);
    }
  }
  cv_.notify_all();
}

void Replicator::publisher_loop() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    std::string url;
    {
      std::lock_guard lock(mutex_);
      url = options_.urls[url_index_ % options_.urls.size()];
    }
    try {
      AmqpConnection c(url, 2000ms);
      publish_session(c);
    } catch (const std::exception& e) {
      if (publisher_up_ || backoff <= std::chrono::milliseconds(100))
        spdlog::warn("event=publisher_disconnected error=\"{}\"", e.what());
      else
        spdlog::debug("event=publisher_connect_failed error=\"{}\"", e.what());
      publisher_up_ = false;
      fire_waiters(0, true);  // nobody waits for a broker that is gone
      std::lock_guard lock(mutex_);
      ++url_index_;
    }
    if (!sleep_backoff(backoff)) break;
  }
  publisher_up_ = false;
}

void Replicator::publish_session(AmqpConnection& c) {
  auto* conn = c.get();
  amqp_confirm_select(conn, AmqpConnection::kChannel);
  c.check("confirm.select");
  declare_topology(c, false);
  publisher_up_ = true;
  spdlog::info("event=publisher_connected");

  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG;
  props.delivery_mode = 2;  // persistent
  props.content_type = amqp_cstring_bytes("application/json");
  props.app_id = amqp_cstring_bytes(store_.node_id().c_str());

  // delivery tag → the first outbox seq and the number of changes in that message
  std::map<std::uint64_t, std::pair<std::int64_t, std::size_t>> in_flight;
  std::string body;
  std::uint64_t next_tag = 0;
  std::int64_t cursor = 0;       // highest seq handed to the broker in this session
  std::int64_t deleted_upto = 0;
  bool backlog = true;           // the outbox may hold rows older than `fresh_`
  std::deque<std::pair<std::int64_t, std::string>> pending;
  auto last_delete = SteadyClock::now();

  while (!stopping_) {
    if (pending.empty() && in_flight.size() < options_.window) {
      if (backlog) {
        for (auto& row : store_.outbox_pending(cursor, 4096)) pending.emplace_back(row.seq, std::move(row.payload));
        if (pending.size() < 4096) backlog = false;
      }
      if (!backlog) {
        std::unique_lock lock(mutex_);
        if (fresh_.empty() && in_flight.empty())
          cv_.wait_for(lock, 200ms, [&] { return !fresh_.empty() || stopping_; });
        std::int64_t last = pending.empty() ? cursor : pending.back().first;
        while (!fresh_.empty()) {
          if (fresh_.front().first > last) pending.push_back(std::move(fresh_.front()));
          fresh_.pop_front();
        }
      }
    }
    // Everything pending goes out now, packed: one message carries up to max_batch changes
    // (a JSON array; a lone change keeps the single-object form). Nothing waits to fill a
    // batch — under light load each message holds one change, under heavy load the broker
    // routes, stores and delivers one message per many changes.
    while (!pending.empty() && in_flight.size() < options_.window) {
      std::int64_t first = pending.front().first;
      std::size_t count = 0;
      body.clear();
      while (!pending.empty() && count < options_.max_batch &&
             (count == 0 || body.size() + pending.front().second.size() < options_.max_batch_bytes)) {
        body += count == 0 ? "" : ",";
        body += pending.front().second;
        cursor = std::max(cursor, pending.front().first);
        pending.pop_front();
        ++count;
      }
      if (count > 1) body = "[" + body + "]";
      int rc = amqp_basic_publish(conn, AmqpConnection::kChannel,
                                  amqp_cstring_bytes(options_.exchange.c_str()), amqp_empty_bytes, 0, 0,
                                  &props, bytes(body));
      if (rc != AMQP_STATUS_OK) throw AmqpError(std::string("publish: ") + amqp_error_string2(rc));
      in_flight[++next_tag] = {first, count};
      metrics_.inc("replication_published_total", {}, static_cast<double>(count));
      metrics_.inc("replication_messages_total");
    }
    // Read confirms (and anything else the broker says) without blocking long.
    amqp_frame_t frame;
    auto tv = to_timeval(in_flight.empty() ? 0us : 2000us);
    while (true) {
      int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) break;
      if (rc != AMQP_STATUS_OK) throw AmqpError(std::string("wait frame: ") + amqp_error_string2(rc));
      tv = to_timeval(0us);
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      auto id = frame.payload.method.id;
      if (id == AMQP_BASIC_ACK_METHOD) {
        auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        auto end = ack->multiple ? in_flight.upper_bound(ack->delivery_tag) : in_flight.find(ack->delivery_tag);
        auto begin = ack->multiple ? in_flight.begin() : end;
        if (!ack->multiple && end != in_flight.end()) ++end;
        std::size_t changes = 0;
        for (auto it = begin; it != end; ++it) changes += it->second.second;
        metrics_.inc("replication_confirmed_total", {}, static_cast<double>(changes));
        in_flight.erase(begin, end);
      } else if (id == AMQP_BASIC_NACK_METHOD) {
        throw AmqpError("broker refused a message (nack)");  // reconnect; the outbox resends
      } else if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
        throw AmqpError("broker closed the channel");
      }
    }
    // Everything at or below this seq is confirmed: delete it from the outbox, answer writers.
    std::int64_t confirmed = in_flight.empty() ? cursor : in_flight.begin()->second.first - 1;
    if (!pending.empty()) confirmed = std::min(confirmed, pending.front().first - 1);
    if (confirmed > deleted_upto) {
      fire_waiters(confirmed, false);
      auto now = SteadyClock::now();
      if (now - last_delete > 20ms || in_flight.empty()) {
        store_.outbox_delete_upto(confirmed);
        deleted_upto = confirmed;
        last_delete = now;
      }
    } else {
      fire_waiters(0, false);  // only the expired ones
    }
  }
}

void Replicator::consumer_loop() {
  auto backoff = std::chrono::milliseconds(100);
  std::size_t index = 0;
  while (!stopping_) {
    try {
      AmqpConnection c(options_.urls[index % options_.urls.size()], 2000ms);
      consume_session(c);
    } catch (const std::exception& e) {
      if (consumer_up_ || backoff <= std::chrono::milliseconds(100))
        spdlog::warn("event=consumer_disconnected error=\"{}\"", e.what());
      consumer_up_ = false;
      ++index;
    }
    if (!sleep_backoff(backoff)) break;
  }
  consumer_up_ = false;
}

void Replicator::consume_session(AmqpConnection& c) {
  auto* conn = c.get();
  declare_topology(c, true);
  amqp_basic_qos(conn, AmqpConnection::kChannel, 0, 2048, 0);
  c.check("basic.qos");
  amqp_basic_consume(conn, AmqpConnection::kChannel, amqp_cstring_bytes(queue_.c_str()), amqp_empty_bytes,
                     0, 0, 0, amqp_empty_table);
  c.check("basic.consume");
  consumer_up_ = true;
  spdlog::info("event=consumer_connected queue={}", queue_);

  const std::string& self = store_.node_id();
  while (!stopping_) {
    std::vector<Status> batch;
    std::uint64_t last_tag = 0;
    std::size_t received = 0;
    auto tv = to_timeval(200000us);
    // At most 1,024 messages or 4,096 changes per transaction: a long one would hold up the
    // node's own writes on the writer thread.
    while (received < 1024 && batch.size() < 4096) {
      amqp_maybe_release_buffers(conn);
      amqp_envelope_t env;
      auto r = amqp_consume_message(conn, &env, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) break;
      if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
          amqp_frame_t frame;
          if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) throw AmqpError("connection lost");
          if (frame.frame_type == AMQP_FRAME_METHOD &&
              (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
               frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD))
            throw AmqpError("broker closed the channel");
          continue;
        }
        throw AmqpError("consume: " + describe(r));
      }
      ++received;
      last_tag = env.delivery_tag;
      std::string origin(static_cast<char*>(env.message.properties.app_id.bytes),
                         (env.message.properties._flags & AMQP_BASIC_APP_ID_FLAG) ? env.message.properties.app_id.len : 0);
      if (origin != self) {
        // One change (an object) or several packed by the publisher (an array).
        std::string_view body(static_cast<char*>(env.message.body.bytes), env.message.body.len);
        if (!body.empty() && body.front() == '[') {
          std::size_t bad = 0;
          if (auto many = from_wire_array(body, &bad))
            for (auto& s : *many) batch.push_back(std::move(s));
          else
            spdlog::warn("event=malformed_message dropped=1");
          if (bad) spdlog::warn("event=malformed_changes dropped={}", bad);
        } else if (auto s = from_wire_json(body)) {
          batch.push_back(std::move(*s));
        } else {
          spdlog::warn("event=malformed_message dropped=1");
        }
      }
      amqp_destroy_envelope(&env);
      tv = to_timeval(0us);  // take what is already there, then apply as one batch
    }
    if (received == 0) continue;
    metrics_.inc("replication_received_total", {}, static_cast<double>(received));
    if (!batch.empty()) {
      std::promise<std::int64_t> applied;
      auto f = applied.get_future();
      store_.apply(std::move(batch), [&applied](std::int64_t n) { applied.set_value(n); });
      std::int64_t n = f.get();
      if (n < 0) throw AmqpError("local commit failed; messages left for redelivery");
      metrics_.inc("replication_applied_total", {}, static_cast<double>(n));
    }
    // Acknowledge only after the changes are committed locally.
    if (amqp_basic_ack(conn, AmqpConnection::kChannel, last_tag, 1) != AMQP_STATUS_OK)
      throw AmqpError("basic.ack failed");
  }
}

}  // namespace status::node
