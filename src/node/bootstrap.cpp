#include "node/bootstrap.hpp"

#include <algorithm>

namespace status::node {

BootstrapDecision decide_bootstrap(const BootstrapView& v) {
  BootstrapDecision d;
  std::vector<const PeerInfo*> up;
  for (const auto& p : v.peers)
    if (p.up()) up.push_back(&p);
  // Prefer the closest peer (smallest round trip): the snapshot is the biggest transfer.
  std::sort(up.begin(), up.end(), [](auto* a, auto* b) { return a->rtt_ms < b->rtt_ms; });
  for (auto* p : up) d.sources.push_back(p->url);
  if (!d.sources.empty()) {
    d.kind = BootstrapDecision::kLoad;
    d.reason = "a peer is up";
    return d;
  }
  if (!v.has_registry && (!v.has_static_peers || v.peers.empty())) {
    d.kind = BootstrapDecision::kStartEmpty;
    d.reason = "no registry and no --peer: running alone";
    return d;
  }
  bool all_answered = !v.peers.empty() &&
                      std::all_of(v.peers.begin(), v.peers.end(), [](auto& p) { return p.answered; });
  if (v.peers.empty() && v.has_registry && v.registry_reachable &&
      v.registry_alone_for >= v.alone_required) {
    d.kind = BootstrapDecision::kStartEmpty;
    d.reason = "the registry shows no other node";
    return d;
  }
  if (all_answered) {
    bool all_waiting = std::all_of(v.peers.begin(), v.peers.end(), [](auto& p) {
      return p.status == "STARTING" && p.sync != "done";
    });
    bool smallest = std::all_of(v.peers.begin(), v.peers.end(),
                                [&](auto& p) { return v.self_id < p.node_id; });
    if (all_waiting && smallest) {
      d.kind = BootstrapDecision::kStartEmpty;
      d.reason = "every node is waiting for a snapshot; this one has the smallest id";
      return d;
    }
    d.reason = "waiting for a peer to be up";
    return d;
  }
  if (v.peers.empty())
    d.reason = v.registry_reachable ? "the registry shows no other node yet: making sure"
                                    : "the registry cannot be asked";
  else
    d.reason = "peers do not answer";
  return d;
}

}  // namespace status::node
