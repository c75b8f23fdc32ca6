#include "common/router.hpp"

#include <spdlog/spdlog.h>

namespace status::common {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.starts_with('/')) path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(std::string_view s) { return s.size() > 2 && s.front() == '{' && s.back() == '}'; }

}  // namespace

std::string_view RouteMatch::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

Router& Router::add(http::verb method, std::string pattern, Handler handler, int access,
                    std::string label) {
  Route r;
  r.method = method;
  for (auto s : split_path(pattern)) r.segments.emplace_back(s);
  if (!r.segments.empty() && r.segments.back().ends_with("...}")) r.rest = true;
  r.handler = std::move(handler);
  r.access = access;
  r.label = label.empty() ? pattern : std::move(label);
  routes_.push_back(std::move(r));
  return *this;
}

bool Router::match(const Route& r, const std::vector<std::string_view>& segs, RouteMatch& m) {
  std::size_t n = r.segments.size();
  if (r.rest ? segs.size() < n : segs.size() != n) return false;
  std::vector<std::pair<std::string, std::string>> params;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& want = r.segments[i];
    if (r.rest && i == n - 1) {
      std::string tail;
      for (std::size_t k = i; k < segs.size(); ++k) tail += (k > i ? "/" : "") + std::string(segs[k]);
      params.emplace_back(want.substr(1, want.size() - 5), std::move(tail));
      break;
    }
    if (is_param(want)) {
      if (segs[i].empty()) return false;
      params.emplace_back(want.substr(1, want.size() - 2), std::string(segs[i]));
    } else if (want != segs[i]) {
      return false;
    }
  }
  m.params = std::move(params);
  return true;
}

Response Router::error_response(const HttpError& e, const RouteMatch& m) {
  auto res = problem(e.status, e.detail, m.version, m.keep_alive);
  for (const auto& [k, v] : e.headers) res.set(k, v);
  return res;
}

void Router::fail(const RouteMatch& m, const ExchangePtr& ex, const HttpError& e) const {
  auto res = error_response(e, m);
  if (decorate_) decorate_(res, m);
  ex->respond(std::move(res));
}

void Router::dispatch(Request&& req, const ExchangePtr& ex) const {
  std::string_view target(req.target().data(), req.target().size());
  auto [path, query] = split_target(target);
  auto segs = split_path(path);
  RouteMatch m;
  m.path = path;
  m.query = query;
  m.request_id = request_id_for(req);
  m.version = req.version();
  m.keep_alive = req.keep_alive();
  const Route* found = nullptr;
  std::string allow;
  auto method = req.method();
  for (const auto& r : routes_) {
    RouteMatch candidate;
    if (!match(r, segs, candidate)) continue;
    bool same = r.method == method;
    if (same && !found) {
      found = &r;
      m.params = std::move(candidate.params);
      m.label = r.label;
      m.access = r.access;
    }
    std::string name(http::to_string(r.method));
    if (allow.find(name) == std::string::npos) allow += (allow.empty() ? "" : ", ") + name;
  }
  if (!found) {
    if (allow.empty() && fallback_) {
      m.label = fallback_label_;
      ex->set_route(m.label);
      return fallback_(std::move(req), m, ex);
    }
    if (allow.empty()) {
      m.label = "(unknown)";
      ex->set_route(m.label);
      return fail(m, ex, HttpError(404, "no such resource: " + std::string(path)));
    }
    // The label of the path's first route: a bounded set, whatever the method was.
    for (const auto& r : routes_) {
      RouteMatch c;
      if (match(r, segs, c)) {
        m.label = r.label;
        break;
      }
    }
    ex->set_route(m.label);
    return fail(m, ex,
                HttpError(405,
                          "method " + std::string(req.method_string().substr(0, 32)) +
                              " is not allowed here; allowed: " + allow,
                          {{"Allow", allow}}));
  }
  ex->set_route(m.label);
  try {
    if (guard_)
      if (auto refused = guard_(req, m)) return fail(m, ex, *refused);
    found->handler(std::move(req), m, ex);
  } catch (const HttpError& e) {
    fail(m, ex, e);
  }
}

}  // namespace status::common
