#include "gateway/options.hpp"

#include "common/eureka_client.hpp"
#include "common/server_main.hpp"
#include "gateway/cors.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace status::gateway {

using common::ConfigError;

std::vector<common::Option> option_table(GatewayOptions& o) {
  using common::Option;
  return common::server_table(o.server, {.port = 8080}, {
      common::base_url_option("registry-url", &o.registries,
                              "Eureka registry base URL, e.g. http://127.0.0.1:8761/eureka")
          .secret(),
      Option::text("registry-app", &o.app, "STATUS-NODE",
                   "application name of the nodes in the registry"),
      Option::duration<milliseconds>("registry-interval-ms", &o.registry_interval, 50, 60000, 500,
                                     "how often to poll the registry"),
      Option::duration<milliseconds>("registry-timeout-ms", &o.registry_timeout, 50, 60000, 1000,
                                     "timeout of one registry poll"),
      Option::duration<std::chrono::seconds>(
          "gateway-origin-ttl", &o.gateway_origin_ttl, 0, 604800, 86400,
          "s: a gateway gone from the registry's list stays an allowed CORS origin this long (the "
          "pages it served carry on through the others)"),
      Option::duration<milliseconds>("registry-empty-grace-ms", &o.registry_empty_grace, 0, 600000,
                                     5000, "a registry that answers with no node at all, after it listed some, is believed only after this long (a restarted registry is empty until the nodes renew)"),
      Option::each(
          "upstream",
          [&o](const std::string& v) {
            bool tls = v.starts_with("https://");
            auto hp = parse_host_port(tls ? std::string_view(v).substr(8) : std::string_view(v));
            if (hp) o.upstreams.push_back({hp->first, hp->second, tls});
            return hp.has_value();
          },
          "HOST:PORT", "",
          "a node as HOST:PORT (plain) or https://HOST:PORT, in addition to the registry's"),
      Option::text("advertise-url", &o.advertise_url, "",
                   "the URL clients reach this gateway at: registered at the registries as app "
                   "STATUS-GATEWAY and listed by GET /api/gateways")
          .default_shown("http[s]://BIND:PORT")
          .valid_if(common::is_base_url, "an http:// or https:// URL"),
      Option::text("web-root", &o.web_root, "", "directory with the web client")
          .valid_if(
              [](const std::string& v) {
                std::error_code ec;
                return std::filesystem::is_directory(v, ec);
              },
              "a readable directory")
          .default_shown("<repo>/web"),
      Option::text("tile-url", &o.tile_url, "",
                   "online map tiles for the web client, a URL template such as "
                   "https://tile.example.org/{z}/{x}/{y}.png ({s} as the first label of the host: "
                   "Leaflet's subdomains; {r}: retina); the page's CSP allows exactly this host. "
                   "Empty: no online tiles, the page draws its offline map only")
          .valid_if([](const std::string& v) { return tile_image_source(v).has_value(); },
                    "an http:// or https:// URL template with {z}, {x} and {y} (and optionally "
                    "{s}, {r}), without spaces or quotes, at most 2048 characters"),
      Option::text("tile-attribution", &o.tile_attribution, "",
                   "the attribution the map shows with the --tile-url tiles, e.g. "
                   "\"© OpenStreetMap contributors\"")
          .valid_if(
              [](const std::string& v) {
                if (v.size() > kMaxTileAttribution) return false;
                for (unsigned char c : v)
                  if (c < 0x20 || c == 0x7f) return false;
                return true;
              },
              "a text of at most 512 bytes without control characters"),
      Option::choice<LbPolicy>("lb-policy", &o.proxy.policy,
                               {{"round-robin", LbPolicy::kRoundRobin},
                                {"p2c", LbPolicy::kP2c},
                                {"rr", LbPolicy::kRoundRobin},
                                {"least-request", LbPolicy::kP2c}},
                               "round-robin",
                               "load balancing: round-robin (rr) or p2c (least-request: the less loaded of two)"),
      Option::number("rate-limit", &o.rate_limit, 0, 1e9, "100",
                     "requests per second per client address, IPv6 per /64 (0: no limit); over it: 429 with Retry-After"),
      Option::number("rate-burst", &o.rate_burst, 0, 1e9, "",
                     "burst size of the rate limit (at least 1 while there is a limit)")
          .default_shown("2 x rate-limit"),
      Option::each(
          "allowed-host",
          [&o](const std::string& h) {
            if (h == "*") {
              o.any_host = true;
              return true;
            }
            if (h.find_first_of(" /\t@") != std::string::npos) return false;
            o.allowed_hosts.push_back(h);
            return true;
          },
          "a host name, address or NAME:PORT, or '*'", "",
          "a Host the gateway answers to, NAME or NAME:PORT (against DNS rebinding; others get 421); '*' for any; 127.0.0.1, localhost and ::1 are always answered")
          .comma_lists()
          .default_shown("also the bind address"),
      Option::integer("redirect-port", &o.redirect_port, 0, 65535, 0,
                      "with --tls-cert: also serve plain HTTP on this port, answering 308 to the "
                      "https:// URL (/health is served; 0: off)"),
      Option::integer("hsts-max-age", &o.hsts_max_age, 0, 63072000, 31536000,
                      "with --tls-cert: Strict-Transport-Security max-age (seconds) on every "
                      "answer (0: no header)"),
      Option::integer("max-streams-per-client", &o.max_streams_per_client, 0, 1000000, 32,
                      "open /api/events streams one client address may hold (0: no cap)"),
      Option::integer("max-upstream-body", &o.proxy.response_body_limit, 1024, 1024LL * 1024 * 1024,
                      8388608, "bytes of a node's (buffered) answer the gateway accepts; larger: 502"),
      Option::each(
          "metrics-from",
          [&o](const std::string& v) {
            o.metrics_from.add(v);  // throws std::invalid_argument
            return true;
          },
          "an ADDRESS or ADDRESS/PREFIX (prefix 0-32 for IPv4, 0-128 for IPv6)",
          "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
          "addresses that may read /metrics (it shows the nodes' internal addresses); others get 403")
          .comma_lists(),
      Option::duration<milliseconds>("pool-idle-ms", &o.proxy.pool_idle, 100, 3600000, 15000,
                                     "an idle pooled connection to a node is closed after this long"),
      Option::duration<milliseconds>("connect-timeout-ms", &o.proxy.connect_timeout, 1, 600000, 1000,
                                     "timeout for connecting to a node"),
      Option::duration<milliseconds>("first-byte-timeout-ms", &o.proxy.first_byte_timeout, 1,
                                     600000, 5000, "timeout from sending a request to the answer's head"),
      Option::duration<milliseconds>("response-timeout-ms", &o.proxy.response_timeout, 1, 3600000,
                                     30000, "timeout of a whole proxied exchange (not streams)"),
      Option::integer("max-retries", &o.proxy.max_retries, 0, 5, 2,
                      "retries of a failed request, each on another node"),
      Option::duration<milliseconds>("eject-backoff-ms", &o.ejection.base, 1, 600000, 250,
                                     "first ejection backoff of a failing node (doubles)"),
      Option::duration<milliseconds>("eject-max-backoff-ms", &o.ejection.max, 1, 3600000, 8000,
                                     "longest ejection backoff"),
  }, o.log);
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

void finish_options(GatewayOptions& o, const common::Config& c) {
  if (o.app.empty()) throw ConfigError("--registry-app must not be empty");
  if (o.web_root.empty()) o.web_root = default_web_root();
  o.tile_source = o.tile_url.empty() ? std::string() : tile_image_source(o.tile_url).value_or("");
  if (!o.tile_url.empty() && o.tile_source.empty())
    throw ConfigError("--tile-url is not a valid tile URL template");
  if (!o.tile_attribution.empty() && o.tile_url.empty())
    throw ConfigError("--tile-attribution needs --tile-url (it is shown with those tiles)");
  // The name the gateway is advertised under (the other gateways' pages call it by that name).
  std::string advertised;
  if (!o.advertise_url.empty()) {
    try {
      auto b = common::parse_base_url(o.advertise_url);
      if (!b.user.empty()) throw ConfigError("--advertise-url must not carry credentials");
      advertised = b.host;
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("--advertise-url: ") + e.what());
    }
    o.advertised_host = advertised;
  } else if (auto host = common::reachable_host(o.server.bind, o.registries)) {
    o.advertised_host = *host;
    if (common::is_wildcard_bind(o.server.bind))
      spdlog::info("event=advertise host={} bind={} source=route", *host, o.server.bind);
  } else {
    o.advertised_host = "127.0.0.1";
    spdlog::warn("event=advertise host=127.0.0.1 bind={} reason=\"no registry to route to; "
                 "other hosts cannot reach this address: give --advertise-url\"", o.server.bind);
  }
  if (o.any_host) {
    o.allowed_hosts.clear();
  } else if (o.allowed_hosts.empty()) {
    o.allowed_hosts = default_allowed_hosts(o.server.bind, advertised);
    // Bound to any address: the one it registers under too.
    if (common::is_wildcard_bind(o.server.bind) &&
        std::find(o.allowed_hosts.begin(), o.allowed_hosts.end(), o.advertised_host) ==
            o.allowed_hosts.end())
      o.allowed_hosts.push_back(o.advertised_host);
  } else {
    // The loopback names stay: no page of another origin can make a browser send them, and
    // local tools and probes use them.
    auto given = std::move(o.allowed_hosts);
    o.allowed_hosts = default_allowed_hosts("0.0.0.0", advertised);
    for (auto& h : given)
      if (std::find(o.allowed_hosts.begin(), o.allowed_hosts.end(), h) == o.allowed_hosts.end())
        o.allowed_hosts.push_back(std::move(h));
  }
  if (!c.has("rate-burst")) o.rate_burst = 2 * o.rate_limit;
  if (o.rate_limit > 0 && o.rate_burst < 1) throw ConfigError("--rate-burst must be at least 1");
  if (o.ejection.max < o.ejection.base) o.ejection.max = o.ejection.base;
  if (o.redirect_port != 0 && o.server.tls_cert_file.empty())
    throw ConfigError("--redirect-port needs --tls-cert and --tls-key (it redirects to HTTPS)");
  if (o.redirect_port != 0 && o.redirect_port == o.server.port)
    throw ConfigError("--redirect-port must differ from --port");
  if (o.registries.empty() && o.upstreams.empty())
    throw ConfigError("give at least one --registry-url or --upstream");
}

GatewayOptions options_from(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env) {
  GatewayOptions o;
  common::Config c("status-gateway", "", option_table(o));
  c.parse(args, env);
  finish_options(o, c);
  return o;
}

}  // namespace status::gateway
