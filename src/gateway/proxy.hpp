#pragma once
// The reverse proxy: forwards /api requests to the nodes over kept-alive connections, with
// balancing, retries on another node, passive health and timeouts.

#include "common/http_server.hpp"
#include "gateway/instance.hpp"
#include "gateway/options.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace status::gateway {

/// Counters for /metrics; any thread may read.
struct ProxyStats {
  std::atomic<long> retries{0};          // extra attempts made
  std::atomic<long> upstream_errors{0};  // failed attempts (connect, reset, timeout, 503)
  std::atomic<long> no_instance{0};      // requests answered 503: nobody to send them to
  std::atomic<long> streams{0};          // streamed answers currently open
  std::atomic<long> oversized{0};        // node answers over the gateway's limits (502)
  std::atomic<long> not_retried{0};      // failures after a request was sent that may not be
                                         // repeated (POST, PATCH, conditional writes)
};

/// Whether a request may be sent again to another node after it was (perhaps) delivered to one
/// that then failed to answer: GET, HEAD and OPTIONS, and PUT and DELETE without conditions
/// (repeating one leaves the same state). Not POST, PATCH or other methods, nor a conditional
/// PUT/DELETE (If-Match, If-None-Match, If-Unmodified-Since): the first node may have acted on
/// it, and a second execution would answer differently (e.g. 412).
bool may_resend(const common::Request& req);

/// One connection pool and one balancing state per I/O thread (the io_contexts given to
/// attach()), so the request path takes no lock. forward() must run on the thread of the
/// exchange's executor, which must be one of those io_contexts.
class Proxy {
 public:
  Proxy(ProxyOptions options, Directory& directory);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  /// Call once, before any forward(): one pool per I/O thread of `server`, whose loops (and
  /// socket deadlines) the proxy shares.
  void attach(common::HttpServer& server);

  /// Sends `wire` (the client request `req`, checked and serialized for the upstream by
  /// upstream_request()) to a node and completes `ex` with the node's answer, a pass-through
  /// stream (text/event-stream), or a 502/503/504 problem+json. `slot` (e.g. the client's
  /// event-stream count) is held until the exchange, or its stream, is over.
  void forward(const common::Request& req, std::string wire, common::ExchangePtr ex,
               std::string request_id, common::PerClientCounter::Slot slot = {});

  /// Closes the pooled idle connections. Only once the I/O threads have stopped (their sockets
  /// must go before the io_contexts and deadline lists they belong to).
  void close_idle();

  const ProxyStats& stats() const { return stats_; }

  struct ThreadState;  // implementation detail
  class Call;

 private:
  ThreadState* state_for(const common::ExchangePtr& ex);
  ProxyOptions options_;
  Directory& directory_;
  ProxyStats stats_;
  std::vector<std::unique_ptr<ThreadState>> states_;
};

}  // namespace status::gateway
