#pragma once
// Background threads that keep the Directory current: registry polling and health probes of
// ejected instances.

#include "common/http_client.hpp"
#include "gateway/instance.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace status::gateway {

/// A numeric IP for `host` (itself if it already is one), or nullopt. Blocking (getaddrinfo):
/// call from startup or background threads only.
std::optional<std::string> resolve_host(const std::string& host);

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
/// the Directory keeps its last list.
class Discovery {
 public:
  Discovery(std::vector<common::BaseUrl> registries, std::string app, Directory& directory,
            std::chrono::milliseconds interval, std::chrono::milliseconds timeout);
  /// One poll, synchronously (start() runs one before it returns). True if a registry answered.
  bool poll();
  void start();
  void stop() { ticker_.stop(); }

 private:
  std::vector<common::BaseUrl> registries_;
  std::string app_;
  Directory& directory_;
  std::chrono::milliseconds interval_, timeout_;
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
