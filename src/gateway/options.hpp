#pragma once
// The gateway's configuration: one option table (command line and STATUS_* environment) and the
// typed options built from it.

#include "common/config.hpp"
#include "common/http_client.hpp"
#include "common/http_server.hpp"
#include "gateway/balancer.hpp"
#include "gateway/instance.hpp"

#include <chrono>
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
  std::size_t response_body_limit = 64 * 1024 * 1024;
};

struct GatewayOptions {
  common::ServerOptions server;
  std::vector<common::BaseUrl> registries;
  std::string app = "STATUS-NODE";
  std::vector<std::pair<std::string, unsigned short>> upstreams;  // --upstream HOST:PORT
  std::string web_root;
  ProxyOptions proxy;
  EjectionPolicy ejection;
  double rate_limit = 0;  // requests/s per client IP; 0 = off
  double rate_burst = 0;
  milliseconds registry_interval{500};
  milliseconds registry_timeout{1000};
  milliseconds probe_interval{100};
  std::string log_level = "info";
};

/// Every option the gateway understands, with defaults and help.
std::vector<common::Option> option_table();

/// Typed options from a parsed Config. Throws common::ConfigError with one clear line.
GatewayOptions options_from_config(const common::Config& config);

/// "HOST:PORT" (or "http://HOST:PORT") → host and port; nullopt when malformed.
std::optional<std::pair<std::string, unsigned short>> parse_host_port(std::string_view text);

/// The default web root: <repo>/web next to the build tree of this binary.
std::string default_web_root();

}  // namespace status::gateway
