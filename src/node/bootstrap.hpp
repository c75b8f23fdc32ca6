#pragma once
// When a node whose state is not known to be complete (an empty data dir, or a backlog the
// broker lost) may serve: the decision as a pure function of what it sees (CONTRACT §9).

#include "node/peer_directory.hpp"
#include "node/store.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace status::node {

struct BootstrapView {
  SyncState state = SyncState::kBootstrap;
  std::string self_id;
  bool has_registry = false;
  bool registry_reachable = false;
  std::chrono::milliseconds registry_alone_for{0};  // registry showed no other instance this long
  std::chrono::milliseconds alone_required{3000};   // … needed before believing it
  bool has_static_peers = false;
  std::vector<PeerInfo> peers;  // every known peer, probed
};

struct BootstrapDecision {
  enum Kind { kWait, kStartEmpty, kLoad } kind = kWait;
  std::vector<std::string> sources;  // kLoad: UP peers to load from, in order of preference
  std::string reason;                // for the log and /health
};

/// - any peer UP → load from it (never from a peer that is itself starting);
/// - no peer at all, and no registry and no --peer → the node runs alone: start as it is;
/// - the registry answered and has shown no other node for `alone_required` → start as it is;
/// - every known peer answered, none is UP, all wait for a snapshot too, and this node has the
///   smallest id → it starts as it is (a cold start of a whole empty cluster; the others then
///   load from it);
/// - otherwise (registry down, peers unreachable or still starting) → wait.
BootstrapDecision decide_bootstrap(const BootstrapView& v);

}  // namespace status::node
