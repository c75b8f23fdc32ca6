#pragma once
// The upstream instances the gateway knows (from the registry and --upstream), their passive
// health, and the snapshot the I/O threads route on.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace status::gateway {

using Clock = std::chrono::steady_clock;

/// Ejection backoff: the first one, and the longest after repeated failed probes.
struct EjectionPolicy {
  std::chrono::milliseconds base{250};
  std::chrono::milliseconds max{8000};
};

/// Passive-health state of one instance: a failure ejects it for a backoff; when the backoff has
/// passed a probe of /health is due; a successful probe re-admits it, a failed one doubles the
/// backoff (up to `max`). Pure (time is passed in); not thread-safe.
class Ejection {
 public:
  explicit Ejection(EjectionPolicy policy = {}) : policy_(policy) {}

  /// A failure seen on the data path. Returns true when it ejected a healthy instance.
  bool on_failure(Clock::time_point now);
  /// True when ejected and the backoff has passed.
  bool probe_due(Clock::time_point now) const { return ejected_ && now >= until_; }
  void on_probe_success();
  void on_probe_failure(Clock::time_point now);
  bool ejected() const { return ejected_; }
  std::chrono::milliseconds backoff() const { return backoff_; }

 private:
  EjectionPolicy policy_;
  bool ejected_ = false;
  std::chrono::milliseconds backoff_{0};
  Clock::time_point until_{};
};

/// What discovery knows about one instance.
struct Discovered {
  std::string id;       // instanceId; "host:port" for static upstreams
  std::string host;     // for the URL shown in /api/services
  std::string address;  // numeric IP to connect to
  unsigned short port = 0;
  std::string status = "UP";  // Eureka status: UP, DOWN, STARTING, OUT_OF_SERVICE, …
  bool tls = false;           // serves HTTPS: connections verify its certificate names `host`
};

/// One upstream node. Identity is its address:port and whether it speaks TLS. Counters and the health flag are atomics any
/// thread may read; id/status change only from the discovery thread (under a mutex).
class Instance {
 public:
  Instance(const Discovered& d, EjectionPolicy policy);

  /// "address:port", "address:port tls" for an HTTPS node.
  static std::string key_of(const Discovered& d);
  const std::string& key() const { return key_; }
  const std::string& address() const { return address_; }
  unsigned short port() const { return port_; }
  bool tls() const { return tls_; }
  /// The name its certificate must carry (the host it was discovered by, fixed at creation).
  const std::string& tls_name() const { return tls_name_; }
  std::string id() const;
  std::string url() const;
  std::string status() const;
  void update(const Discovered& d);

  /// Routable as far as health goes (not ejected). Lock-free.
  bool healthy() const { return !ejected_.load(std::memory_order_relaxed); }
  /// A connect failure, reset or timeout: eject with backoff. Returns true if newly ejected.
  bool report_failure(Clock::time_point now);
  bool probe_due(Clock::time_point now) const;
  void report_probe(bool ok, Clock::time_point now);

  std::atomic<long> in_flight{0};
  std::atomic<long> requests{0};
  std::atomic<long> failures{0};

 private:
  const std::string key_;
  const std::string address_;
  const unsigned short port_;
  const bool tls_;
  const std::string tls_name_;
  mutable std::mutex mutex_;
  std::string id_;
  std::string host_;
  std::string status_;
  Ejection ejection_;
  std::atomic<bool> ejected_{false};
};

using InstancePtr = std::shared_ptr<Instance>;

/// An immutable view of the instances: `all` for /api/services, `routable` (status UP) for
/// balancing. I/O threads hold a snapshot while they pick.
struct Snapshot {
  std::vector<InstancePtr> all;
  std::vector<InstancePtr> routable;
};

/// The set of instances, merged from static upstreams and the registry. update() from the
/// discovery thread; snapshot()/version() from any thread.
class Directory {
 public:
  Directory(std::vector<Discovered> static_upstreams, EjectionPolicy policy);

  /// Replaces the registry's part with `registry` (an instance gone from it is dropped, unless
  /// it is also a static upstream). Keeps each surviving instance's counters and health.
  void update(const std::vector<Discovered>& registry);
  std::shared_ptr<const Snapshot> snapshot() const;
  /// Changes whenever the snapshot does; cheap to poll.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  void publish(std::vector<InstancePtr> all);
  const std::vector<Discovered> static_;
  const EjectionPolicy policy_;
  mutable std::mutex mutex_;
  std::vector<InstancePtr> instances_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace status::gateway
