#pragma once
// Background threads that keep the Directory current: registry polling and health probes of
// ejected instances.

#include "common/http_client.hpp"
#include "gateway/instance.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace status::gateway {

/// A numeric IP for `host` (itself if it already is one), or nullopt. Blocking (getaddrinfo):
/// call from startup or background threads only.
std::optional<std::string> resolve_host(const std::string& host);

/// Host names → numeric addresses for discovery without blocking it on DNS: a numeric host at
/// once; a name from a cache (an answer is used for `ttl`, then looked up again in the
/// background while the old one is still used; a failure is retried after `retry`). Names not
/// in the cache are looked up on the resolver's own thread, one after the other; lookup()
/// never waits for them, wait() waits at most as long as it is told. The thread is detached
/// and owns what it uses, so a lookup stuck on a black-holed DNS server never holds up
/// anything, not even the process's exit. Thread-safe.
class Resolver {
 public:
  using Resolve = std::function<std::optional<std::string>(const std::string&)>;
  explicit Resolver(Resolve resolve = resolve_host,
                    std::chrono::milliseconds ttl = std::chrono::seconds(30),
                    std::chrono::milliseconds retry = std::chrono::seconds(5));
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;
  /// The address if known (queues a lookup when unknown or stale); never blocks on DNS.
  /// `first` (optional) tells whether no lookup of `host` has finished yet.
  std::optional<std::string> lookup(const std::string& host, bool* first = nullptr);
  /// Waits until no lookup is queued or running, at most `max`. True if none is left.
  bool wait(std::chrono::milliseconds max);

  struct State;  // shared with the thread

 private:
  std::shared_ptr<State> state_;
};

/// A background loop that runs `tick` every `interval` until stop(). Start/stop from one thread.
class Ticker {
 public:
  Ticker() = default;
  ~Ticker() { stop(); }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  void start(std::chrono::milliseconds interval, std::function<void()> tick);
  void stop();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

/// At most this many instances are taken from the registry: each costs a name resolution per
/// poll, a pool and three metric series.
inline constexpr std::size_t kMaxDiscovered = 1000;

/// Polls GET {registry}/apps/{app} on its own thread, trying the registries in order, and feeds
/// the answer to the Directory (its first kMaxDiscovered instances). While no registry answers,
/// the Directory keeps its last list. So it does, for up to `empty_grace`, when a registry
/// that listed nodes answers with none: a restarted registry is empty until the nodes' next
/// renewal finds their lease unknown and registers them again.
class Discovery {
 public:
  Discovery(std::vector<common::BaseUrl> registries, std::string app, Directory& directory,
            std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
            std::chrono::milliseconds empty_grace = std::chrono::seconds(5),
            Resolver::Resolve resolve = resolve_host);
  /// One poll, synchronously (start() runs one before it returns). True if a registry answered.
  /// Host names not resolved yet are waited for at most the poll timeout; instances whose name
  /// is still unresolved are left out until a later poll.
  bool poll();
  void start();
  void stop() { ticker_.stop(); }

 private:
  std::vector<common::BaseUrl> registries_;
  std::string app_;
  Directory& directory_;
  std::chrono::milliseconds interval_, timeout_, empty_grace_;
  bool listed_some_ = false;  // the last list believed had an instance
  std::optional<std::chrono::steady_clock::time_point> empty_since_;
  Resolver resolver_;
  bool reachable_ = true;  // for logging transitions only
  bool truncated_ = false;  // likewise
  Ticker ticker_;
};

/// Probes GET /health of ejected instances whose backoff has passed; 2xx re-admits them.
class HealthProber {
 public:
  HealthProber(Directory& directory, std::chrono::milliseconds interval,
               std::chrono::milliseconds timeout)
      : directory_(directory), interval_(interval), timeout_(timeout) {}
  void probe_due();
  void start() { ticker_.start(interval_, [this] { probe_due(); }); }
  void stop() { ticker_.stop(); }

 private:
  Directory& directory_;
  std::chrono::milliseconds interval_, timeout_;
  Ticker ticker_;
};

}  // namespace status::gateway
