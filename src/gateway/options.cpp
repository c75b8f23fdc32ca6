#include "gateway/options.hpp"

#include <filesystem>

namespace status::gateway {

using common::ConfigError;

std::vector<common::Option> option_table() {
  return {
      {"port", "8080", "port to listen on (0: any free port)"},
      {"bind", "127.0.0.1", "address to listen on"},
      {"registry-url", "", "Eureka registry base URL, e.g. http://127.0.0.1:8761/eureka", true},
      {"registry-app", "STATUS-NODE", "application name of the nodes in the registry"},
      {"registry-interval-ms", "500", "how often to poll the registry"},
      {"registry-timeout-ms", "1000", "timeout of one registry poll"},
      {"upstream", "", "a node as HOST:PORT, in addition to the registry's", true},
      {"threads", "", "number of I/O threads [default: number of cores]"},
      {"web-root", "", "directory with the web client [default: <repo>/web]"},
      {"lb-policy", "round-robin", "load balancing: round-robin or p2c (least outstanding)"},
      {"rate-limit", "0", "requests per second per client IP (0: no limit)"},
      {"rate-burst", "", "burst size of the rate limit [default: 2 x rate-limit]"},
      {"connect-timeout-ms", "1000", "timeout for connecting to a node"},
      {"first-byte-timeout-ms", "5000", "timeout from sending a request to the answer's head"},
      {"response-timeout-ms", "30000", "timeout of a whole proxied exchange (not streams)"},
      {"max-retries", "2", "retries of a failed request, each on another node"},
      {"eject-backoff-ms", "250", "first ejection backoff of a failing node (doubles)"},
      {"eject-max-backoff-ms", "8000", "longest ejection backoff"},
      {"idle-timeout-ms", "30000", "client keep-alive idle timeout"},
      {"log-level", "info", "debug, info, warn or error"},
  };
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
  o.rate_limit = c.get_double("rate-limit");
  if (o.rate_limit < 0) throw ConfigError("--rate-limit must not be negative");
  o.rate_burst = c.has("rate-burst") ? c.get_double("rate-burst") : 2 * o.rate_limit;
  if (o.rate_limit > 0 && o.rate_burst < 1) throw ConfigError("--rate-burst must be at least 1");
  o.registry_interval = ms("registry-interval-ms", 50, 60000);
  o.registry_timeout = ms("registry-timeout-ms", 50, 60000);
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
