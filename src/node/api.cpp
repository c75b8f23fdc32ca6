#include "node/api.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>

namespace status::node {

using common::ExchangePtr;
using common::Request;
using common::Response;
namespace http = common::http;

Response problem_for(const Request& req, int status, std::string_view detail) {
  return common::problem(status, detail, req.version(), req.keep_alive());
}

namespace {

std::optional<long> parse_count(std::string_view s, long max) {
  long v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v < 0 || v > max)
    return std::nullopt;
  return v;
}

void split_tags(std::string_view v, std::vector<std::string>& out) {
  while (!v.empty()) {
    auto comma = v.find(',');
    std::string_view t = v.substr(0, comma);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.starts_with("W/")) t.remove_prefix(2);
    if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
    if (!t.empty()) out.emplace_back(t);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}



}  // namespace

bool json_content_type(const Request& req) {
  // A body must say it is JSON. Form types and text/plain are what a cross-site HTML form can
  // send without the browser asking the server first (CSRF): they are refused, like a missing
  // type.
  auto it = req.find(http::field::content_type);
  if (it == req.end()) return false;
  std::string lower;
  for (char c : it->value()) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  lower = lower.substr(0, lower.find(';'));
  while (!lower.empty() && lower.back() == ' ') lower.pop_back();
  return lower == "application/json" || (lower.starts_with("application/") && lower.ends_with("+json"));
}

Preconditions parse_preconditions(const Request& req) {
  Preconditions p;
  for (auto it = req.find(http::field::if_match); it != req.end() && it->name() == http::field::if_match; ++it)
    split_tags(std::string_view(it->value().data(), it->value().size()), p.if_match);
  for (auto it = req.find(http::field::if_none_match);
       it != req.end() && it->name() == http::field::if_none_match; ++it)
    split_tags(std::string_view(it->value().data(), it->value().size()), p.if_none_match);
  return p;
}

namespace {

// "a,b,c,d" → four finite numbers, or nullopt.
std::optional<ListFilter::Box> parse_bbox(std::string_view v) {
  double n[4];
  for (int i = 0; i < 4; ++i) {
    auto comma = v.find(',');
    if ((i < 3) == (comma == std::string_view::npos)) return std::nullopt;
    std::string_view part = v.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto r = std::from_chars(part.data(), part.data() + part.size(), n[i]);
    if (part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size() ||
        !std::isfinite(n[i]))
      return std::nullopt;
    if (i < 3) v.remove_prefix(comma + 1);
  }
  return ListFilter::Box{n[0], n[1], n[2], n[3]};
}

ListFilter parse_filter(std::string_view query) {
  ListFilter f;
  f.usernames = common::query_params(query, "username");
  if (f.usernames.size() > 100) throw common::HttpError(400, "at most 100 username filters");
  for (const auto& u : f.usernames)
    if (!valid_username(u))
      throw common::HttpError(400, "username must be 1-64 characters of A-Z a-z 0-9 . _ -");
  if (auto q = common::query_param(query, "q")) {
    auto len = utf8_length(*q);
    if (!len) throw common::HttpError(400, "q is not valid UTF-8");
    if (*len > 1000) throw common::HttpError(400, "q must be at most 1000 characters");
    f.q = std::move(*q);
  }
  for (const auto& a : common::query_params(query, "availability")) {
    auto v = parse_availability(a);
    if (!v) throw common::HttpError(400, "availability must be one of available, busy, away, dnd");
    f.availabilities |= 1u << static_cast<unsigned>(*v);
  }
  if (auto b = common::query_param(query, "bbox")) {
    auto box = parse_bbox(*b);
    if (!box) throw common::HttpError(400, "bbox must be four numbers: minLon,minLat,maxLon,maxLat");
    if (box->min_lon < -180 || box->max_lon > 180 || box->min_lat < -90 || box->max_lat > 90)
      throw common::HttpError(400, "bbox out of range: longitudes -180..180, latitudes -90..90");
    if (box->min_lon > box->max_lon || box->min_lat > box->max_lat)
      throw common::HttpError(400, "bbox minimum above its maximum");
    f.bbox = box;
  }
  return f;
}

// The query without limit and offset (for the next page's link), each pair as it came.
std::string other_params(std::string_view query) {
  std::string out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    auto key = part.substr(0, part.find('='));
    if (!part.empty() && key != "limit" && key != "offset") {
      out += part;
      out += '&';
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

Response list_statuses(const Request& req, const StatusIndex& index) {
  auto [path, query] = common::split_target(std::string_view(req.target().data(), req.target().size()));
  long limit = 100, offset = 0;
  if (auto l = common::query_param(query, "limit")) {
    auto v = parse_count(*l, 1000);
    if (!v || *v < 1) return problem_for(req, 400, "limit must be an integer between 1 and 1000");
    limit = *v;
  }
  if (auto o = common::query_param(query, "offset")) {
    auto v = parse_count(*o, 1000000000);
    if (!v) return problem_for(req, 400, "offset must be a non-negative integer");
    offset = *v;
  }
  ListFilter filter;
  try {
    filter = parse_filter(query);
  } catch (const common::HttpError& e) {
    return problem_for(req, e.status, e.what());
  }
  auto page = index.list(filter, static_cast<std::size_t>(offset), static_cast<std::size_t>(limit));
  std::string body = "[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i) body += ',';
    body += page.items[i];
  }
  body += ']';
  Response res = common::json_response(200, std::move(body), req);
  res.set("X-Total-Count", std::to_string(page.total));
  if (static_cast<std::size_t>(offset + limit) < page.total)
    res.set(http::field::link, "</api/statuses?" + other_params(query) + "limit=" +
                                   std::to_string(limit) + "&offset=" + std::to_string(offset + limit) +
                                   ">; rel=\"next\"");
  return res;
}

Response get_history(const Request& req, const std::string& username, const StatusIndex& index) {
  auto h = index.history(username);
  if (!h) return problem_for(req, 404, "no status and no history for user '" + username + "'");
  return common::json_response(200, std::move(*h), req);
}

Response get_status(const Request& req, const std::string& username, const StatusIndex& index) {
  // Built under the store's read lock: nothing but the answer's own copy of the JSON is made.
  std::optional<Response> res;
  auto pre = parse_preconditions(req);
  index.visit(username, [&](const Entry& e) {
    std::string version = e.status.version.str();
    for (const auto& t : pre.if_none_match) {
      if (t == "*" || t == version) {
        res.emplace(http::status::not_modified, req.version());
        res->set(http::field::etag, "\"" + version + "\"");
        res->keep_alive(req.keep_alive());
        return;
      }
    }
    res = common::json_response(200, e.api_json(), req);
    res->set(http::field::etag, "\"" + version + "\"");
  });
  if (!res) return problem_for(req, 404, "no status for user '" + username + "'");
  return std::move(*res);
}

Response write_response(const Request& req, const WriteResult& r) {
  switch (r.outcome) {
    case Outcome::kCreated:
    case Outcome::kReplaced: {
      Response res = common::json_response(r.outcome == Outcome::kCreated ? 201 : 200, r.api_json, req);
      res.set(http::field::etag, "\"" + r.status.version.str() + "\"");
      if (r.outcome == Outcome::kCreated)
        res.set(http::field::location, "/api/statuses/" + r.status.username);
      return res;
    }
    case Outcome::kDeleted: {
      Response res{http::status::no_content, req.version()};
      res.keep_alive(req.keep_alive());
      return res;
    }
    case Outcome::kNotFound:
      return problem_for(req, 404, "no status for this user");
    case Outcome::kPreconditionFailed:
      return problem_for(req, 412, "precondition failed: the status does not match If-Match / If-None-Match");
    case Outcome::kConflict:
      return problem_for(req, 409, "it exists already");
    case Outcome::kFailed:
      break;
  }
  auto res = problem_for(req, 503, "the status could not be stored; retry");
  res.set(http::field::retry_after, "1");
  return res;
}

namespace {

// The {username} of a route, decoded and checked (400 otherwise; an escaped slash, al%2Fice,
// decodes into the name and makes it a malformed name, not another path).
std::string username_param(const common::RouteMatch& m) {
  auto name = common::percent_decode(m.param("username"));
  if (!name) throw common::HttpError(400, "malformed percent-encoding in the path");
  if (!valid_username(*name))
    throw common::HttpError(400, "username must be 1-64 characters of A-Z a-z 0-9 . _ -");
  return *name;
}

void answer(const ExchangePtr& ex, const common::RouteMatch& m, const std::string& node,
            Response&& res) {
  respond_api(ex, m, node, std::move(res));
}

// With --auth required, only the user (or an admin) changes the user's status.
void authorize_write(const Request& req, ApiDeps& deps, const std::string& target) {
  if (!deps.auth) return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto id = deps.auth->identify(req, now);
  if (!id) throw common::HttpError(401, "sign in to change a status",
                                   {{"WWW-Authenticate", "Bearer realm=\"status\""}});
  if (id->username != target && !id->admin)
    throw common::HttpError(403, "only " + target + " or an admin may change " + target + "'s status");
}

void events(Request&& req, const common::RouteMatch& m, const ExchangePtr& ex, ApiDeps& deps) {
  Response head{http::status::ok, req.version()};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Accel-Buffering", "no");
  head.set("X-Served-By", deps.node_id);
  head.set("X-Request-Id", m.request_id);
  // Behind the gateway the connection is the gateway's: the client is the one it names.
  static const common::Networks kNone;
  auto client = common::client_key(common::forwarded_client(
      req, ex->remote_address(), deps.trusted_proxies ? *deps.trusted_proxies : kNone));
  // EventSource sends Last-Event-ID on its own reconnects; a new EventSource can only name it
  // in the URL.
  auto [path, query] = common::split_target(std::string_view(req.target().data(), req.target().size()));
  auto last = common::header(req, "Last-Event-ID");
  std::optional<std::string> last_id = last ? std::optional<std::string>(std::string(*last)) : std::nullopt;
  if (!last_id) last_id = common::query_param(query, "lastEventId");
  // ?heartbeat=S: `event: heartbeat` after S seconds without an event, so that a client can
  // tell a silent stream from a dead one (the keep-alive comment does not reach EventSource's
  // listeners).
  int heartbeat_s = 0;
  if (auto h = common::query_param(query, "heartbeat")) {
    auto v = parse_count(*h, 60);
    if (!v || *v < 1) throw common::HttpError(400, "heartbeat must be a whole number of seconds between 1 and 60");
    heartbeat_s = static_cast<int>(*v);
  }
  switch (deps.events.subscribe(ex, std::move(head), client, last_id, heartbeat_s)) {
    case EventHub::Subscribed::kOk:
      return;
    case EventHub::Subscribed::kClientFull:
      throw common::HttpError(429, "too many event streams from this client",
                              {{"Retry-After", "5"}});
    case EventHub::Subscribed::kFull:
      throw common::HttpError(503, "too many event subscribers", {{"Retry-After", "5"}});
  }
}

// PUT, POST and DELETE: validated here, committed by the writer, answered when the write path
// says so (write_path.hpp).
void write_status(Request&& request, const common::RouteMatch& m, const ExchangePtr& ex, ApiDeps& deps,
           bool is_delete, std::optional<std::string> path_user) {
  bool sync_all = false;
  if (auto c = common::header(request, "X-Consistency")) {
    std::string v;
    for (char ch : *c) v += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (v == "all") sync_all = true;
    else if (v != "async") throw common::HttpError(400, "X-Consistency must be 'all' or 'async'");
  }
  if (auto why = deps.writes_refused()) throw common::HttpError(503, *why, {{"Retry-After", "1"}});
  LocalRequest w;
  w.pre = parse_preconditions(request);
  if (is_delete) {
    authorize_write(request, deps, *path_user);
    w.is_delete = true;
    w.username = *path_user;
  } else {
    if (!json_content_type(request))
      throw common::HttpError(415, "Content-Type must be application/json");
    auto parsed = parse_status_input(
        request.body(), path_user ? std::optional<std::string_view>(*path_user) : std::nullopt,
        StatusIndex::system_ms());
    if (auto* err = std::get_if<InputError>(&parsed)) throw common::HttpError(400, err->detail);
    w.input = std::move(std::get<StatusInput>(parsed));
    w.username = w.input.username.value_or("");
    authorize_write(request, deps, w.username);
  }
  // A traced write: its publish span (commit, outbox, the broker's confirm — until the answer)
  // is what the replicated message names as the parent of the replicas' apply spans.
  auto publish = std::make_shared<common::Span>();
  if (ex->trace().sampled) {
    publish->ctx = ex->trace().child();
    publish->name = "publish";
    publish->kind = 4;
    publish->start_unix_ns = common::unix_ns();
    w.traceparent = publish->ctx.traceparent();
  }
  auto req = std::make_shared<Request>(std::move(request));
  deps.store.write(std::move(w), [req, ex, m, sync_all, publish, &deps](WriteResult r) {
    auto result = std::make_shared<WriteResult>(std::move(r));
    deps.answerer.committed(*result, sync_all,
                            [req, ex, m, result, publish, &deps](std::optional<ReplicationReport> rep) {
                              if (publish->ctx.sampled) {
                                publish->end_unix_ns = common::unix_ns();
                                publish->attributes = {
                                    {"status.node", deps.node_id},
                                    {"status.outbox_seq", std::to_string(result->outbox_seq)}};
                                if (rep)
                                  publish->attributes.emplace_back(
                                      "status.replicated", std::to_string(rep->applied) + "/" +
                                                               std::to_string(rep->expected));
                                common::end_span(std::move(*publish));
                              }
                              auto res = write_response(*req, *result);
                              if (rep)
                                res.set("X-Replicated", std::to_string(rep->applied) + "/" +
                                                            std::to_string(rep->expected));
                              answer(ex, m, deps.node_id, std::move(res));
                            });
  });
}

}  // namespace

void add_api_routes(common::Router& r, ApiDeps& deps) {
  using common::RouteMatch;
  auto* d = &deps;
  auto list = [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    // Taken before the read: every change the list lacks comes after this position.
    auto position = d->events.position();
    auto res = list_statuses(req, d->store.index());
    if (res.result() == http::status::ok) res.set("X-Event-Id", position);
    answer(ex, m, d->node_id, std::move(res));
  };
  auto post = [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    write_status(std::move(req), m, ex, *d, false, std::nullopt);
  };
  for (const char* collection : {"/api/statuses", "/api/statuses/"}) {
    r.add(http::verb::get, collection, list, kReading, "/api/statuses");
    r.add(http::verb::post, collection, post, kServing, "/api/statuses");
  }
  const char* one = "/api/statuses/{username}";
  r.add(http::verb::get, one, [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    answer(ex, m, d->node_id, get_status(req, username_param(m), d->store.index()));
  }, kReading);
  r.add(http::verb::put, one, [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    write_status(std::move(req), m, ex, *d, false, username_param(m));
  }, kServing);
  r.add(http::verb::delete_, one, [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    write_status(std::move(req), m, ex, *d, true, username_param(m));
  }, kServing);
  r.add(http::verb::get, "/api/statuses/{username}/history",
        [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
          answer(ex, m, d->node_id, get_history(req, username_param(m), d->store.index()));
        }, kReading);
  r.add(http::verb::get, "/api/events", [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    events(std::move(req), m, ex, *d);
  }, kReading);
}

void respond_api(const ExchangePtr& ex, const common::RouteMatch& m, const std::string& node,
                 Response&& res) {
  res.set("X-Served-By", node);
  res.set("X-Request-Id", m.request_id);
  ex->respond(std::move(res));
}

std::optional<common::HttpError> api_guard(const ApiDeps& deps, const Request& req,
                                           const common::RouteMatch& m) {
  const ApiDeps* d = &deps;
  {
    if (m.access == kServing || m.access == kReading) {
      if (auto why = d->unavailable())
        return common::HttpError(503, *why + "; retry shortly", {{"Retry-After", "1"}});
    }
    if (m.access == kReading && d->auth && d->auth->options().read_authenticated) {
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
      if (!d->auth->identify(req, now))
        return common::HttpError(401, "sign in to read statuses",
                                 {{"WWW-Authenticate", "Bearer realm=\"status\""}});
    }
    return std::nullopt;
  }
}

void decorate_api(const ApiDeps& deps, Response& res, const common::RouteMatch& m) {
  res.set("X-Served-By", deps.node_id);
  res.set("X-Request-Id", m.request_id);
}

void handle_api(Request&& req, const ExchangePtr& ex, ApiDeps& deps) {
  common::Router r;
  add_api_routes(r, deps);
  r.set_guard([&deps](const Request& q, const common::RouteMatch& m) { return api_guard(deps, q, m); });
  r.set_decorate([&deps](Response& res, const common::RouteMatch& m) { decorate_api(deps, res, m); });
  r.dispatch(std::move(req), ex);
}

}  // namespace status::node
