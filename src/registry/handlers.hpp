#pragma once
// The registry's HTTP API as a plain function of (request, dependencies) → answer, so every
// route is tested without sockets. Eureka's REST API under /eureka and /eureka/v2, plus
// GET / (dashboard), /health and /metrics.

#include <string>

#include "common/http.hpp"
#include "common/metrics.hpp"
#include "registry/registry.hpp"
#include "registry/replicator.hpp"

namespace status::registry {

struct HandlerDeps {
  Registry& registry;
  ReplicationSink* replication = nullptr;  // null: no peers
  common::Metrics* metrics = nullptr;
};

struct HandlerResult {
  common::Response response;
  std::string route;  // metrics label, e.g. "/eureka/apps/{app}/{id}"
};

/// Answers one request. Never throws for bad input: malformed bodies and paths are 4xx.
HandlerResult handle_request(const common::Request& req, const HandlerDeps& deps);

/// Registers the registry's metric families (counters, the instance gauge) in `metrics`.
void describe_metrics(common::Metrics& metrics, const Registry& registry);

/// The HTML dashboard of GET /.
std::string render_dashboard(const Snapshot& snapshot, std::int64_t now_ms);

}  // namespace status::registry
