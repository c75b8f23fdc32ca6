#pragma once
// The gateway: one HTTP server that forwards /api/… to the nodes and answers /api/services,
// /health, /metrics and the web client's static files itself.

#include "common/eureka_client.hpp"
#include "common/http_server.hpp"
#include "common/metrics.hpp"
#include "common/router.hpp"
#include "gateway/cors.hpp"
#include "gateway/discovery.hpp"
#include "gateway/instance.hpp"
#include "gateway/options.hpp"
#include "gateway/proxy.hpp"
#include "gateway/rate_limiter.hpp"
#include "gateway/static_files.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace status::gateway {

/// /api/services: every known instance with the gateway's view of it, as a JSON array.
std::string services_json(const Snapshot& snapshot);

/// The URLs /api/gateways lists: `self` and every UP gateway of the registry (its metadata
/// "url", else its Eureka URL) that is an http(s) URL without credentials, each once, sorted.
std::vector<std::string> gateway_urls(const std::string& self,
                                      const std::vector<common::DiscoveredInstance>& registered);

/// At most this many gateway origins are allowed at once (listed and recently gone).
inline constexpr std::size_t kMaxGatewayOrigins = 256;

/// /api/gateways: [{"url":…}] for `self` and every UP gateway of the registry (its metadata
/// "url", else its Eureka URL), each once, sorted.
std::string gateways_json(const std::string& self,
                          const std::vector<common::DiscoveredInstance>& registered);

/// Owns the server, the proxy, the directory and the background threads. start() binds and runs
/// (throws std::system_error with a clear message, e.g. port in use, and ConfigError for an
/// upstream host that does not resolve) and, with registries, registers the gateway (app
/// STATUS-GATEWAY, its advertise URL); stop() deregisters first (clients move on), then stops
/// accepting, drains in-flight requests and joins. Start/stop from one thread.
class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  void start();
  void stop();
  unsigned short port() const { return server_->port(); }
  /// --advertise-url, or the URL made from the bind address and port (after start()).
  const std::string& advertise_url() const { return advertise_url_; }
  Directory& directory() { return *directory_; }

 private:
  void add_routes();
  /// Answers 421 (400 for several Host fields) when the request names a host this gateway does
  /// not serve (--allowed-host), against DNS rebinding (false: go on).
  bool misdirected(const common::Request& req, const common::ExchangePtr& ex);
  /// A request with an Origin field: a preflight (OPTIONS /api/… with
  /// Access-Control-Request-Method) is answered here, 204 for the origin of a gateway of the
  /// cluster, else 403 (true: answered); any other request from such an origin has `ex`
  /// wrapped so that its answer carries the CORS fields (false: go on).
  bool cors(const common::Request& req, common::ExchangePtr& ex);
  /// Makes the CORS policy and the page's CSP for `urls` (the /api/gateways list) current.
  void publish_cors(std::vector<std::string> urls);
  /// Answers 429 when the client is over its rate (false: go on).
  bool limited(const common::RouteMatch& m, const common::ExchangePtr& ex);
  common::Response health(const common::Request& req) const;
  /// The plain listener of --redirect-port: /health, else 308 to the same target over HTTPS.
  void redirect(common::Request&& req, common::ExchangePtr ex);
  std::string render_instance_metrics() const;

  GatewayOptions options_;
  common::Metrics metrics_;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<Proxy> proxy_;
  StaticFiles static_files_;
  std::optional<RateLimiter> limiter_;
  common::PerClientCounter streams_per_client_;  // open /api/events streams
  std::unique_ptr<Discovery> discovery_;
  std::unique_ptr<HealthProber> prober_;
  common::Router router_;
  std::unique_ptr<common::HttpServer> server_;
  std::unique_ptr<common::HttpServer> redirect_server_;  // --redirect-port
  std::string advertise_url_;
  std::unique_ptr<common::EurekaClient> registration_;  // as STATUS-GATEWAY
  Ticker gateways_ticker_;                               // polls the registry's STATUS-GATEWAY
  mutable std::mutex gateways_mu_;
  std::vector<common::DiscoveredInstance> gateways_;     // guarded by gateways_mu_
  CorsState cors_;                     // from the gateway list; read per request with Origin
  std::vector<std::string> cors_urls_;  // the list it was made from (the polling thread's)
  // Every gateway URL listed within --gateway-origin-ttl, and when last (the polling thread's).
  std::map<std::string, std::chrono::steady_clock::time_point> origins_seen_;
  bool started_ = false;
};

}  // namespace status::gateway
