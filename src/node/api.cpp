#include "node/api.hpp"

#include <boost/json.hpp>

#include <charconv>

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

// Bodies are always parsed as JSON; a type that announces something else (XML, multipart, plain
// text) is refused. A missing type, or curl's default form type, is read as JSON.
bool json_content_type(const Request& req) {
  auto it = req.find(http::field::content_type);
  if (it == req.end()) return true;
  std::string lower;
  for (char c : it->value()) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  lower = lower.substr(0, lower.find(';'));
  while (!lower.empty() && lower.back() == ' ') lower.pop_back();
  return lower == "application/json" || lower == "application/x-www-form-urlencoded" ||
         (lower.starts_with("application/") && lower.ends_with("+json"));
}

void method_not_allowed(const Request& req, const ExchangePtr& ex, const char* allow,
                        const std::function<void(Response&&)>& send) {
  auto res = problem_for(req, 405, std::string("method ") + std::string(req.method_string()) +
                                       " is not allowed here; allowed: " + allow);
  res.set(http::field::allow, allow);
  send(std::move(res));
}

}  // namespace

Preconditions parse_preconditions(const Request& req) {
  Preconditions p;
  for (auto it = req.find(http::field::if_match); it != req.end() && it->name() == http::field::if_match; ++it)
    split_tags(std::string_view(it->value().data(), it->value().size()), p.if_match);
  for (auto it = req.find(http::field::if_none_match);
       it != req.end() && it->name() == http::field::if_none_match; ++it)
    split_tags(std::string_view(it->value().data(), it->value().size()), p.if_none_match);
  return p;
}

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
  auto page = index.list(static_cast<std::size_t>(offset), static_cast<std::size_t>(limit));
  std::string body = "[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i) body += ',';
    body += page.items[i];
  }
  body += ']';
  Response res = common::json_response(200, std::move(body), req);
  res.set("X-Total-Count", std::to_string(page.total));
  if (static_cast<std::size_t>(offset + limit) < page.total)
    res.set(http::field::link, "</api/statuses?limit=" + std::to_string(limit) +
                                   "&offset=" + std::to_string(offset + limit) + ">; rel=\"next\"");
  return res;
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
    res = common::json_response(200, e.api_json, req);
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
    case Outcome::kFailed:
      break;
  }
  return problem_for(req, 503, "the status could not be stored; retry");
}

void handle_api(Request&& request, const ExchangePtr& ex, ApiDeps& deps) {
  auto req = std::make_shared<Request>(std::move(request));
  std::string request_id;
  if (auto rid = common::header(*req, "X-Request-Id"); rid && !rid->empty() && rid->size() <= 128 &&
      std::all_of(rid->begin(), rid->end(), [](char c) { return c > 32 && c < 127; }))
    request_id = *rid;
  else
    request_id = common::random_id();
  auto send = [ex, request_id, node = deps.node_id](Response&& res) {
    res.set("X-Served-By", node);
    res.set("X-Request-Id", request_id);
    ex->respond(std::move(res));
  };

  std::string_view target(req->target().data(), req->target().size());
  auto [path, query] = common::split_target(target);
  if (auto why = deps.unavailable()) {
    ex->set_route("/api (unavailable)");
    auto res = problem_for(*req, 503, *why + "; retry shortly");
    res.set(http::field::retry_after, "1");
    return send(std::move(res));
  }

  if (path == "/api/events") {
    ex->set_route("/api/events");
    if (req->method() != http::verb::get) return method_not_allowed(*req, ex, "GET", send);
    Response head{http::status::ok, req->version()};
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    head.set("X-Accel-Buffering", "no");
    head.set("X-Served-By", deps.node_id);
    head.set("X-Request-Id", request_id);
    if (!deps.events.subscribe(ex, std::move(head))) {
      auto res = problem_for(*req, 503, "too many event subscribers");
      res.set(http::field::retry_after, "5");
      send(std::move(res));
    }
    return;
  }

  constexpr std::string_view kCollection = "/api/statuses";
  if (path == kCollection || path == "/api/statuses/") {
    ex->set_route("/api/statuses");
    if (req->method() == http::verb::get) return send(list_statuses(*req, deps.store.index()));
    if (req->method() != http::verb::post) return method_not_allowed(*req, ex, "GET, POST", send);
  } else if (path.starts_with("/api/statuses/")) {
    ex->set_route("/api/statuses/{username}");
    auto m = req->method();
    if (m != http::verb::get && m != http::verb::put && m != http::verb::delete_)
      return method_not_allowed(*req, ex, "GET, PUT, DELETE", send);
  } else {
    ex->set_route("/api (unknown)");
    return send(problem_for(*req, 404, "no such resource: " + std::string(path)));
  }

  std::optional<std::string> username;
  if (path.size() > kCollection.size() + 1) {
    auto raw = path.substr(kCollection.size() + 1);
    username = common::percent_decode(raw);
    if (!username) return send(problem_for(*req, 400, "malformed percent-encoding in the path"));
    if (raw.find('/') != std::string_view::npos)
      return send(problem_for(*req, 404, "no such resource: " + std::string(path)));
    // An escaped slash (al%2Fice) decodes into the name: a malformed name, not another path.
    if (!valid_username(*username))
      return send(problem_for(*req, 400, "username must be 1-64 characters of A-Z a-z 0-9 . _ -"));
  }
  if (req->method() == http::verb::get)
    return send(get_status(*req, *username, deps.store.index()));
  if (auto why = deps.writes_refused()) {
    auto res = problem_for(*req, 503, *why);
    res.set(http::field::retry_after, "1");
    return send(std::move(res));
  }

  bool sync_all = false;
  if (auto c = common::header(*req, "X-Consistency")) {
    std::string v;
    for (char ch : *c) v += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (v == "all") sync_all = true;
    else if (v != "async") return send(problem_for(*req, 400, "X-Consistency must be 'all' or 'async'"));
  }
  LocalRequest w;
  w.pre = parse_preconditions(*req);
  // Committed (or failed) on the writer thread; answered when the write path says so.
  auto done = [req, send, sync_all, &deps](WriteResult r) {
    auto result = std::make_shared<WriteResult>(std::move(r));
    deps.answerer.committed(*result, sync_all, [req, send, result](std::optional<ReplicationReport> rep) {
      auto res = write_response(*req, *result);
      if (rep) res.set("X-Replicated", std::to_string(rep->applied) + "/" + std::to_string(rep->expected));
      send(std::move(res));
    });
  };

  if (req->method() == http::verb::delete_) {
    w.is_delete = true;
    w.username = *username;
    return deps.store.write(std::move(w), std::move(done));
  }
  if (!json_content_type(*req))
    return send(problem_for(*req, 415, "Content-Type must be application/json"));
  auto parsed = parse_status_input(req->body(), username ? std::optional<std::string_view>(*username)
                                                         : std::nullopt);
  if (auto* err = std::get_if<InputError>(&parsed)) return send(problem_for(*req, 400, err->detail));
  w.input = std::move(std::get<StatusInput>(parsed));
  w.username = w.input.username.value_or("");
  deps.store.write(std::move(w), std::move(done));
}

}  // namespace status::node
