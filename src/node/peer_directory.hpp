#pragma once
// Who the other nodes are, as this node last saw them: from --peer and the registry, each probed
// on GET /internal/state about once a second (its id, whether it serves, whether its state is
// complete, and its wall clock, from which this node's clock offset is measured NTP-style).
// A registry that stops answering never makes peers vanish: its last answer is kept.

#include "common/http_client.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace status::node {

struct PeerInfo {
  std::string url;
  std::string node_id;       // from its probe (empty until it answered once)
  std::string status;        // UP, STARTING, DRAINING, DEGRADED; empty: did not answer
  std::string sync;          // done, bootstrap, resync
  std::string incarnation;   // random per process: tells a duplicate id from this process
  std::optional<std::int64_t> offset_ms;  // peer wall − ours, at the last good probe
  std::int64_t rtt_ms = 0;
  bool answered = false;     // the last probe answered
  bool up() const { return answered && status == "UP"; }
};

/// What this node knows of itself, for probes and self-filtering.
struct SelfInfo {
  std::string node_id;
  std::string incarnation;
  std::string advertise_host;
  unsigned short port = 0;
  bool tls = false;  // serves HTTPS
};

/// Thread-safe: refresh() from one background task, the readers from any thread.
class PeerDirectory {
 public:
  /// `headers` go on every probe (the cluster key).
  PeerDirectory(std::vector<std::string> static_peers, std::vector<common::BaseUrl> registries,
                common::Headers headers = {}, std::string app = "STATUS-NODE");
  void set_self(SelfInfo self);
  /// Asks the registry (if any) and probes every known peer. Blocking (bounded timeouts).
  void refresh();

  std::vector<PeerInfo> peers() const;
  /// Base URLs of the peers that answered their last probe as UP.
  std::vector<std::string> up_urls() const;
  /// Base URLs of the peers that answered their last probe and are not draining (a peer that
  /// was still starting a moment ago is likely up now; applying a pushed state is safe on it).
  std::vector<std::string> live_urls() const;
  bool has_registry() const { return !registries_.empty(); }
  bool has_static_peers() const { return !static_peers_.empty(); }
  /// The registry answered at the last refresh.
  bool registry_reachable() const;
  /// How long the registry has shown no instance but this one (0 if it showed others, or did
  /// not answer, at the last refresh).
  std::chrono::milliseconds registry_alone_for() const;
  /// Another live process reports this node's id (a copied data dir): its URL, or empty.
  std::string duplicate() const;
  std::size_t refreshes() const;
  /// A peer with this node id answered the last refresh.
  bool knows(std::string_view node_id) const;
  /// Another node (`url`, its advertised base URL) probed this one: it is probed too from now on
  /// (for 10 s after its last probe), without waiting for the registry to list it. True if it
  /// was not known yet (the caller then refreshes at once). At most 64 such peers.
  bool heard_from(std::string_view node_id, const std::string& url);

  /// The clock's standing against the peers that answered: unmeasured while none has; else the
  /// smallest |offset| (a node agreeing with one peer is not the skewed one).
  struct ClockReading {
    bool measured = false;
    std::int64_t offset_ms = 0;  // signed offset of the closest peer
  };
  ClockReading clock() const;

  /// The body of GET /internal/state for `self` (wall clock in ms since epoch).
  static std::string state_json(const SelfInfo& self, const std::string& status,
                                const std::string& sync, std::int64_t wall_ms);

 private:
  void probe(PeerInfo& p) const;
  bool is_self(const std::string& url) const;

  std::vector<std::string> static_peers_;
  std::vector<common::BaseUrl> registries_;
  common::Headers headers_;
  std::string app_;
  mutable std::mutex mutex_;
  SelfInfo self_;
  std::vector<PeerInfo> peers_;
  std::vector<std::string> registry_urls_;  // the registry's last answer (kept while it is away)
  std::map<std::string, std::chrono::steady_clock::time_point> heard_;  // url → last probe
  bool registry_reachable_ = false;
  std::optional<std::chrono::steady_clock::time_point> alone_since_;
  std::string duplicate_;
  std::size_t refreshes_ = 0;
};

}  // namespace status::node
