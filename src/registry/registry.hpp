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
  /// Capacity: registrations beyond it are refused (kFull), so memory stays bounded.
  std::size_t max_instances = 10'000;
  std::size_t max_apps = 1'000;
  /// At most this many entries in the change queue behind /apps/delta; the oldest go first
  /// (a client that misses one sees a different apps__hashcode and fetches everything).
  std::size_t max_changes = 20'000;
};

/// A consistent copy of (part of) the registry, ready to render.
struct Snapshot {
  std::vector<Instance> instances;  // sorted by app, then instance id
  std::string apps_hashcode;        // e.g. "DOWN_1_UP_3_", over the whole registry
  std::int64_t version = 0;         // bumped by every change
};

/// Outcome of a change.
enum class Outcome {
  kOk,
  kCreated,   // a registration of an instance that was not there
  kNotFound,  // unknown instance; for a heartbeat also: the client holds newer data
              // (lastDirtyTimestamp), so it must register again
  kConflict,  // the instance is registered, with a lease that lasts, under other credentials
  kTooLarge,  // the instance would exceed its bounds (oversize_reason)
  kFull,      // the registry holds max_instances instances, or max_apps applications
};

/// Who asks for a change: the user of the request's credentials ("" when the registry is
/// open). A `peer` acts for the registries (a peer registry repeating a change its own client
/// made there, or an operator with the peers' credentials): its change is applied whoever owns
/// the instance, and its registration keeps the owner it sends along.
struct Caller {
  std::string user;
  bool peer = false;
};

/// Thread-safe: every method may be called from any thread.
class Registry {
 public:
  explicit Registry(Clock clock = system_now_ms, RegistryOptions options = {});

  /// Adds or replaces an instance and starts a fresh lease (kCreated or kOk). The instance's
  /// server-side timestamps and its owner are set here. An override already held for the
  /// instance survives unless the registration carries one. No takeover: an instance whose lease
  /// lasts may be replaced only by its owner (else kConflict). kTooLarge, kFull: not stored.
  Outcome register_instance(Instance instance, const Caller& caller = {});
  /// Renews the lease. `status` (the client's own status, from ?status=) updates the own status;
  /// a `last_dirty_ts` newer than the one registered answers kNotFound so the client re-registers.
  Outcome renew(const std::string& app, const std::string& id, std::optional<Status> status,
                std::optional<std::int64_t> last_dirty_ts, const Caller& caller = {});
  /// Removes the instance.
  Outcome cancel(const std::string& app, const std::string& id, const Caller& caller = {});
  /// Sets the operator's override.
  Outcome set_override(const std::string& app, const std::string& id, Status status,
                       const Caller& caller = {});
  /// Removes the override; with `own_status`, also sets the instance's own status.
  Outcome delete_override(const std::string& app, const std::string& id,
                          std::optional<Status> own_status, const Caller& caller = {});
  /// Merges metadata (PUT …/metadata?k=v); kTooLarge (nothing merged) beyond the bounds.
  Outcome update_metadata(const std::string& app, const std::string& id,
                          const std::map<std::string, std::string>& metadata,
                          const Caller& caller = {});
  /// Every method above answers kNotFound for an unknown instance and kConflict when `caller`
  /// is neither its owner nor a peer.
  /// Removes every instance whose lease expired (now > last renewal + duration); returns them.
  std::vector<Instance> evict_expired();

  std::optional<Instance> find(const std::string& app, const std::string& id) const;
  /// Instance by id in any application (GET /eureka/instances/{id}).
  std::optional<Instance> find_by_id(const std::string& id) const;
  /// Whole registry, or one application (empty instances if unknown).
  Snapshot snapshot(const std::optional<std::string>& app = std::nullopt) const;
  /// The changes of the last delta_retention_ms, one entry per instance (the latest), each
  /// with its action type and the instance as it is now (a deleted one as it was, without
  /// metadata and URLs); hashcode and version are those of the whole registry.
  Snapshot delta() const;
  std::size_t size() const;
  /// Entries in the change queue (bounded by max_changes).
  std::size_t pending_changes() const;
  const RegistryOptions& options() const { return options_; }
  /// The injected clock's time (epoch ms).
  std::int64_t now() const { return clock_(); }

 private:
  using Key = std::pair<std::string, std::string>;  // app, instance id
  // The change queue holds keys, not copies of instances, so its memory does not grow with
  // what clients put into an instance: one small entry per change, and for each key the latest
  // change (a deleted instance's identity is kept there, as it is gone from instances_).
  struct Change {
    std::int64_t at = 0;
    Key key;
    std::uint64_t seq = 0;
  };
  struct Latest {
    std::uint64_t seq = 0;
    std::int64_t at = 0;
    ActionType action = ActionType::kAdded;
    std::optional<Instance> deleted;  // kDeleted: the instance as it was, slimmed
  };
  // Finds an instance that `caller` may change; else says why not.
  Outcome writable(const std::string& app, const std::string& id, const Caller& caller,
                   Instance*& out);
  void record(Instance& instance, ActionType action, std::int64_t now);
  void erase(std::map<Key, Instance>::iterator it);
  void trim_changes(std::int64_t now);
  std::string hashcode() const;

  Clock clock_;
  RegistryOptions options_;
  mutable std::mutex mutex_;
  std::map<Key, Instance> instances_;
  std::map<std::string, std::size_t> app_sizes_;  // instances per application
  std::deque<Change> changes_;
  std::map<Key, Latest> latest_;
  std::uint64_t next_seq_ = 0;
  std::int64_t version_ = 0;
};

}  // namespace status::registry
