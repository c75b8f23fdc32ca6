#pragma once
// Peer replication, Eureka style: what a client does at this registry is repeated at every peer
// with the header `x-netflix-discovery-replication: true`; replicated calls are not replicated
// again, so a full mesh of peers needs no loop detection.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.hpp"
#include "common/metrics.hpp"
#include "registry/registry.hpp"

namespace status::registry {

inline constexpr std::string_view kReplicationHeader = "x-netflix-discovery-replication";

/// One operation to repeat at the peers.
struct ReplicationTask {
  enum class Kind { kRegister, kHeartbeat, kCancel, kStatus, kDeleteStatus };
  Kind kind = Kind::kHeartbeat;
  std::string app;
  std::string id;
  std::string status;              // kStatus: the override; kHeartbeat: the own status
  std::int64_t last_dirty_ts = 0;  // kHeartbeat
};

/// Where handlers hand replication work. Implementations must not block.
class ReplicationSink {
 public:
  virtual ~ReplicationSink() = default;
  virtual void replicate(ReplicationTask task) = 0;
};

/// The registration body of an instance as this registry holds it now (nullopt if gone).
using InstanceSource =
    std::function<std::optional<std::string>(const std::string& app, const std::string& id)>;

/// One thread and one bounded queue per peer, so a slow or dead peer delays nobody. A peer that
/// cannot be reached is skipped for a back-off period and its queue dropped: it heals itself,
/// because the next replicated heartbeat it does not know answers 404 and the registration is
/// sent instead (and a peer that restarts copies the registry at start).
class Replicator : public ReplicationSink {
 public:
  struct Options {
    std::chrono::milliseconds timeout{1000};
    std::chrono::milliseconds backoff{1000};
    std::size_t queue_limit = 10000;
  };
  Replicator(std::vector<common::BaseUrl> peers, InstanceSource source, common::Metrics* metrics,
             Options options);
  ~Replicator() override;
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  void start();
  /// Stops the threads; queued work is dropped. Idempotent.
  void stop();
  /// Queues the task for every peer; never blocks. Any thread.
  void replicate(ReplicationTask task) override;

 private:
  struct Peer;
  void run(Peer& peer);
  bool send(Peer& peer, const ReplicationTask& task);

  InstanceSource source_;
  common::Metrics* metrics_;
  Options options_;
  std::vector<std::unique_ptr<Peer>> peers_;
};

/// Copies the registry from the first peer that answers GET {peer}/apps (Eureka's sync-up at
/// start), with the owners the peer sends when `keep_owners` (a registry with credentials).
/// Returns the number of instances copied, or nullopt if no peer answered.
std::optional<std::size_t> sync_from_peers(const std::vector<common::BaseUrl>& peers,
                                           Registry& registry, std::chrono::milliseconds timeout,
                                           bool keep_owners = false);

}  // namespace status::registry
