#pragma once
// Node-to-node state transfer over HTTP (internal endpoints, never routed by the gateway):
// loading a peer's snapshot page by page, anti-entropy by bucket digests, and the pushes of
// `X-Consistency: all` writes (one worker per peer: no thread per write).

#include "common/background.hpp"
#include "common/metrics.hpp"
#include "node/peer_directory.hpp"
#include "node/store.hpp"

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

namespace status::node {

/// Outcome of an `X-Consistency: all` wait: how many nodes had applied the write of how many.
struct ReplicationReport {
  int applied = 0;
  int expected = 0;
};

class PeerSync {
 public:
  /// Digest resolution of anti-entropy: ~100 statuses per bucket at 100,000 statuses, so a
  /// difference costs a small transfer. Divides StatusIndex::kDigestSlots.
  static constexpr std::size_t kBuckets = 1024;
  static constexpr std::size_t kBucketsPerPull = 128;  // bucket indices per /internal/bucket
  /// Digest slots per snapshot page: 64 pages, ~16,000 statuses each at 1,000,000.
  static constexpr std::size_t kSlotsPerPage = 64;

  /// `headers` go on every request to a peer (the cluster key).
  PeerSync(Store& store, PeerDirectory& peers, common::Metrics& metrics, common::Headers headers = {});
  ~PeerSync();
  void stop();

  /// Loads the whole state of `url` page by page; with `replace` (a resync after a lost
  /// backlog) stale local entries the peer lacks are dropped. False if the peer stopped
  /// answering, stopped being UP, or `deadline` passed: the caller starts over.
  bool load_snapshot(const std::string& url, bool replace,
                     std::chrono::steady_clock::time_point deadline);
  /// One round against every UP peer: compares digests, and pulls the buckets that still differ
  /// after `pause` (a difference that is only a change in flight does not count). Returns how
  /// many states changed here. `pause(d)` sleeps (false: stop).
  std::size_t anti_entropy_round(const std::function<bool(std::chrono::milliseconds)>& pause);

  /// Pushes `s` to every live peer (PeerDirectory::live_urls) and calls `done` once all applied it or at `deadline`,
  /// whichever is first (from the push worker or the deadline sweeper thread).
  void push_all(const Status& s, std::chrono::steady_clock::time_point deadline,
                std::function<void(ReplicationReport)> done);

  // Internal endpoint bodies (served by the node).
  static std::string digest_json(const Store& store, std::size_t buckets);

 private:
  struct PushOp;
  class PushWorker;
  std::size_t apply_and_wait(std::vector<Status> states);
  /// The buckets where `url`'s digest differs from ours; nullopt if it did not answer.
  std::optional<std::vector<std::size_t>> compare(const std::string& url);
  void sweep_pushes();

  Store& store_;
  PeerDirectory& peers_;
  common::Metrics& metrics_;
  common::Headers headers_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<PushWorker>> workers_;
  std::vector<std::shared_ptr<PushOp>> open_ops_;  // for the deadline sweeper
  bool stopped_ = false;
  common::PeriodicTask push_sweeper_;
};

}  // namespace status::node
