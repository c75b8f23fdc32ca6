#pragma once
// The registry model: instances by application, their leases, the recent-change queue behind
// /apps/delta. No I/O; time comes from an injected clock so eviction is tested without sleeps.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "registry/instance.hpp"

namespace status::registry {

/// Wall-clock time in epoch milliseconds (Eureka's timestamps are epoch ms).
using Clock = std::function<std::int64_t()>;
std::int64_t system_now_ms();

struct RegistryOptions {
  /// How long a change stays in the delta (Eureka: retentionTimeInMSInDeltaQueue, 3 min).
  std::int64_t delta_retention_ms = 180'000;
};

/// A consistent copy of (part of) the registry, ready to render.
struct Snapshot {
  std::vector<Instance> instances;  // sorted by app, then instance id
  std::string apps_hashcode;        // e.g. "DOWN_1_UP_3_", over the whole registry
  std::int64_t version = 0;         // bumped by every change
};

/// Outcome of a heartbeat.
enum class RenewResult {
  kOk,
  kNotFound,  // unknown instance, or the client holds newer data (lastDirtyTimestamp): re-register
};

/// Thread-safe: every method may be called from any thread.
class Registry {
 public:
  explicit Registry(Clock clock = system_now_ms, RegistryOptions options = {});

  /// Adds or replaces an instance and starts a fresh lease. The instance's server-side
  /// timestamps are set here. An override already held for the instance survives unless the
  /// registration carries one. Returns true when the instance was new.
  bool register_instance(Instance instance);
  /// Renews the lease. `status` (the client's own status, from ?status=) updates the own status;
  /// a `last_dirty_ts` newer than the one registered answers kNotFound so the client re-registers.
  RenewResult renew(const std::string& app, const std::string& id, std::optional<Status> status,
                    std::optional<std::int64_t> last_dirty_ts);
  /// Removes the instance. False if unknown.
  bool cancel(const std::string& app, const std::string& id);
  /// Sets the operator's override. False if unknown.
  bool set_override(const std::string& app, const std::string& id, Status status);
  /// Removes the override; with `own_status`, also sets the instance's own status. False if
  /// unknown.
  bool delete_override(const std::string& app, const std::string& id,
                       std::optional<Status> own_status);
  /// Merges metadata (PUT …/metadata?k=v). False if unknown.
  bool update_metadata(const std::string& app, const std::string& id,
                       const std::map<std::string, std::string>& metadata);
  /// Removes every instance whose lease expired (now > last renewal + duration); returns them.
  std::vector<Instance> evict_expired();

  std::optional<Instance> find(const std::string& app, const std::string& id) const;
  /// Instance by id in any application (GET /eureka/instances/{id}).
  std::optional<Instance> find_by_id(const std::string& id) const;
  /// Whole registry, or one application (empty instances if unknown).
  Snapshot snapshot(const std::optional<std::string>& app = std::nullopt) const;
  /// The changes of the last delta_retention_ms, one entry per instance (the latest), each
  /// with its action type; hashcode and version are those of the whole registry.
  Snapshot delta() const;
  std::size_t size() const;
  /// The injected clock's time (epoch ms).
  std::int64_t now() const { return clock_(); }

 private:
  using Key = std::pair<std::string, std::string>;  // app, instance id
  struct Change {
    std::int64_t at = 0;
    Instance instance;  // a copy with action_type set
  };
  Instance* lookup(const std::string& app, const std::string& id);
  void record(Instance& instance, ActionType action, std::int64_t now);
  void trim_changes(std::int64_t now);
  std::string hashcode() const;

  Clock clock_;
  RegistryOptions options_;
  mutable std::mutex mutex_;
  std::map<Key, Instance> instances_;
  std::deque<Change> changes_;
  std::int64_t version_ = 0;
};

}  // namespace status::registry
