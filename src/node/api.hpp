#pragma once
// The status REST API (contract section 2) as functions of (request, dependencies).

#include "common/http_server.hpp"
#include "common/router.hpp"
#include "node/auth.hpp"
#include "node/event_hub.hpp"
#include "node/store.hpp"
#include "node/write_path.hpp"

#include <functional>
#include <optional>
#include <string>
#include <variant>

namespace status::node {

struct ApiDeps {
  Store& store;
  EventHub& events;
  const WriteAnswerer& answerer;
  std::string node_id;
  /// Why /api cannot be served now (starting, loading a snapshot, draining): 503 + Retry-After.
  std::function<std::optional<std::string>()> unavailable = [] { return std::nullopt; };
  /// Why writes are refused now (the clock is skewed, or not yet measured against a peer).
  std::function<std::optional<std::string>()> writes_refused = [] { return std::nullopt; };
  /// With --auth required: who may write (only the user, or an admin). Null with --auth off.
  const Authenticator* auth = nullptr;
  /// Proxies (--trusted-proxy) whose X-Forwarded-For names the client, for the per-client cap
  /// on event streams. Null: none.
  const common::Networks* trusted_proxies = nullptr;
};

/// Access rules of the node's routes (common::Router's `access`).
enum Access : int {
  kOpen = 0,     // always served (/health, /metrics)
  kServing = 1,  // /api: 503 + Retry-After while the node is not serving (deps.unavailable)
  kCluster = 2,  // /internal: other nodes only (the cluster key)
  kReading = 3,  // /api reads: as kServing, and 401 without credentials with --read-access authenticated
};

/// Adds the /api routes (contract §2) to `r`. `deps` must outlive the router.
void add_api_routes(common::Router& r, ApiDeps& deps);
/// The access rules of the /api routes: kServing and kReading answer 503 while
/// deps.unavailable() says why; kReading needs credentials with --read-access authenticated.
std::optional<common::HttpError> api_guard(const ApiDeps& deps, const common::Request& req,
                                           const common::RouteMatch& m);
/// The headers of every answer the router makes itself (X-Served-By, X-Request-Id).
void decorate_api(const ApiDeps& deps, common::Response& res, const common::RouteMatch& m);
/// Routes one /api request through a router of its own (tests; the node's router holds the
/// same routes). Always completes `ex` (or turns it into an event stream).
void handle_api(common::Request&& req, const common::ExchangePtr& ex, ApiDeps& deps);

// ---- the pieces, each testable without sockets ----

/// The body says it is JSON: application/json or application/*+json (any parameters). A
/// missing type and the form types are refused (415), so no cross-site form can write.
bool json_content_type(const common::Request& req);
/// Sends `res` with the headers every /api answer carries (X-Served-By, X-Request-Id).
void respond_api(const common::ExchangePtr& ex, const common::RouteMatch& m,
                 const std::string& node, common::Response&& res);
/// If-Match / If-None-Match → preconditions (entity tags unquoted; weak tags compare as strong).
Preconditions parse_preconditions(const common::Request& req);
/// GET /api/statuses?limit=&offset=
common::Response list_statuses(const common::Request& req, const StatusIndex& index);
/// GET /api/statuses/{username}
common::Response get_status(const common::Request& req, const std::string& username,
                            const StatusIndex& index);
/// The answer to a completed write.
common::Response write_response(const common::Request& req, const WriteResult& r);
/// A problem+json answer shaped for `req` (HTTP version, keep-alive).
common::Response problem_for(const common::Request& req, int status, std::string_view detail);

}  // namespace status::node
