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

struct Resolver::State {
  Resolve resolve;
  std::chrono::milliseconds ttl, retry;
  struct Entry {
    std::optional<std::string> address;
    Clock::time_point until{};  // looked up again after this
    bool queued = false;
    bool tried = false;  // a lookup has finished once
  };
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, Entry> cache;
  std::deque<std::string> queue;
  bool busy = false;  // a lookup is running
  bool stopping = false;

  static void run(std::shared_ptr<State> self) {
    std::unique_lock lock(self->mutex);
    while (true) {
      self->changed.wait(lock, [&] { return self->stopping || !self->queue.empty(); });
      if (self->stopping) return;
      std::string host = std::move(self->queue.front());
      self->queue.pop_front();
      self->busy = true;
      lock.unlock();
      auto address = self->resolve(host);  // blocking, maybe for long
      lock.lock();
      self->busy = false;
      auto& e = self->cache[host];
      e.queued = false;
      e.tried = true;
      if (address) {
        e.address = std::move(address);
        e.until = Clock::now() + self->ttl;
      } else {
        // Keeps a last good answer (a DNS hiccup does not drop a node), tries again soon.
        e.until = Clock::now() + self->retry;
      }
      self->changed.notify_all();
    }
  }
};

Resolver::Resolver(Resolve resolve, std::chrono::milliseconds ttl, std::chrono::milliseconds retry)
    : state_(std::make_shared<State>()) {
  state_->resolve = std::move(resolve);
  state_->ttl = ttl;
  state_->retry = retry;
  std::thread(State::run, state_).detach();
}

Resolver::~Resolver() {
  std::lock_guard lock(state_->mutex);
  state_->stopping = true;
  state_->changed.notify_all();
}

std::optional<std::string> Resolver::lookup(const std::string& host, bool* first) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(host, ec);
  if (!ec) return addr.to_string();
  std::lock_guard lock(state_->mutex);
  auto& e = state_->cache[host];
  if (first) *first = !e.tried;
  if (!e.queued && Clock::now() >= e.until) {
    e.queued = true;
    state_->queue.push_back(host);
    state_->changed.notify_all();
  }
  return e.address;
}

bool Resolver::wait(std::chrono::milliseconds max) {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, max,
                                  [&] { return state_->queue.empty() && !state_->busy; });
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
                     std::chrono::milliseconds timeout, std::chrono::milliseconds empty_grace,
                     Resolver::Resolve resolve)
    : registries_(std::move(registries)), app_(std::move(app)), directory_(directory),
      interval_(interval), timeout_(timeout), empty_grace_(empty_grace),
      resolver_(std::move(resolve)) {}

bool Discovery::poll() {
  auto found = common::fetch_instances(registries_, app_, timeout_);
  if (!found) {
    if (reachable_)
      spdlog::warn("event=registry_unreachable action=keep_last_instances registries={}",
                   registries_.size());
    reachable_ = false;
    return false;
  }
  if (found->empty() && listed_some_) {
    auto now = std::chrono::steady_clock::now();
    if (!empty_since_) {
      empty_since_ = now;
      spdlog::warn("event=registry_empty action=keep_last_instances grace_ms={}", empty_grace_.count());
    }
    if (now - *empty_since_ < empty_grace_) return true;
  }
  empty_since_.reset();
  std::vector<Discovered> list;
  if (found->size() > kMaxDiscovered && !truncated_)
    spdlog::warn("event=registry_truncated instances={} used={}", found->size(), kMaxDiscovered);
  truncated_ = found->size() > kMaxDiscovered;
  if (truncated_) found->resize(kMaxDiscovered);
  std::vector<std::pair<const common::DiscoveredInstance*, common::BaseUrl>> parsed;
  bool unresolved = false;
  for (const auto& d : *found) {
    common::BaseUrl base;
    try {
      base = common::parse_base_url(d.url);
    } catch (const std::invalid_argument&) {
      continue;  // an instance with a broken URL cannot be routed to
    }
    bool first = false;
    // Queues the names not known yet; waits below only for those never looked up before.
    unresolved |= !resolver_.lookup(base.host, &first) && first;
    parsed.emplace_back(&d, std::move(base));
  }
  // New names: give the resolver a bounded moment (a slow DNS delays the poll that first sees a
  // name by at most the poll timeout; later polls leave a name still unresolved out).
  if (unresolved) resolver_.wait(timeout_);
  for (const auto& [d, base] : parsed) {
    auto ip = resolver_.lookup(base.host);
    if (!ip) continue;
    list.push_back({d->instance_id, base.host, *ip, base.port, d->status, base.tls});
  }
  directory_.update(list);
  listed_some_ = !list.empty();
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
    // Over TLS by the name its certificate carries (connecting resolves it again).
    base.tls = inst->tls();
    base.host = inst->tls() ? inst->tls_name() : inst->address();
    base.port = inst->port();
    auto r = common::http_request(common::http::verb::get, base, "/health", {}, {}, timeout_,
                                  64 * 1024);
    bool ok = r.ok() && r.res.result_int() >= 200 && r.res.result_int() < 300;
    inst->report_probe(ok, Clock::now());
    if (ok) spdlog::info("event=instance_readmitted instance={} url={}", inst->id(), inst->url());
  }
}

}  // namespace status::gateway
