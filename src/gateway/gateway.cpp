#include "gateway/gateway.hpp"

#include "common/log.hpp"
#include "gateway/headers.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <filesystem>

namespace status::gateway {

namespace json = boost::json;
using common::ExchangePtr;
using common::Request;
using common::Response;

std::string services_json(const Snapshot& snapshot) {
  json::array out;
  for (const auto& i : snapshot.all) {
    json::object o;
    o["instanceId"] = i->id();
    o["url"] = i->url();
    o["status"] = i->status();
    o["healthy"] = i->healthy();
    o["inFlight"] = i->in_flight.load(std::memory_order_relaxed);
    o["requests"] = i->requests.load(std::memory_order_relaxed);
    out.push_back(std::move(o));
  }
  return json::serialize(out);
}

std::vector<std::string> gateway_urls(const std::string& self,
                                      const std::vector<common::DiscoveredInstance>& registered) {
  std::vector<std::string> urls{self};
  for (const auto& g : registered) {
    if (urls.size() > kMaxDiscovered) break;
    if (g.status != "UP") continue;
    auto it = g.metadata.find("url");
    const std::string& url = it != g.metadata.end() ? it->second : g.url;
    // The web client connects to these: http(s) URLs without credentials only, bounded.
    try {
      auto b = common::parse_base_url(url);
      if (!b.user.empty() || url.size() > 2048) continue;
    } catch (const std::invalid_argument&) {
      continue;
    }
    urls.push_back(url);
  }
  std::sort(urls.begin(), urls.end());
  urls.erase(std::unique(urls.begin(), urls.end()), urls.end());
  return urls;
}

std::string gateways_json(const std::string& self,
                          const std::vector<common::DiscoveredInstance>& registered) {
  json::array out;
  for (auto& u : gateway_urls(self, registered)) out.push_back(json::object{{"url", u}});
  return json::serialize(out);
}

namespace {

// A bounded set of route labels for metrics.
const char* api_route_label(std::string_view path) {
  if (path == "/api/statuses") return "/api/statuses";
  if (path.starts_with("/api/statuses/"))
    return path.ends_with("/history") ? "/api/statuses/{username}/history" : "/api/statuses/{username}";
  if (path == "/api/events") return "/api/events";
  return "/api/(other)";
}

}  // namespace

Gateway::Gateway(GatewayOptions options)
    : options_(std::move(options)), static_files_(options_.web_root, {options_.tile_url, options_.tile_attribution}),
      streams_per_client_(options_.max_streams_per_client) {
  std::vector<Discovered> statics;
  for (const auto& [host, port, tls] : options_.upstreams) {
    auto ip = resolve_host(host);
    if (!ip) throw common::ConfigError("--upstream " + host + ": cannot resolve the host");
    statics.push_back({host + ":" + std::to_string(port), host, *ip, port, "UP", tls});
  }
  directory_ = std::make_unique<Directory>(std::move(statics), options_.ejection);
  proxy_ = std::make_unique<Proxy>(options_.proxy, *directory_);
  if (options_.rate_limit > 0) limiter_.emplace(options_.rate_limit, options_.rate_burst);
  metrics_.describe("gateway_upstream_requests_total", "counter",
                    "requests sent to each instance (attempts, including retries)");
  metrics_.describe("gateway_upstream_in_flight", "gauge", "outstanding requests per instance");
  metrics_.describe("gateway_upstream_healthy", "gauge", "1 unless the instance is ejected");
  metrics_.describe("gateway_retries_total", "counter", "extra attempts on another instance");
  metrics_.describe("gateway_upstream_errors_total", "counter",
                    "failed attempts: connect, reset, timeout, 503");
  metrics_.describe("gateway_streams_open", "gauge", "event streams currently proxied");
  metrics_.describe("gateway_upstream_oversized_total", "counter",
                    "node answers over the gateway's limits (answered 502)");
  metrics_.describe("gateway_not_retried_total", "counter",
                    "failed attempts not repeated elsewhere: the request may have been applied");
  metrics_.add_collector([this] { return render_instance_metrics(); });
  add_routes();
  for (auto [name, value] : kSecurityHeaders)
    options_.server.every_answer_headers.emplace_back(name, value);
  if (options_.redirect_port != 0) {
    // Before HSTS is added: a plain answer must not carry it (browsers ignore it there anyway).
    common::ServerOptions plain = options_.server;
    plain.port = options_.redirect_port;
    plain.threads = 1;
    plain.tls = nullptr;
    redirect_server_ = std::make_unique<common::HttpServer>(
        plain, [this](Request&& req, ExchangePtr ex) { redirect(std::move(req), std::move(ex)); },
        &metrics_);
  }
  if (options_.server.tls && options_.hsts_max_age > 0)
    options_.server.every_answer_headers.emplace_back(
        "Strict-Transport-Security", "max-age=" + std::to_string(options_.hsts_max_age));
  server_ = std::make_unique<common::HttpServer>(
      options_.server,
      [this](Request&& req, ExchangePtr ex) {
        if (misdirected(req, ex)) return;
        if (req.find(http::field::origin) != req.end() && cors(req, ex)) return;
        router_.dispatch(std::move(req), ex);
      },
      &metrics_);
  proxy_->attach(*server_);
}

Gateway::~Gateway() { stop(); }

void Gateway::start() {
  spdlog::info("event=web_root path={} files={} bytes={} hash={} tile_url={}", options_.web_root,
               static_files_.file_count(), static_files_.total_bytes(), static_files_.hash(),
               options_.tile_url.empty() ? "(none)" : options_.tile_url);
  if (!options_.registries.empty()) {
    discovery_ = std::make_unique<Discovery>(options_.registries, options_.app, *directory_,
                                             options_.registry_interval,
                                             options_.registry_timeout,
                                             options_.registry_empty_grace);
    discovery_->start();
  }
  prober_ = std::make_unique<HealthProber>(*directory_, options_.probe_interval,
                                           options_.proxy.connect_timeout);
  prober_->start();
  server_->start();
  if (redirect_server_) redirect_server_->start();
  started_ = true;
  advertise_url_ = options_.advertise_url;
  if (advertise_url_.empty()) {
    std::string host = options_.advertised_host;
    if (host.empty())  // options made without finish_options (tests)
      host = common::is_wildcard_bind(options_.server.bind) ? "127.0.0.1" : options_.server.bind;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    advertise_url_ = std::string(options_.server.tls ? "https" : "http") + "://" + host + ":" +
                     std::to_string(server_->port());
  }
  publish_cors(gateway_urls(advertise_url_, {}));
  if (!options_.registries.empty()) {
    auto self = common::parse_base_url(advertise_url_);
    common::InstanceInfo info;
    info.app = options_.gateway_app;
    info.host = self.host;
    info.port = self.port;
    info.secure = self.tls;
    info.metadata["url"] = advertise_url_;
    registration_ = std::make_unique<common::EurekaClient>(options_.registries, info);
    registration_->start("UP");
    gateways_ticker_.start(std::chrono::seconds(2), [this] {
      auto found = common::fetch_instances(options_.registries, options_.gateway_app,
                                           options_.registry_timeout);
      if (!found) return;  // unreachable: keep the last list
      auto listed = gateway_urls(advertise_url_, *found);
      {
        std::lock_guard lock(gateways_mu_);
        gateways_ = std::move(*found);
      }
      // A gateway that left the list (stopped, hung, killed) stays an allowed origin for a
      // while: the pages it served have moved to the others and still call from its origin.
      auto now = std::chrono::steady_clock::now();
      for (const auto& u : listed) origins_seen_[u] = now;
      std::erase_if(origins_seen_, [&](const auto& kv) {
        return now - kv.second > options_.gateway_origin_ttl;
      });
      while (origins_seen_.size() > kMaxGatewayOrigins) {  // bounded: the oldest go first
        auto oldest = std::min_element(origins_seen_.begin(), origins_seen_.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
        origins_seen_.erase(oldest);
      }
      std::vector<std::string> urls;
      for (const auto& [u, _] : origins_seen_) urls.push_back(u);
      if (urls != cors_urls_) publish_cors(std::move(urls));  // this thread's own copy
    });
  }
}

void Gateway::stop() {
  gateways_ticker_.stop();
  if (registration_) registration_->stop();  // deregisters: clients pick another gateway
  if (redirect_server_) redirect_server_->stop();
  if (server_) {
    server_->stop();  // drains in-flight requests first, then joins the I/O threads
    proxy_->close_idle();
  }
  if (discovery_) discovery_->stop();
  if (prober_) prober_->stop();
}

std::string Gateway::render_instance_metrics() const {
  auto snap = directory_->snapshot();
  std::string out;
  auto line = [&](const char* name, const Instance& i, long v) {
    // The id comes from the registry: escaped, so it cannot end the label set (F15).
    out += std::string(name) + "{" +
           common::format_labels({{"instance", i.id()}, {"url", i.url()}}) + "} " +
           std::to_string(v) + "\n";
  };
  for (const auto& i : snap->all) {
    line("gateway_upstream_requests_total", *i, i->requests.load());
    line("gateway_upstream_in_flight", *i, i->in_flight.load());
    line("gateway_upstream_healthy", *i, i->healthy() ? 1 : 0);
  }
  const auto& s = proxy_->stats();
  out += "gateway_retries_total " + std::to_string(s.retries.load()) + "\n";
  out += "gateway_upstream_errors_total " + std::to_string(s.upstream_errors.load()) + "\n";
  out += "gateway_no_instance_total " + std::to_string(s.no_instance.load()) + "\n";
  out += "gateway_streams_open " + std::to_string(s.streams.load()) + "\n";
  out += "gateway_upstream_oversized_total " + std::to_string(s.oversized.load()) + "\n";
  out += "gateway_not_retried_total " + std::to_string(s.not_retried.load()) + "\n";
  return out;
}

Response Gateway::health(const Request& req) const {
  auto snap = directory_->snapshot();
  long healthy = 0;
  for (const auto& i : snap->routable) healthy += i->healthy() ? 1 : 0;
  json::object o;
  bool draining = server_->draining();
  o["status"] = draining ? "DRAINING" : "UP";
  o["instances"] = snap->routable.size();
  o["healthyInstances"] = healthy;
  return common::json_response(draining ? 503 : 200, json::serialize(o), req);
}

void Gateway::add_routes() {
  using common::RouteMatch;
  namespace http = common::http;
  router_.add(http::verb::get, "/health", [this](Request&& req, const RouteMatch&, const ExchangePtr& ex) {
    ex->respond(health(req));
  });
  router_.add(http::verb::get, "/metrics", [this](Request&& req, const RouteMatch& m,
                                                  const ExchangePtr& ex) {
    // It shows the nodes' internal addresses and traffic: for the operators' networks only.
    if (!options_.metrics_from.contains(ex->remote_address()))
      return router_.fail(m, ex, common::HttpError(403, "/metrics is not served to this address"));
    if (limited(m, ex)) return;
    auto res = Response{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics_.render();
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    ex->respond(std::move(res));
  });
  auto services = [this](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    if (limited(m, ex)) return;
    auto res = common::json_response(200, services_json(*directory_->snapshot()), req);
    res.set("X-Request-Id", m.request_id);
    ex->respond(std::move(res));
  };
  router_.add(http::verb::get, "/api/services", services);
  router_.add(http::verb::head, "/api/services", services);
  auto gateways = [this](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    if (limited(m, ex)) return;
    std::vector<common::DiscoveredInstance> known;
    {
      std::lock_guard lock(gateways_mu_);
      known = gateways_;
    }
    auto res = common::json_response(200, gateways_json(advertise_url_, known), req);
    res.set(http::field::cache_control, "no-store");
    ex->respond(std::move(res));
  };
  router_.add(http::verb::get, "/api/gateways", gateways);
  router_.add(http::verb::head, "/api/gateways", gateways);
  // Everything else under /api goes to a node, whatever the method: the node answers 404/405.
  auto forward = [this](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    ex->set_route(api_route_label(m.path));
    if (auto why = framing_error(req)) {
      // Ambiguous framing: the rest of this connection cannot be trusted. Answer and close.
      spdlog::warn("event=request_rejected reason=\"{}\" client={} request_id={}", *why,
                   ex->remote_address(), m.request_id);
      auto res = common::problem(400, *why, 11, false);
      res.set(http::field::connection, "close");
      return ex->respond(std::move(res));
    }
    // Event streams are long-lived: at most so many per client, so that one client cannot take
    // every node's subscriber slots.
    common::PerClientCounter::Slot slot;
    if (req.method() == http::verb::get && m.path == "/api/events") {
      slot = streams_per_client_.acquire(common::client_key(ex->remote_address()));
      if (!slot) {
        ex->set_route("(rate-limited)");
        return router_.fail(m, ex,
                            common::HttpError(429, "too many event streams from this address",
                                              {{"Retry-After", "5"}}));
      }
    }
    auto wire = upstream_request(req, ex->remote_address(), m.request_id,
                                 ex->trace().valid() ? ex->trace().traceparent() : std::string(),
                                 options_.server.tls != nullptr);
    proxy_->forward(req, std::move(wire), ex, m.request_id, std::move(slot));
  };
  router_.set_fallback(
      [this, forward](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
        if (limited(m, ex)) return;
        if (m.path == "/api" || m.path.starts_with("/api/")) return forward(std::move(req), m, ex);
        auto res = static_files_.serve(req, cors_.get()->csp);
        res.set("X-Request-Id", m.request_id);
        ex->respond(std::move(res));
      },
      "(static)");
  router_.set_decorate([](Response& res, const RouteMatch& m) { res.set("X-Request-Id", m.request_id); });
}

void Gateway::redirect(Request&& req, ExchangePtr ex) {
  std::string_view target(req.target().data(), req.target().size());
  auto path = common::split_target(target).first;
  if (path == "/health") return ex->respond(health(req));
  if (misdirected(req, ex)) return;
  if (!target.starts_with('/')) {
    ex->set_route("(redirect)");
    return ex->respond(common::problem(400, "the request target must be a path", 11, false));
  }
  // The name the client used (allowed by misdirected()), without its port; else the bind
  // address, or a loopback name when bound to any.
  std::string host;
  if (auto h = req.find(http::field::host); h != req.end()) {
    std::string_view v(h->value().data(), h->value().size());
    auto colon = v.rfind(':');
    if (colon != std::string_view::npos && v.find(']', colon) == std::string_view::npos)
      v = v.substr(0, colon);
    host = v;
  }
  if (host.empty())
    host = options_.server.bind == "0.0.0.0" || options_.server.bind == "::"
               ? "localhost"
               : options_.server.bind.find(':') != std::string::npos
                     ? "[" + options_.server.bind + "]"
                     : options_.server.bind;
  auto port = server_->port();
  ex->set_route("(redirect)");
  Response res{http::status::permanent_redirect, 11};
  res.set(http::field::location, "https://" + host + (port == 443 ? "" : ":" + std::to_string(port)) +
                                     std::string(target));
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = "This gateway is served over HTTPS.\n";
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  ex->respond(std::move(res));
}

bool Gateway::misdirected(const Request& req, const ExchangePtr& ex) {
  if (options_.any_host) return false;
  auto [first, last] = req.equal_range(http::field::host);
  if (first == last) return false;  // HTTP/1.0 without Host: not a browser, nothing to rebind
  auto [path, query] =
      common::split_target(std::string_view(req.target().data(), req.target().size()));
  if (path == "/health") return false;  // probes of load balancers and orchestrators use any name
  std::string_view host(first->value().data(), first->value().size());
  int status = 0;
  std::string detail;
  if (std::next(first) != last) {
    status = 400;
    detail = "more than one Host field";
  } else if (!host_allowed(host, options_.allowed_hosts)) {
    // A name this gateway was not configured for: e.g. a DNS-rebinding page's own name.
    status = 421;
    std::string shown(host.substr(0, 64));
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    detail = "this gateway does not serve the host '" + shown + "' (see --allowed-host)";
  } else {
    return false;
  }
  ex->set_route("(misdirected)");
  auto res = common::problem(status, detail, 11, req.keep_alive());
  res.set("X-Request-Id", common::request_id_for(req));
  ex->respond(std::move(res));
  return true;
}

void Gateway::publish_cors(std::vector<std::string> urls) {
  cors_.set(std::make_shared<const CorsPolicy>(
      make_cors_policy(advertise_url_, urls, options_.tile_source)));
  cors_urls_ = std::move(urls);
}

bool Gateway::cors(const Request& req, ExchangePtr& ex) {
  auto field = req.find(http::field::origin);
  std::string_view origin(field->value().data(), field->value().size());
  auto allowed = cors_.get()->allowed(origin);
  auto [path, query] =
      common::split_target(std::string_view(req.target().data(), req.target().size()));
  bool preflight = req.method() == http::verb::options &&
                   (path == "/api" || path.starts_with("/api/")) &&
                   req.find("Access-Control-Request-Method") != req.end();
  if (!preflight) {
    if (allowed) ex = with_cors_fields(std::move(ex), std::move(*allowed));
    return false;
  }
  // Answered here, never forwarded: the nodes know nothing of the cluster's gateways. Counted
  // against the client's rate like any request.
  ex->set_route("(preflight)");
  int wait = limiter_ ? limiter_->check(common::client_key(ex->remote_address()), Clock::now()) : 0;
  auto res = wait > 0 ? common::problem(429, "too many requests from this address", 11,
                                        req.keep_alive())
             : allowed ? preflight_response(*allowed, req.keep_alive())
                       : common::problem(403, "this origin is not one of the cluster's gateways",
                                         11, req.keep_alive());
  if (wait > 0) res.set(http::field::retry_after, std::to_string(wait));
  res.set("X-Request-Id", common::request_id_for(req));
  ex->respond(std::move(res));
  return true;
}

bool Gateway::limited(const common::RouteMatch& m, const ExchangePtr& ex) {
  if (!limiter_) return false;
  int wait = limiter_->check(common::client_key(ex->remote_address()), Clock::now());
  if (wait <= 0) return false;
  ex->set_route("(rate-limited)");
  router_.fail(m, ex, common::HttpError(429, "too many requests from this address",
                                        {{"Retry-After", std::to_string(wait)}}));
  return true;
}

}  // namespace status::gateway
