#include "node/event_hub.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace status::node {

EventHub::Subscribed EventHub::subscribe(const common::ExchangePtr& ex, common::Response head,
                                         const std::string& client) {
  std::lock_guard lock(mutex_);
  std::erase_if(subs_, [](const auto& s) { return !s.ex->open(); });
  if (subs_.size() >= max_) return Subscribed::kFull;
  if (max_per_client_ &&
      static_cast<std::size_t>(std::count_if(subs_.begin(), subs_.end(), [&](const auto& s) {
        return s.client == client;
      })) >= max_per_client_)
    return Subscribed::kClientFull;
  ex->begin_stream(std::move(head));
  ex->push(": connected\n\n");
  subs_.push_back({ex, client});
  return Subscribed::kOk;
}

std::string EventHub::frame(const Change& c) {
  if (c.status.deleted) {
    boost::json::object o;
    o["username"] = c.status.username;
    o["version"] = c.status.version.str();
    return "event: delete\ndata: " + boost::json::serialize(o) + "\n\n";
  }
  return "event: upsert\ndata: " + c.api_json + "\n\n";
}

void EventHub::publish(const std::vector<Change>& changes) {
  std::lock_guard lock(mutex_);
  if (subs_.empty()) return;
  std::string data;
  for (const auto& c : changes) data += frame(c);
  std::erase_if(subs_, [&](const auto& s) { return !s.ex->push(data); });
}

void EventHub::ping() {
  std::lock_guard lock(mutex_);
  std::erase_if(subs_, [](const auto& s) { return !s.ex->push(": ping\n\n"); });
}

void EventHub::close_all() {
  std::lock_guard lock(mutex_);
  for (auto& s : subs_) s.ex->end_stream();
  subs_.clear();
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return subs_.size();
}

}  // namespace status::node
