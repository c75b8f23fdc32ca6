#include "node/event_hub.hpp"

#include "common/http.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>

namespace status::node {

std::string EventId::str() const {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%llx.%llx.", static_cast<unsigned long long>(ms),
                static_cast<unsigned long long>(seq));
  return buf + boot;
}

std::optional<EventId> EventId::parse(std::string_view s) {
  EventId id;
  auto dot1 = s.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : s.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || dot1 == 0 || dot2 == dot1 + 1) return std::nullopt;
  auto hex = [](std::string_view part, auto& out) {
    auto r = std::from_chars(part.data(), part.data() + part.size(), out, 16);
    return r.ec == std::errc() && r.ptr == part.data() + part.size();
  };
  if (!hex(s.substr(0, dot1), id.ms) || !hex(s.substr(dot1 + 1, dot2 - dot1 - 1), id.seq))
    return std::nullopt;
  id.boot = std::string(s.substr(dot2 + 1));
  if (id.boot.empty() || id.boot.size() > 32 || id.ms < 0) return std::nullopt;
  return id;
}

EventHub::EventHub(Options o, WallClock now)
    : options_(o), now_(std::move(now)),
      beat_clock_([] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
      }),
      boot_(common::random_id().substr(0, 12)),
      started_ms_(now_()), complete_since_ms_(started_ms_) {}

EventHub::Subscribed EventHub::subscribe(const common::ExchangePtr& ex, common::Response head,
                                         const std::string& client,
                                         const std::optional<std::string>& last_event_id,
                                         int heartbeat_s) {
  std::lock_guard lock(mutex_);
  std::erase_if(subs_, [](const auto& s) { return !s.ex->open(); });
  if (subs_.size() >= options_.max_subscribers) return Subscribed::kFull;
  if (options_.max_per_client &&
      static_cast<std::size_t>(std::count_if(subs_.begin(), subs_.end(), [&](const auto& s) {
        return s.client == client;
      })) >= options_.max_per_client)
    return Subscribed::kClientFull;
  ex->begin_stream(std::move(head));
  ex->push(": connected\n\n");
  // Under the same lock as publish(): nothing falls between the replay and the live events.
  if (last_event_id) {
    auto now = now_();
    trim(now);
    ex->push(replay(last_event_id, now));
  }
  subs_.push_back({ex, client, heartbeat_s > 0 ? heartbeat_s * 1000LL : 0, beat_clock_()});
  if (heartbeat_s > 0) ++beating_;
  return Subscribed::kOk;
}

std::string EventHub::replay(const std::optional<std::string>& last_event_id,
                             std::int64_t now) const {
  auto reset = [&] {
    EventId id{now, next_seq_ - 1, boot_};
    return "id: " + id.str() + "\nevent: reset\ndata: {}\n\n";
  };
  auto id = EventId::parse(*last_event_id);
  if (!id) return reset();
  std::string out;
  if (id->boot == boot_) {
    // This stream's own id: exactly what came after it, if the log still holds all of it.
    if (id->seq >= next_seq_) return reset();
    if (id->seq + 1 < next_seq_ && (log_.empty() || log_.front().seq > id->seq + 1)) return reset();
    for (const auto& e : log_)
      if (e.seq > id->seq && (out += e.frame).size() > options_.replay_send_max_bytes) return reset();
    return out;
  }
  // Another node's (or an earlier process's) id: everything applied here since a little before
  // that event's time, if the log reaches back that far.
  std::int64_t from = id->ms - options_.resume_margin_ms;
  if (id->ms > now + options_.resume_margin_ms || now - id->ms > options_.replay_window_ms)
    return reset();
  if (from < complete_since_ms_) {
    // The log does not reach back that far. If it was trimmed, more changed than the log
    // keeps: reset. If this node started after that time, what is stored tells what changed
    // since — each user's newest state, which is what a client needs.
    bool started_later = complete_since_ms_ == started_ms_;
    auto changes = started_later && state_since_ ? state_since_(from) : std::nullopt;
    if (!changes) return reset();
    EventId here{now, next_seq_ - 1, boot_};
    std::string id_line = "id: " + here.str() + "\n";
    for (const auto& c : *changes)
      if (auto f = frame(c); !f.empty() && (out += id_line + f).size() > options_.replay_send_max_bytes)
        return reset();
    return out;
  }
  for (const auto& e : log_)
    if (e.ms >= from && (out += e.frame).size() > options_.replay_send_max_bytes) return reset();
  return out;
}

std::string EventHub::frame(const Change& c) {
  if (c.what == Change::What::kHistory) return {};
  if (c.status.deleted || c.what == Change::What::kExpire) {
    boost::json::object o;
    o["username"] = c.status.username;
    o["version"] = c.status.version.str();
    const char* kind = c.what == Change::What::kExpire ? "expire" : "delete";
    return std::string("event: ") + kind + "\ndata: " + boost::json::serialize(o) + "\n\n";
  }
  return "event: upsert\ndata: " + c.api_json + "\n\n";
}

void EventHub::trim(std::int64_t now) {
  while (!log_.empty() &&
         (log_.size() > options_.replay_max || log_bytes_ > options_.replay_max_bytes ||
          log_.front().ms < now - options_.replay_window_ms)) {
    complete_since_ms_ = log_.front().ms + 1;
    log_bytes_ -= log_.front().frame.size();
    log_.pop_front();
  }
}

void EventHub::publish(const std::vector<Change>& changes) {
  auto now = now_();
  std::lock_guard lock(mutex_);
  std::string data;
  for (const auto& c : changes) {
    std::string f = frame(c);
    if (f.empty()) continue;
    EventId id{now, next_seq_, boot_};
    Logged e{next_seq_++, now, "id: " + id.str() + "\n" + f};
    data += e.frame;
    log_bytes_ += e.frame.size();
    log_.push_back(std::move(e));
  }
  trim(now);
  if (subs_.empty() || data.empty()) return;
  std::erase_if(subs_, [&](const auto& s) { return !s.ex->push(data); });
  if (beating_) {
    auto t = beat_clock_();
    for (auto& s : subs_) s.sent_ms = t;
  }
}

void EventHub::ping() {
  std::lock_guard lock(mutex_);
  trim(now_());
  std::erase_if(subs_, [](const auto& s) { return !s.ex->push(": ping\n\n"); });
}

void EventHub::beat() {
  std::lock_guard lock(mutex_);
  if (!beating_) return;
  auto t = beat_clock_();
  std::size_t beating = 0;
  std::erase_if(subs_, [&](auto& s) {
    if (!s.heartbeat_ms) return false;
    if (t - s.sent_ms >= s.heartbeat_ms) {
      if (!s.ex->push(kHeartbeat)) return true;
      s.sent_ms = t;
    }
    ++beating;
    return false;
  });
  beating_ = beating;
}

void EventHub::close_all() {
  std::lock_guard lock(mutex_);
  for (auto& s : subs_) s.ex->end_stream();
  subs_.clear();
  beating_ = 0;
}

std::string EventHub::position() const {
  std::lock_guard lock(mutex_);
  return EventId{now_(), next_seq_ - 1, boot_}.str();
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(mutex_);
  // Those whose stream is still open: one that closed stays in the list until the next event
  // or heartbeat sweeps it out, but it is no subscriber any more.
  return std::count_if(subs_.begin(), subs_.end(), [](const auto& s) { return s.ex->open(); });
}

std::size_t EventHub::replay_size() const {
  std::lock_guard lock(mutex_);
  return log_.size();
}

}  // namespace status::node
