#include "gateway/options.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace status::gateway {

using common::ConfigError;

std::vector<common::Option> option_table() {
  std::vector<common::Option> table{
      {"port", "8080", "port to listen on (0: any free port)"},
      {"bind", "127.0.0.1", "address to listen on"},
      {"registry-url", "", "Eureka registry base URL, e.g. http://127.0.0.1:8761/eureka", true},
      {"registry-app", "STATUS-NODE", "application name of the nodes in the registry"},
      {"registry-interval-ms", "500", "how often to poll the registry"},
      {"registry-timeout-ms", "1000", "timeout of one registry poll"},
      {"registry-empty-grace-ms", "5000",
       "a registry that answers with no node at all, after it listed some, is believed only after this long (a restarted registry is empty until the nodes renew)"},
      {"upstream", "", "a node as HOST:PORT, in addition to the registry's", true},
      {"threads", "", "number of I/O threads [default: number of cores]"},
      {"web-root", "", "directory with the web client [default: <repo>/web]"},
      {"lb-policy", "round-robin", "load balancing: round-robin or p2c (least outstanding)"},
      {"rate-limit", "100", "requests per second per client address, IPv6 per /64 (0: no limit); over it: 429 with Retry-After"},
      {"rate-burst", "", "burst size of the rate limit [default: 2 x rate-limit]"},
      {"allowed-host", "",
       "a Host the gateway answers to, NAME or NAME:PORT (against DNS rebinding; others get 421); '*' for any; 127.0.0.1, localhost and ::1 are always answered [default: also the bind address]",
       true},
      {"max-streams-per-client", "32", "open /api/events streams one client address may hold (0: no cap)"},
      {"max-upstream-body", "8388608", "bytes of a node's (buffered) answer the gateway accepts; larger: 502"},
      {"metrics-from", "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
       "addresses (ADDRESS or ADDRESS/PREFIX) that may read /metrics (it shows the nodes' internal addresses); others get 403",
       true},
      {"pool-idle-ms", "15000", "an idle pooled connection to a node is closed after this long"},
      {"connect-timeout-ms", "1000", "timeout for connecting to a node"},
      {"first-byte-timeout-ms", "5000", "timeout from sending a request to the answer's head"},
      {"response-timeout-ms", "30000", "timeout of a whole proxied exchange (not streams)"},
      {"max-retries", "2", "retries of a failed request, each on another node"},
      {"eject-backoff-ms", "250", "first ejection backoff of a failing node (doubles)"},
      {"eject-max-backoff-ms", "8000", "longest ejection backoff"},
      {"idle-timeout-ms", "30000", "client keep-alive idle timeout"},
      {"log-level", "info", "debug, info, warn or error"},
  };
  for (auto& o : common::server_limit_options()) table.push_back(std::move(o));
  return table;
}

std::optional<std::pair<std::string, unsigned short>> parse_host_port(std::string_view text) {
  if (text.starts_with("http://")) text.remove_prefix(7);
  while (!text.empty() && text.back() == '/') text.remove_suffix(1);
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string_view p = text.substr(colon + 1);
  if (p.empty() || p.size() > 5) return std::nullopt;
  long port = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535 || host.empty() || host.find('/') != std::string::npos)
    return std::nullopt;
  return std::pair{host, static_cast<unsigned short>(port)};
}

std::vector<std::string> default_allowed_hosts(const std::string& bind,
                                               const std::string& advertise_host) {
  std::vector<std::string> out{"127.0.0.1", "localhost", "::1"};
  auto add = [&](const std::string& h) {
    if (!h.empty() && std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
  };
  if (bind != "0.0.0.0" && bind != "::") add(bind);
  add(advertise_host);
  return out;
}

std::string default_web_root() {
  namespace fs = std::filesystem;
  std::error_code ec;
  // <repo>/build*/bin/status-gateway → <repo>/web
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto web = exe.parent_path().parent_path().parent_path() / "web";
    if (fs::is_directory(web, ec)) return web.string();
  }
  return std::string(STATUS_SOURCE_DIR) + "/web";
}

GatewayOptions options_from_config(const common::Config& c) {
  GatewayOptions o;
  auto ms = [&](const char* name, long min, long max) {
    return milliseconds(c.get_int(name, min, max));
  };
  o.server.port = static_cast<unsigned short>(c.get_int("port", 0, 65535));
  o.server.bind = c.get("bind");
  o.server.threads = c.has("threads") ? static_cast<int>(c.get_int("threads", 1, 256))
                                      : common::default_threads();
  o.server.idle_timeout = ms("idle-timeout-ms", 100, 3600000);
  common::apply_server_limits(c, o.server);
  for (const auto& url : c.get_all("registry-url")) {
    try {
      o.registries.push_back(common::parse_base_url(url));
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("--registry-url: ") + e.what());
    }
  }
  o.app = c.get("registry-app");
  if (o.app.empty()) throw ConfigError("--registry-app must not be empty");
  for (const auto& u : c.get_all("upstream")) {
    auto hp = parse_host_port(u);
    if (!hp) throw ConfigError("--upstream '" + u + "' must be HOST:PORT");
    o.upstreams.push_back(*hp);
  }
  o.web_root = c.has("web-root") ? c.get("web-root") : default_web_root();
  std::error_code ec;
  if (c.has("web-root") && !std::filesystem::is_directory(o.web_root, ec))
    throw ConfigError("--web-root '" + o.web_root + "' is not a readable directory");
  auto policy = parse_lb_policy(c.get("lb-policy"));
  if (!policy) throw ConfigError("--lb-policy must be round-robin or p2c, got '" + c.get("lb-policy") + "'");
  o.proxy.policy = *policy;
  // Comma-separated lists are accepted in flags too (and are what the defaults are).
  auto list = [&](const char* name) {
    std::vector<std::string> out;
    for (const auto& v : c.get_all(name)) {
      std::stringstream ss(v);
      std::string one;
      while (std::getline(ss, one, ','))
        if (!one.empty()) out.push_back(one);
    }
    return out;
  };
  for (const auto& h : list("allowed-host")) {
    if (h == "*") {
      o.any_host = true;
      continue;
    }
    if (h.find_first_of(" /\t@") != std::string::npos)
      throw ConfigError("--allowed-host '" + h + "' must be a host name, address or NAME:PORT");
    o.allowed_hosts.push_back(h);
  }
  if (o.any_host) {
    o.allowed_hosts.clear();
  } else if (o.allowed_hosts.empty()) {
    o.allowed_hosts = default_allowed_hosts(o.server.bind);
  } else {
    // The loopback names stay: no page of another origin can make a browser send them, and
    // local tools and probes use them.
    auto given = std::move(o.allowed_hosts);
    o.allowed_hosts = default_allowed_hosts("0.0.0.0");
    for (auto& h : given)
      if (std::find(o.allowed_hosts.begin(), o.allowed_hosts.end(), h) == o.allowed_hosts.end())
        o.allowed_hosts.push_back(std::move(h));
  }
  o.max_streams_per_client =
      static_cast<std::size_t>(c.get_int("max-streams-per-client", 0, 1000000));
  o.proxy.response_body_limit =
      static_cast<std::size_t>(c.get_int("max-upstream-body", 1024, 1024L * 1024 * 1024));
  o.proxy.pool_idle = ms("pool-idle-ms", 100, 3600000);
  try {
    o.metrics_from = common::Networks(list("metrics-from"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("--metrics-from: ") + e.what());
  }
  o.rate_limit = c.get_double("rate-limit");
  if (o.rate_limit < 0) throw ConfigError("--rate-limit must not be negative");
  o.rate_burst = c.has("rate-burst") ? c.get_double("rate-burst") : 2 * o.rate_limit;
  if (o.rate_limit > 0 && o.rate_burst < 1) throw ConfigError("--rate-burst must be at least 1");
  o.registry_interval = ms("registry-interval-ms", 50, 60000);
  o.registry_timeout = ms("registry-timeout-ms", 50, 60000);
  o.registry_empty_grace = ms("registry-empty-grace-ms", 0, 600000);
  o.proxy.connect_timeout = ms("connect-timeout-ms", 1, 600000);
  o.proxy.first_byte_timeout = ms("first-byte-timeout-ms", 1, 600000);
  o.proxy.response_timeout = ms("response-timeout-ms", 1, 3600000);
  o.proxy.max_retries = static_cast<int>(c.get_int("max-retries", 0, 5));
  o.ejection.base = ms("eject-backoff-ms", 1, 600000);
  o.ejection.max = ms("eject-max-backoff-ms", 1, 3600000);
  if (o.ejection.max < o.ejection.base) o.ejection.max = o.ejection.base;
  o.log_level = c.get("log-level");
  if (o.log_level != "debug" && o.log_level != "info" && o.log_level != "warn" &&
      o.log_level != "error" && o.log_level != "trace" && o.log_level != "off")
    throw ConfigError("--log-level must be debug, info, warn or error, got '" + o.log_level + "'");
  if (o.registries.empty() && o.upstreams.empty())
    throw ConfigError("give at least one --registry-url or --upstream");
  return o;
}

}  // namespace status::gateway
