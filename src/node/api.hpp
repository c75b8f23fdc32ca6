#pragma once
// The status REST API (contract section 2) as functions of (request, dependencies).

#include "common/http_server.hpp"
#include "node/event_hub.hpp"
#include "node/store.hpp"

#include <functional>
#include <string>
#include <variant>

namespace status::node {

/// Outcome of an `X-Consistency: all` wait: how many nodes had applied the write of how many.
struct ReplicationReport {
  int applied = 0;
  int expected = 0;
};

struct ApiDeps {
  Store& store;
  EventHub& events;
  std::string node_id;
  /// False while the node bootstraps or drains: /api answers 503 + Retry-After.
  std::function<bool()> ready = [] { return true; };
  /// Waits (asynchronously) until every UP node has applied `s`, then calls back. Empty when
  /// the node runs alone.
  std::function<void(const Status& s, std::function<void(ReplicationReport)>)> replicate_all;
  /// Defers an answer until outbox row `seq` is confirmed by the broker (or the broker is
  /// unreachable). Empty when the node runs alone.
  std::function<void(std::int64_t seq, std::function<void()>)> after_publish;
};

/// Handles any request under /api; always completes `ex` (or turns it into an event stream).
void handle_api(common::Request&& req, const common::ExchangePtr& ex, ApiDeps& deps);

// ---- the pieces, each testable without sockets ----

/// If-Match / If-None-Match → preconditions (entity tags unquoted; weak tags compare as strong).
Preconditions parse_preconditions(const common::Request& req);
/// GET /api/statuses?limit=&offset=
common::Response list_statuses(const common::Request& req, const Store& store);
/// GET /api/statuses/{username}
common::Response get_status(const common::Request& req, const std::string& username,
                            const Store& store);
/// The answer to a completed write.
common::Response write_response(const common::Request& req, const WriteResult& r);
/// A problem+json answer shaped for `req` (HTTP version, keep-alive).
common::Response problem_for(const common::Request& req, int status, std::string_view detail);

}  // namespace status::node
