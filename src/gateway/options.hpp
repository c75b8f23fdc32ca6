#pragma once
// The gateway's configuration: one option table (command line and STATUS_* environment) and the
// typed options built from it.

#include "common/config.hpp"
#include "common/http_client.hpp"
#include "common/http_server.hpp"
#include "common/log.hpp"
#include "gateway/balancer.hpp"
#include "gateway/instance.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace status::gateway {

using std::chrono::milliseconds;

struct ProxyOptions {
  LbPolicy policy = LbPolicy::kRoundRobin;
  milliseconds connect_timeout{1000};     // TCP connect to a node
  milliseconds first_byte_timeout{5000};  // request sent → response head received
  milliseconds response_timeout{30000};   // whole exchange, all attempts (not streams)
  int max_retries = 2;                    // extra attempts, each on another instance
  std::size_t max_idle_per_instance = 64;  // kept-alive connections per instance and I/O thread
  milliseconds pool_idle{15000};          // an idle pooled connection older than this is closed
  // What the gateway accepts from a node; beyond → 502 (never unbounded memory). The largest
  // answer of the API, a page of 1000 statuses of 1000 characters each, is about 6 MiB.
  std::size_t response_body_limit = 8 * 1024 * 1024;  // buffered answers (not streams)
  std::size_t response_header_limit = 16 * 1024;       // status line and header fields
  std::size_t response_fields_limit = 100;             // header fields
};

struct GatewayOptions {
  common::ServerOptions server;
  std::vector<common::BaseUrl> registries;
  std::string app = "STATUS-NODE";
  struct Upstream {
    std::string host;
    unsigned short port = 0;
    bool tls = false;  // given as https://HOST:PORT
  };
  std::vector<Upstream> upstreams;  // --upstream [http[s]://]HOST:PORT
  std::string web_root;
  /// --tile-url: the map's online tiles (a URL template), filled into the page's
  /// <meta name="tile-url"> and allowed in the CSP's img-src; empty: no online tiles.
  std::string tile_url;
  std::string tile_attribution;  // --tile-attribution, into <meta name="tile-attribution">
  std::string tile_source;       // the CSP source of tile_url's host (finish_options)
  /// The URL clients reach this gateway at; registered (app STATUS-GATEWAY) at the registries
  /// and listed by /api/gateways. Empty: http[s]://HOST:PORT with advertised_host.
  std::string advertise_url;
  /// Derived (finish_options): the host of advertise_url; without one the bind address, or when
  /// bound to any the address this host routes to the registries from (127.0.0.1 when there is
  /// no registry, with a warning). Also an allowed Host.
  std::string advertised_host;
  std::string gateway_app = "STATUS-GATEWAY";
  ProxyOptions proxy;
  EjectionPolicy ejection;
  double rate_limit = 100;  // requests/s per client (address; IPv6: /64); 0 = off
  double rate_burst = 200;
  /// Host header values answered (DNS rebinding): "name" (any port) or "name:port"; the
  /// loopback names always, then --allowed-host, or by default the bind address. Empty with
  /// any_host. Other Host values → 421.
  std::vector<std::string> allowed_hosts;
  bool any_host = false;
  /// With TLS: a plain HTTP listener on this port answering 308 to https:// (/health served);
  /// 0: none.
  unsigned short redirect_port = 0;
  long hsts_max_age = 31536000;  // Strict-Transport-Security on HTTPS answers; 0: not sent
  std::size_t max_streams_per_client = 32;  // /api/events streams per client; 0 = no cap
  common::Networks metrics_from;            // who may read /metrics
  milliseconds registry_interval{500};
  milliseconds registry_timeout{1000};
  milliseconds registry_empty_grace{5000};
  /// How long a gateway gone from the registry's list stays an allowed CORS origin: the pages
  /// it served moved to the other gateways and keep calling them from its origin.
  std::chrono::seconds gateway_origin_ttl{86400};
  milliseconds probe_interval{100};
  common::LogOptions log;
};

/// Every option the gateway understands, with defaults and help, storing into `o`.
std::vector<common::Option> option_table(GatewayOptions& o);

/// After the table was parsed into `o`: the rules between options and the derived values.
/// Throws common::ConfigError with one clear line.
void finish_options(GatewayOptions& o, const common::Config& c);

/// Parse and finish in one (tests). Throws common::ConfigError.
GatewayOptions options_from(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env = {});

/// The Host names answered without --allowed-host: the bind address (unless a wildcard),
/// 127.0.0.1, localhost, ::1, and `advertise_host` if given; each with any port.
std::vector<std::string> default_allowed_hosts(const std::string& bind,
                                               const std::string& advertise_host = {});

/// "HOST:PORT" (or "http://HOST:PORT") → host and port; nullopt when malformed.
std::optional<std::pair<std::string, unsigned short>> parse_host_port(std::string_view text);

/// The default web root: <repo>/web next to the build tree of this binary.
std::string default_web_root();

}  // namespace status::gateway
