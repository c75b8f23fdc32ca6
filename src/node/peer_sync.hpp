#pragma once
// Node-to-node state transfer over HTTP (internal endpoints, never routed by the gateway):
// bootstrap from a peer's snapshot, anti-entropy by bucket digests, and synchronous pushes for
// `X-Consistency: all`.

#include "node/api.hpp"
#include "node/store.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace status::node {

class PeerSync {
 public:
  /// Digest resolution of anti-entropy: ~100 statuses per bucket at 100,000 statuses, so a
  /// difference costs a small transfer. Divides Store::kDigestSlots (folded, not recomputed).
  static constexpr std::size_t kBuckets = 1024;
  static constexpr std::size_t kBucketsPerPull = 128;  // bucket indices per /internal/bucket
  /// `peers` returns the base URLs (http://host:port) of the other nodes, each call afresh.
  PeerSync(Store& store, std::function<std::vector<std::string>()> peers);

  /// Loads the full state of the first peer that answers. False if none answered.
  bool bootstrap();
  /// One round against every peer: compares digests, and pulls the buckets that still differ
  /// `recheck` later (a difference that is only a change in flight does not count). Returns
  /// how many states changed here.
  std::size_t anti_entropy_round(std::chrono::milliseconds recheck = std::chrono::milliseconds(300));
  /// Pushes `s` to every peer and waits (up to `timeout`) for each to commit it.
  ReplicationReport push_all(const Status& s, std::chrono::milliseconds timeout);

  // Internal endpoint bodies (served by Node).
  static std::string digest_json(const Store& store, std::size_t buckets);

 private:
  std::size_t apply_and_wait(std::vector<Status> states);
  /// The buckets where `url`'s digest differs from ours; nullopt if it did not answer.
  std::optional<std::vector<std::size_t>> compare(const std::string& url);
  Store& store_;
  std::function<std::vector<std::string>()> peers_;
};

}  // namespace status::node
