#pragma once
// The registry's HTTP API as a plain function of (request, dependencies) → answer, so every
// route is tested without sockets. Eureka's REST API under /eureka and /eureka/v2, plus
// GET / (dashboard), /health and /metrics.

#include <string>

#include "common/http.hpp"
#include "common/router.hpp"
#include "common/metrics.hpp"
#include "registry/access.hpp"
#include "registry/registry.hpp"
#include "registry/replicator.hpp"

namespace status::registry {

struct HandlerDeps {
  Registry& registry;
  ReplicationSink* replication = nullptr;  // null: no peers
  common::Metrics* metrics = nullptr;
  const Access* access = nullptr;  // null: open, as Access{}
};

struct HandlerResult {
  common::Response response;
  std::string route;  // metrics label, e.g. "/eureka/apps/{app}/{id}"
};

/// Answers one request. Never throws for bad input: malformed bodies and paths are 4xx.
/// With credentials (deps.access not open): every request under /eureka but a GET needs valid
/// HTTP Basic credentials, and with protect_reads every request but GET /health (401 otherwise);
/// the replication header is accepted only from a peer user (403), who may change any instance;
/// anyone else may change only the instances registered with their credentials (409).
HandlerResult handle_request(const common::Request& req, const HandlerDeps& deps);

/// The table of the registry's routes: method, path, access rule (kept by `deps`, which must
/// outlive it). handle_request is serve() with a router made for the one call.
common::Router make_router(const HandlerDeps& deps);
/// Refuses a path with malformed escapes or control characters (400), drops empty segments,
/// and dispatches to `router`.
void serve(const common::Router& router, common::Request&& req, const common::ExchangePtr& ex);

/// Registers the registry's metric families (counters, the instance gauge) in `metrics`.
void describe_metrics(common::Metrics& metrics, const Registry& registry);

/// The HTML dashboard of GET /.
std::string render_dashboard(const Snapshot& snapshot, std::int64_t now_ms);

}  // namespace status::registry
