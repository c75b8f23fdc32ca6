#include "registry/handlers.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <boost/url/parse.hpp>
#include <charconv>
#include <sstream>
#include <variant>
#include <vector>

#include "registry/instance_codec.hpp"
#include <functional>

namespace status::registry {

namespace http = common::http;
using common::Request;
using common::Response;

namespace {

constexpr std::string_view kPrefixes[] = {"/eureka/v2", "/eureka"};

Response empty_response(int status, const Request& req) {
  Response res{static_cast<http::status>(status), req.version()};
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response problem(int status, std::string_view detail, const Request& req) {
  return common::problem(status, detail, req.version(), req.keep_alive());
}

// JSON unless the client accepts only something else (e.g. XML, which we do not write).
bool accepts_json(const Request& req) {
  auto accept = common::header(req, "Accept");
  if (!accept || accept->empty()) return true;
  for (std::string_view ok : {"json", "*/*", "application/*"})
    if (accept->find(ok) != std::string::npos) return true;
  return false;
}

Response document(std::string body, const Request& req) {
  if (!accepts_json(req))
    return problem(406,
                   "only application/json is served (Accept: " +
                       common::header(req, "Accept").value_or("") + ")",
                   req);
  return common::json_response(200, std::move(body), req);
}

std::optional<std::int64_t> to_int64(std::string_view s) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return n;
}

std::string escape_html(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Only http(s) URLs with a host become links on the dashboard: a `javascript:` or `data:` URL
// registered by anyone would run in the registry's origin when an operator clicks it.
bool linkable(const std::string& url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return false;
  auto scheme = u->scheme_id();
  return (scheme == boost::urls::scheme::http || scheme == boost::urls::scheme::https) &&
         !u->host().empty();
}

// Everything one request needs while being answered.
struct Call {
  const Request& req;
  const HandlerDeps& deps;
  std::string_view query;
  bool replicated = false;
  Caller caller;  // the authenticated user ("" when open); peer: a peer user (or an open replica)

  void replicate(ReplicationTask::Kind kind, const std::string& app, const std::string& id,
                 std::string status = {}, std::int64_t last_dirty_ts = 0) const {
    if (replicated || !deps.replication) return;
    deps.replication->replicate({kind, upper_case(app), id, std::move(status), last_dirty_ts});
  }
  void count(const char* name) const {
    if (deps.metrics) deps.metrics->inc(name);
  }
  std::optional<std::string> param(std::string_view name) const {
    return common::query_param(query, name);
  }
};

std::string instance_name(const std::string& app, const std::string& id) {
  return upper_case(app) + "/" + id;
}

// The answer to a change the registry did not make (kOk and kCreated are the caller's).
Response refused(const Call& c, Outcome outcome, const std::string& app, const std::string& id) {
  switch (outcome) {
    case Outcome::kConflict:
      spdlog::info("event=write_refused reason=conflict app={} instance={} user={} route={}", app,
                   id, c.caller.user, std::string(c.req.method_string()));
      c.count("registry_conflicts_total");
      return problem(409,
                     "instance " + instance_name(app, id) +
                         " is registered under other credentials; only its owner may change it",
                     c.req);
    case Outcome::kTooLarge:
      return problem(413,
                     "the instance would exceed its bounds: at most " +
                         std::to_string(kMaxMetadataEntries) + " metadata entries, keys of " +
                         std::to_string(kMaxMetadataKeyBytes) + " and values of " +
                         std::to_string(kMaxMetadataValueBytes) + " bytes, " +
                         std::to_string(kMaxInstanceBytes) + " bytes in all",
                     c.req);
    case Outcome::kFull: {
      const auto& o = c.deps.registry.options();
      c.count("registry_full_total");
      return problem(507,
                     "the registry is full: at most " + std::to_string(o.max_instances) +
                         " instances in " + std::to_string(o.max_apps) + " applications",
                     c.req);
    }
    case Outcome::kOk:
    case Outcome::kCreated:
    case Outcome::kNotFound:
      break;
  }
  return problem(404, "unknown instance " + instance_name(app, id), c.req);
}

Response register_instance(const Call& c, const std::string& app) {
  if (auto type = common::header(c.req, "Content-Type");
      type && type->find("xml") != std::string::npos)
    return problem(415, "only JSON bodies are accepted ({\"instance\":{…}})", c.req);
  auto parsed = parse_registration(c.req.body());
  if (auto* bad = std::get_if<BadInstance>(&parsed)) return problem(400, bad->reason, c.req);
  Instance in = std::move(std::get<Instance>(parsed));
  if (in.app != upper_case(app))
    return problem(400, "Mismatched appName, expecting " + upper_case(app) + " but was " + in.app,
                   c.req);
  if (auto why = oversize_reason(in)) return problem(413, *why, c.req);
  auto control = [](const std::string& v) {
    return std::any_of(v.begin(), v.end(),
                       [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
  };
  if (control(in.instance_id) || control(in.host_name) || control(in.app))
    return problem(400, "control characters are not allowed in names", c.req);
  if (!c.deps.access || c.deps.access->open()) in.owner.clear();  // owners mean nothing here
  std::string id = in.instance_id;
  std::string status(to_string(in.status));
  auto outcome = c.deps.registry.register_instance(std::move(in), c.caller);
  if (outcome != Outcome::kOk && outcome != Outcome::kCreated) return refused(c, outcome, app, id);
  c.count("registry_registrations_total");
  spdlog::info("event=register app={} instance={} status={} new={} replicated={} user={}", app, id,
               status, outcome == Outcome::kCreated, c.replicated, c.caller.user);
  c.replicate(ReplicationTask::Kind::kRegister, app, id);
  return empty_response(204, c.req);
}

Response renew(const Call& c, const std::string& app, const std::string& id) {
  std::optional<Status> status;
  if (auto s = c.param("status")) status = parse_status(upper_case(*s));
  std::optional<std::int64_t> dirty;
  if (auto d = c.param("lastDirtyTimestamp")) dirty = to_int64(*d);
  auto result = c.deps.registry.renew(app, id, status, dirty, c.caller);
  if (result == Outcome::kNotFound) {
    spdlog::debug("event=renew_unknown app={} instance={} replicated={}", app, id, c.replicated);
    return problem(404, "unknown instance " + instance_name(app, id) + ": register again", c.req);
  }
  if (result != Outcome::kOk) return refused(c, result, app, id);
  c.count("registry_renewals_total");
  if (!c.replicated && c.deps.replication)
    if (auto in = c.deps.registry.find(app, id))
      c.replicate(ReplicationTask::Kind::kHeartbeat, app, id, std::string(to_string(in->status)),
                  in->last_dirty_ts);
  return empty_response(200, c.req);
}

Response cancel(const Call& c, const std::string& app, const std::string& id) {
  if (auto outcome = c.deps.registry.cancel(app, id, c.caller); outcome != Outcome::kOk)
    return refused(c, outcome, app, id);
  c.count("registry_cancellations_total");
  spdlog::info("event=cancel app={} instance={} replicated={} user={}", app, id, c.replicated,
               c.caller.user);
  c.replicate(ReplicationTask::Kind::kCancel, app, id);
  return empty_response(200, c.req);
}

Response status_update(const Call& c, const std::string& app, const std::string& id) {
  auto& registry = c.deps.registry;
  if (c.req.method() == http::verb::put) {
    auto value = c.param("value");
    auto status = value ? parse_status(upper_case(*value)) : std::nullopt;
    if (!status)
      return problem(400, "value must be one of UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN",
                     c.req);
    if (auto outcome = registry.set_override(app, id, *status, c.caller); outcome != Outcome::kOk)
      return refused(c, outcome, app, id);
    c.count("registry_status_updates_total");
    spdlog::info("event=status_override app={} instance={} status={} replicated={} user={}", app,
                 id, to_string(*status), c.replicated, c.caller.user);
    c.replicate(ReplicationTask::Kind::kStatus, app, id, std::string(to_string(*status)));
    return empty_response(200, c.req);
  }
  std::optional<Status> own;
  if (auto value = c.param("value")) own = parse_status(upper_case(*value));
  if (auto outcome = registry.delete_override(app, id, own, c.caller); outcome != Outcome::kOk)
    return refused(c, outcome, app, id);
  c.count("registry_status_updates_total");
  spdlog::info("event=status_override_removed app={} instance={} replicated={} user={}", app, id,
               c.replicated, c.caller.user);
  c.replicate(ReplicationTask::Kind::kDeleteStatus, app, id);
  return empty_response(200, c.req);
}

Response update_metadata(const Call& c, const std::string& app, const std::string& id) {
  std::map<std::string, std::string> metadata;
  std::string_view q = c.query;
  while (!q.empty()) {
    auto part = q.substr(0, q.find('&'));
    q.remove_prefix(std::min(q.size(), part.size() + 1));
    auto eq = part.find('=');
    auto key = common::percent_decode(part.substr(0, eq), true);
    auto value =
        common::percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!key || !value || key->empty()) return problem(400, "malformed query string", c.req);
    metadata[*key] = *value;
  }
  if (metadata.size() > kMaxMetadataEntries) return refused(c, Outcome::kTooLarge, app, id);
  if (auto outcome = c.deps.registry.update_metadata(app, id, metadata, c.caller);
      outcome != Outcome::kOk)
    return refused(c, outcome, app, id);
  c.replicate(ReplicationTask::Kind::kRegister, app, id);
  return empty_response(200, c.req);
}

Snapshot by_vip(const Registry& registry, const std::string& vip, bool secure) {
  Snapshot all = registry.snapshot();
  Snapshot out{{}, all.apps_hashcode, all.version};
  for (auto& in : all.instances) {
    std::stringstream list(secure ? in.secure_vip_address : in.vip_address);
    std::string item;
    while (std::getline(list, item, ','))
      if (item == vip) {
        out.instances.push_back(std::move(in));
        break;
      }
  }
  return out;
}

// Who may call a route: anyone, holders of credentials when reads are protected, holders of
// credentials (when the registry has any).
enum RouteAccess : int { kPublic = 0, kRead = 1, kWrite = 2 };

constexpr const char* kNeedCredentials =
    "valid credentials are required (HTTP Basic: user:password@ in the registry URL)";

// A route's answer from what the request carries; path parameters already decoded.
using Answer = std::function<Response(const Call&, const common::RouteMatch&)>;

// The decoded value of {name} (checked by prepare_target, so it decodes).
std::string param(const common::RouteMatch& m, std::string_view name) {
  return common::percent_decode(m.param(name)).value_or("");
}
std::string app_param(const common::RouteMatch& m) { return upper_case(param(m, "app")); }

// Runs the route's access rule, then its answer.
void answer(const HandlerDeps& deps, int access, const Answer& fn, const Request& req,
            const common::RouteMatch& m, const common::ExchangePtr& ex) {
  static const Access kOpen;
  const Access& acl = deps.access ? *deps.access : kOpen;
  std::optional<std::string> user = acl.authenticate(req);
  bool allowed = access == kPublic || acl.open() || user ||
                 (access == kRead && !acl.protect_reads());
  if (!allowed) {
    if (deps.metrics) deps.metrics->inc("registry_auth_failures_total");
    return ex->respond(unauthorized(req, kNeedCredentials));
  }
  auto replication = common::header(req, kReplicationHeader);
  bool replicated = replication && *replication == "true";
  // Only a peer registry may send what is not to be replicated again (else a client could keep
  // its change from the other registries) or act on any instance.
  bool peer_user = user && acl.is_peer(*user);
  if (replicated && !acl.open() && !peer_user)
    return ex->respond(problem(
        403, std::string(kReplicationHeader) + " is accepted from peer registries only", req));
  // A peer user acts for the registries (a replica, or an operator with those credentials): on
  // any instance. Without credentials (open), replicas alone.
  Call call{req, deps, m.query, replicated,
            Caller{user.value_or(""), acl.open() ? replicated : peer_user}};
  ex->respond(fn(call, m));
}

Response dashboard(const Call& c) {
  Response res = common::json_response(
      200, render_dashboard(c.deps.registry.snapshot(), c.deps.registry.now()), c.req);
  res.set(http::field::content_type, "text/html; charset=utf-8");
  // No script at all; the one inline style block is the page's own.
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
          "base-uri 'none'; form-action 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  return res;
}

// One row of the table: `fn` answers once the access rule let the request through.
void add_route(common::Router& r, const HandlerDeps& deps, http::verb v, std::string pattern,
               int access, Answer fn) {
  r.add(
      v, std::move(pattern),
      [&deps, access, fn = std::move(fn)](Request&& req, const common::RouteMatch& m,
                                          const common::ExchangePtr& ex) {
        answer(deps, access, fn, req, m, ex);
      },
      access);
}

void add_eureka_routes(common::Router& r, const HandlerDeps& deps, const std::string& p) {
  using V = http::verb;
  auto add = [&](V v, const std::string& pattern, int access, Answer fn) {
    add_route(r, deps, v, p + pattern, access, std::move(fn));
  };
  int write = kWrite;
  // A peer copying the registry (at its start) needs the owners too.
  add(V::get, "/apps", kRead, [](const Call& c, const common::RouteMatch&) {
    auto owners = c.caller.peer ? OwnerView::kShown : OwnerView::kHidden;
    return document(applications_document(c.deps.registry.snapshot(), owners), c.req);
  });
  add(V::get, "/apps/delta", kRead, [](const Call& c, const common::RouteMatch&) {
    return document(applications_document(c.deps.registry.delta()), c.req);
  });
  add(V::get, "/apps/{app}", kRead, [](const Call& c, const common::RouteMatch& m) {
    auto app = app_param(m);
    auto snap = c.deps.registry.snapshot(app);
    if (snap.instances.empty()) return problem(404, "unknown application " + app, c.req);
    return document(application_document(app, snap.instances), c.req);
  });
  add(V::post, "/apps/{app}", write,
      [](const Call& c, const common::RouteMatch& m) { return register_instance(c, app_param(m)); });
  add(V::get, "/apps/{app}/{id}", kRead, [](const Call& c, const common::RouteMatch& m) {
    auto app = app_param(m);
    auto id = param(m, "id");
    auto in = c.deps.registry.find(app, id);
    if (!in) return problem(404, "unknown instance " + app + "/" + id, c.req);
    return document(instance_document(*in), c.req);
  });
  add(V::put, "/apps/{app}/{id}", write, [](const Call& c, const common::RouteMatch& m) {
    return renew(c, app_param(m), param(m, "id"));
  });
  add(V::delete_, "/apps/{app}/{id}", write, [](const Call& c, const common::RouteMatch& m) {
    return cancel(c, app_param(m), param(m, "id"));
  });
  for (V v : {V::put, V::delete_})
    add(v, "/apps/{app}/{id}/status", write, [](const Call& c, const common::RouteMatch& m) {
      return status_update(c, app_param(m), param(m, "id"));
    });
  add(V::put, "/apps/{app}/{id}/metadata", write, [](const Call& c, const common::RouteMatch& m) {
    return update_metadata(c, app_param(m), param(m, "id"));
  });
  add(V::get, "/instances/{id}", kRead, [](const Call& c, const common::RouteMatch& m) {
    auto id = param(m, "id");
    auto in = c.deps.registry.find_by_id(id);
    if (!in) return problem(404, "unknown instance " + id, c.req);
    return document(instance_document(*in), c.req);
  });
  for (bool secure : {false, true})
    add(V::get, secure ? "/svips/{vip}" : "/vips/{vip}", kRead,
        [secure](const Call& c, const common::RouteMatch& m) {
          return document(applications_document(by_vip(c.deps.registry, param(m, "vip"), secure)),
                          c.req);
        });
}

// The answer for a target no route should see: a malformed percent-encoding or a control
// character in a segment (app names and instance ids end up in logs and on operators'
// terminals). Otherwise rewrites the target without empty segments (`/eureka/apps/` is
// `/eureka/apps`, as eureka-js-client asks).
std::optional<Response> prepare_target(Request& req) {
  auto [path, query] =
      common::split_target(std::string_view(req.target().data(), req.target().size()));
  std::string normal;
  bool changed = false;
  std::string_view rest = path;
  while (!rest.empty()) {
    if (rest.front() == '/') rest.remove_prefix(1);
    auto end = rest.find('/');
    auto seg = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (seg.empty()) {
      changed = true;
      continue;
    }
    auto decoded = common::percent_decode(seg);
    if (!decoded) return problem(400, "malformed percent-encoding in path", req);
    if (std::any_of(decoded->begin(), decoded->end(),
                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }))
      return problem(400, "control characters are not allowed in names", req);
    normal += '/';
    normal += seg;
  }
  if (normal.empty()) normal = "/";
  if (changed && normal != path) {
    if (!query.empty()) normal += "?" + std::string(query);
    req.target(normal);
  }
  return std::nullopt;
}

// Keeps the answer (for handle_request, which answers synchronously).
class CapturedExchange : public common::Exchange {
 public:
  void respond(Response res) override { response = std::move(res); }
  void begin_stream(Response head) override { response = std::move(head); }
  bool push(std::string) override { return false; }
  void end_stream() override {}
  bool open() const override { return false; }
  void set_route(std::string r) override { route = std::move(r); }
  boost::asio::any_io_executor executor() override { return {}; }
  std::string remote_address() const override { return {}; }
  Response response;
  std::string route;
};

}  // namespace

common::Router make_router(const HandlerDeps& deps) {
  common::Router r;
  auto add = [&](const char* path, int access, Answer fn) {
    add_route(r, deps, http::verb::get, path, access, std::move(fn));
  };
  add("/", kRead, [](const Call& c, const common::RouteMatch&) { return dashboard(c); });
  add("/health", kPublic, [](const Call& c, const common::RouteMatch&) {
    return common::json_response(200, R"({"status":"UP"})", c.req);
  });
  add("/metrics", kRead, [](const Call& c, const common::RouteMatch&) {
    Response res =
        common::json_response(200, c.deps.metrics ? c.deps.metrics->render() : "", c.req);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    return res;
  });
  for (std::string_view prefix : kPrefixes) add_eureka_routes(r, deps, std::string(prefix));
  return r;
}

void serve(const common::Router& router, Request&& req, const common::ExchangePtr& ex) {
  if (auto refused = prepare_target(req)) {
    ex->set_route("(unknown)");
    return ex->respond(std::move(*refused));
  }
  router.dispatch(std::move(req), ex);
}

HandlerResult handle_request(const Request& req, const HandlerDeps& deps) {
  auto router = make_router(deps);
  auto ex = std::make_shared<CapturedExchange>();
  serve(router, Request(req), ex);
  return {std::move(ex->response), std::move(ex->route)};
}

void describe_metrics(common::Metrics& metrics, const Registry& registry) {
  metrics.describe("registry_registrations_total", "counter", "Registrations accepted");
  metrics.describe("registry_renewals_total", "counter", "Heartbeats accepted");
  metrics.describe("registry_cancellations_total", "counter", "Instances deregistered");
  metrics.counter("registry_evictions_total", "Instances evicted on lease expiry");
  metrics.describe("registry_status_updates_total", "counter", "Status overrides set or removed");
  metrics.counter("registry_auth_failures_total", "Requests refused for missing or wrong credentials (401)");
  metrics.describe("registry_conflicts_total", "counter",
                   "Changes refused because the instance belongs to other credentials (409)");
  metrics.describe("registry_full_total", "counter",
                   "Registrations refused because the registry was full (507)");
  metrics.add_collector([&registry] {
    return "# HELP registry_instances Instances currently registered\n"
           "# TYPE registry_instances gauge\nregistry_instances " +
           std::to_string(registry.size()) + "\n";
  });
}

std::string render_dashboard(const Snapshot& snapshot, std::int64_t now_ms) {
  std::ostringstream out;
  out << "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>status-registry</title>"
         "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
         ".UP{color:#070}.DOWN,.OUT_OF_SERVICE{color:#a00}.STARTING{color:#a60}</style>"
         "</head><body>\n<h1>status-registry</h1>\n<p>"
      << snapshot.instances.size() << " instance(s); apps hashcode <code>"
      << escape_html(snapshot.apps_hashcode) << "</code></p>\n";
  if (snapshot.instances.empty()) {
    out << "<p>No instances registered.</p>\n";
  } else {
    out << "<table><tr><th>Application</th><th>Instance</th><th>Status</th><th>URL</th>"
           "<th>Last renewal</th><th>Lease</th></tr>\n";
    for (const auto& in : snapshot.instances) {
      std::string status(to_string(in.effective_status()));
      std::string url =
          !in.home_page_url.empty() ? in.home_page_url
          : in.secure_port_enabled
              ? "https://" + in.host_name + ":" + std::to_string(in.secure_port) + "/"
              : "http://" + in.host_name + ":" + std::to_string(in.port) + "/";
      double ago = static_cast<double>(now_ms - in.last_renewal_ts) / 1000.0;
      out << "<tr><td>" << escape_html(in.app) << "</td><td>" << escape_html(in.instance_id)
          << "</td><td class=\"" << status << "\">" << status;
      if (in.overridden_status != Status::kUnknown)
        out << " (override; own " << to_string(in.status) << ")";
      out << "</td><td>";
      if (linkable(url))
        out << "<a href=\"" << escape_html(url) << "\" rel=\"noreferrer\">" << escape_html(url)
            << "</a>";
      else
        out << escape_html(url);
      out << "</td><td>" << std::fixed;
      out.precision(1);
      out << ago << " s ago</td><td>" << in.renewal_interval_s << " s / " << in.duration_s
          << " s</td></tr>\n";
    }
    out << "</table>\n";
  }
  out << "</body></html>\n";
  return out.str();
}

}  // namespace status::registry
