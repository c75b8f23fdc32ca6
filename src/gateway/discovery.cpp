#include "gateway/discovery.hpp"

#include "common/log.hpp"
#include "common/eureka_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace status::gateway {

std::optional<std::string> resolve_host(const std::string& host) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(host, ec);
  if (!ec) return addr.to_string();
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) return std::nullopt;
  // Prefer IPv4 (nodes bind 127.0.0.1 by default).
  for (const auto& r : results)
    if (r.endpoint().address().is_v4()) return r.endpoint().address().to_string();
  return results.begin()->endpoint().address().to_string();
}

void Ticker::start(std::chrono::milliseconds interval, std::function<void()> tick) {
  stopping_ = false;
  thread_ = std::thread([this, interval, tick = std::move(tick)] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      tick();
      lock.lock();
      cv_.wait_for(lock, interval, [this] { return stopping_; });
    }
  });
}

void Ticker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Discovery::Discovery(std::vector<common::BaseUrl> registries, std::string app,
                     Directory& directory, std::chrono::milliseconds interval,
                     std::chrono::milliseconds timeout)
    : registries_(std::move(registries)), app_(std::move(app)), directory_(directory),
      interval_(interval), timeout_(timeout) {}

bool Discovery::poll() {
  auto found = common::fetch_instances(registries_, app_, timeout_);
  if (!found) {
    if (reachable_)
      spdlog::warn("event=registry_unreachable action=keep_last_instances registries={}",
                   registries_.size());
    reachable_ = false;
    return false;
  }
  std::vector<Discovered> list;
  if (found->size() > kMaxDiscovered && !truncated_)
    spdlog::warn("event=registry_truncated instances={} used={}", found->size(), kMaxDiscovered);
  truncated_ = found->size() > kMaxDiscovered;
  if (truncated_) found->resize(kMaxDiscovered);
  for (const auto& d : *found) {
    common::BaseUrl base;
    try {
      base = common::parse_base_url(d.url);
    } catch (const std::invalid_argument&) {
      continue;  // an instance with a broken URL cannot be routed to
    }
    auto ip = resolve_host(base.host);
    if (!ip) continue;
    list.push_back({d.instance_id, base.host, *ip, base.port, d.status});
  }
  directory_.update(list);
  if (!reachable_) spdlog::info("event=registry_reachable instances={}", list.size());
  reachable_ = true;
  return true;
}

void Discovery::start() {
  poll();
  ticker_.start(interval_, [this] { poll(); });
}

void HealthProber::probe_due() {
  auto snap = directory_.snapshot();
  for (const auto& inst : snap->all) {
    if (!inst->probe_due(Clock::now())) continue;
    common::BaseUrl base;
    base.host = inst->address();
    base.port = inst->port();
    auto r = common::http_request(common::http::verb::get, base, "/health", {}, {}, timeout_,
                                  64 * 1024);
    bool ok = r.ok() && r.res.result_int() >= 200 && r.res.result_int() < 300;
    inst->report_probe(ok, Clock::now());
    if (ok) spdlog::info("event=instance_readmitted instance={} url={}", inst->id(), inst->url());
  }
}

}  // namespace status::gateway
