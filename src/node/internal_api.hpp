#pragma once
// The node-to-node endpoints under /internal (never forwarded by the gateway): the node's state
// for probes, snapshot pages, digests, bucket pulls and pushed states.

#include "common/router.hpp"
#include "node/store.hpp"

#include <atomic>
#include <functional>
#include <string>

namespace status::node {

struct InternalDeps {
  Store& store;
  /// GET /internal/state's body (this node's id, incarnation, status, sync state, wall clock).
  std::function<std::string()> state_json;
  /// The node serves: only then does it hand out snapshot pages.
  std::function<bool()> ready;
  /// Counts pushed bodies that were not valid states.
  std::atomic<std::uint64_t>& malformed;
};

/// Adds the /internal routes to `r` with access `access`. `deps` must outlive the router.
void add_internal_routes(common::Router& r, InternalDeps& deps, int access);

}  // namespace status::node
