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
  /// Another node probed this one (its id and URL, from X-Status-Node-Id and -Url).
  std::function<void(std::string_view node_id, const std::string& url)> probed_by =
      [](std::string_view, const std::string&) {};
};

/// Adds the /internal routes to `r` with access `access`. `deps` must outlive the router.
void add_internal_routes(common::Router& r, InternalDeps& deps, int access);

}  // namespace status::node
