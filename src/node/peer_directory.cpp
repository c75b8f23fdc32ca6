#include "node/peer_directory.hpp"

#include "common/eureka_client.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

namespace status::node {

namespace http = common::http;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string normalize(const std::string& url) {
  try {
    auto b = common::parse_base_url(url);
    // Over https the name stays: it is what the peer's certificate is checked against.
    if (b.host == "localhost" && !b.tls) b.host = "127.0.0.1";
    return b.str();
  } catch (const std::exception&) {
    return url;
  }
}

}  // namespace

PeerDirectory::PeerDirectory(std::vector<std::string> static_peers,
                             std::vector<common::BaseUrl> registries, common::Headers headers,
                             std::string app)
    : static_peers_(std::move(static_peers)),
      registries_(std::move(registries)),
      headers_(std::move(headers)),
      app_(std::move(app)) {}

void PeerDirectory::set_self(SelfInfo self) {
  std::lock_guard lock(mutex_);
  self_ = std::move(self);
}

bool PeerDirectory::is_self(const std::string& url) const {
  try {
    auto b = common::parse_base_url(url);
    return b.port == self_.port &&
           (b.host == self_.advertise_host || b.host == "127.0.0.1" || b.host == "localhost");
  } catch (const std::exception&) {
    return true;  // unusable: validated at startup, so never reached
  }
}

std::string PeerDirectory::state_json(const SelfInfo& self, const std::string& status,
                                      const std::string& sync, std::int64_t wall) {
  boost::json::object o;
  o["nodeId"] = self.node_id;
  o["incarnation"] = self.incarnation;
  o["status"] = status;
  o["sync"] = sync;
  o["wallMs"] = wall;
  return boost::json::serialize(o);
}

void PeerDirectory::probe(PeerInfo& p) const {
  p.answered = false;
  try {
    auto t0 = wall_ms();
    auto start = SteadyClock::now();
    // Says who asks: a peer that does not know this node yet looks again at once, so a node
    // that just started is counted (X-Consistency: all) by the time it serves.
    auto headers = headers_;
    {
      std::lock_guard lock(mutex_);
      headers.emplace_back("X-Status-Node-Id", self_.node_id);
      headers.emplace_back("X-Status-Node-Url", std::string(self_.tls ? "https://" : "http://") +
                                                    self_.advertise_host + ":" +
                                                    std::to_string(self_.port));
    }
    auto r = common::http_request(http::verb::get, common::parse_base_url(p.url), "/internal/state",
                                  {}, headers, 800ms, 64 * 1024);
    auto rtt = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
    if (!r.ok() || r.res.result_int() != 200) return;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.res.body(), ec);
    if (ec || !v.is_object()) return;
    const auto& o = v.as_object();
    auto str = [&](const char* k) -> std::string {
      auto* x = o.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    p.node_id = str("nodeId");
    p.status = str("status");
    p.sync = str("sync");
    p.incarnation = str("incarnation");
    if (auto* w = o.if_contains("wallMs"); w && w->is_int64()) {
      // NTP's estimate: the peer read its clock half-way through the round trip.
      p.offset_ms = w->as_int64() - (t0 + rtt.count() / 2);
      p.rtt_ms = rtt.count();
    }
    p.answered = true;
  } catch (const std::exception& e) {
    spdlog::debug("event=peer_probe_failed peer={} error=\"{}\"", p.url, e.what());
  }
}

void PeerDirectory::refresh() {
  SelfInfo self;
  {
    std::lock_guard lock(mutex_);
    self = self_;
  }
  std::optional<std::vector<common::DiscoveredInstance>> found;
  if (!registries_.empty()) found = common::fetch_instances(registries_, app_, 1000ms);

  std::vector<std::string> urls;
  for (const auto& u : static_peers_) urls.push_back(normalize(u));
  bool others_registered = false;
  {
    std::lock_guard lock(mutex_);
    if (found) {
      registry_urls_.clear();
      for (const auto& i : *found) {
        if (i.instance_id == self.node_id && is_self(i.url)) continue;
        registry_urls_.push_back(normalize(i.url));
        others_registered = true;
      }
    }
    registry_reachable_ = found.has_value();
    if (found && !others_registered) {
      if (!alone_since_) alone_since_ = SteadyClock::now();
    } else {
      alone_since_.reset();
    }
    for (const auto& u : registry_urls_) urls.push_back(u);
    auto now = SteadyClock::now();
    for (auto it = heard_.begin(); it != heard_.end();) {
      if (now - it->second > 10s) {
        it = heard_.erase(it);
      } else {
        urls.push_back(it->first);
        ++it;
      }
    }
  }
  std::sort(urls.begin(), urls.end());
  urls.erase(std::unique(urls.begin(), urls.end()), urls.end());

  std::vector<PeerInfo> probed;
  std::string duplicate;
  for (const auto& u : urls) {
    PeerInfo p;
    p.url = u;
    probe(p);
    if (p.answered && p.node_id == self.node_id) {
      if (p.incarnation == self.incarnation) continue;  // this process, under another name
      duplicate = u;
    }
    if (!p.answered && is_self(u)) continue;
    probed.push_back(std::move(p));
  }
  std::lock_guard lock(mutex_);
  peers_ = std::move(probed);
  duplicate_ = duplicate;
  ++refreshes_;
}

std::vector<PeerInfo> PeerDirectory::peers() const {
  std::lock_guard lock(mutex_);
  return peers_;
}

std::vector<std::string> PeerDirectory::up_urls() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& p : peers_)
    if (p.up()) out.push_back(p.url);
  return out;
}

std::vector<std::string> PeerDirectory::live_urls() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& p : peers_)
    if (p.answered && p.status != "DRAINING") out.push_back(p.url);
  return out;
}

bool PeerDirectory::registry_reachable() const {
  std::lock_guard lock(mutex_);
  return registry_reachable_;
}

std::chrono::milliseconds PeerDirectory::registry_alone_for() const {
  std::lock_guard lock(mutex_);
  if (!alone_since_) return 0ms;
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - *alone_since_);
}

std::string PeerDirectory::duplicate() const {
  std::lock_guard lock(mutex_);
  return duplicate_;
}

bool PeerDirectory::heard_from(std::string_view node_id, const std::string& url) {
  std::string u;
  try {
    auto b = common::parse_base_url(url);
    if (!b.path.empty()) return false;
    u = normalize(url);
  } catch (const std::exception&) {
    return false;
  }
  std::lock_guard lock(mutex_);
  if (node_id == self_.node_id) return false;
  auto now = SteadyClock::now();
  bool known = heard_.count(u) > 0;
  if (!known && heard_.size() >= 64) return false;
  heard_[u] = now;
  for (const auto& p : peers_)
    if (p.answered && p.node_id == node_id) return false;
  return !known;
}

bool PeerDirectory::knows(std::string_view node_id) const {
  std::lock_guard lock(mutex_);
  for (const auto& p : peers_)
    if (p.answered && p.node_id == node_id) return true;
  return false;
}

std::size_t PeerDirectory::refreshes() const {
  std::lock_guard lock(mutex_);
  return refreshes_;
}

PeerDirectory::ClockReading PeerDirectory::clock() const {
  std::lock_guard lock(mutex_);
  ClockReading c;
  for (const auto& p : peers_) {
    if (!p.answered || !p.offset_ms) continue;
    if (!c.measured || std::llabs(*p.offset_ms) < std::llabs(c.offset_ms)) c.offset_ms = *p.offset_ms;
    c.measured = true;
  }
  return c;
}

}  // namespace status::node
