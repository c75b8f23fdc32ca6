#pragma once
// One request pipeline for every server: a table of routes (method, path pattern, handler,
// access rule, metrics label) that answers unknown paths with 404 and known paths with another
// method with 405 + Allow, checks each route's access rule before its handler runs, and turns
// a typed HttpError into problem+json in one place.

#include "common/http.hpp"
#include "common/http_server.hpp"

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace status::common {

/// A failed request, answered as RFC 9457 problem+json. Handlers throw it (or pass it to
/// Router::fail from a later thread); the router makes the answer.
struct HttpError : std::exception {
  HttpError(int status, std::string detail, std::vector<std::pair<std::string, std::string>> headers = {})
      : status(status), detail(std::move(detail)), headers(std::move(headers)) {}
  const char* what() const noexcept override { return detail.c_str(); }
  int status;
  std::string detail;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// What the router found for a request.
struct RouteMatch {
  std::string_view path, query;  // views into the request's target: valid while it lives
  std::string label;  // the route's metrics label (its pattern unless given)
  int access = 0;
  std::string request_id;  // the request's X-Request-Id when sane, else a new one
  unsigned version = 11;   // of the request (answers made after it was moved)
  bool keep_alive = true;
  std::vector<std::pair<std::string, std::string>> params;  // {name} → the raw path segment
  /// The raw (still percent-encoded) segment captured as {name}; empty if none.
  std::string_view param(std::string_view name) const;
};

class Router {
 public:
  using Handler = std::function<void(Request&&, const RouteMatch&, const ExchangePtr&)>;
  /// Checked before a route's handler runs: an error refuses the request (401, 403, 503, …).
  using Guard = std::function<std::optional<HttpError>(const Request&, const RouteMatch&)>;
  /// Adds headers to every answer the router makes itself (404, 405, errors).
  using Decorate = std::function<void(Response&, const RouteMatch&)>;

  /// `pattern`: literal segments and `{name}` (exactly one non-empty segment); a last segment
  /// `{name...}` takes the rest of the path.
  Router& add(http::verb method, std::string pattern, Handler handler, int access = 0,
              std::string label = {});
  void set_guard(Guard g) { guard_ = std::move(g); }
  void set_decorate(Decorate d) { decorate_ = std::move(d); }
  /// For requests no pattern matches (instead of 404), e.g. static files.
  void set_fallback(Handler h, std::string label) {
    fallback_ = std::move(h);
    fallback_label_ = std::move(label);
  }

  /// Routes `req`; always completes `ex` (or hands it to a handler that will).
  void dispatch(Request&& req, const ExchangePtr& ex) const;
  /// Answers `ex` with `e` as problem+json (any thread, e.g. a completion after the commit).
  void fail(const RouteMatch& m, const ExchangePtr& ex, const HttpError& e) const;
  /// The problem+json answer for `e` (without the decoration).
  static Response error_response(const HttpError& e, const RouteMatch& m);

 private:
  struct Route {
    http::verb method;
    std::vector<std::string> segments;
    bool rest = false;  // last segment is {name...}
    Handler handler;
    int access;
    std::string label;
  };
  static bool match(const Route& r, const std::vector<std::string_view>& segs, RouteMatch& m);

  std::vector<Route> routes_;
  Guard guard_;
  Decorate decorate_;
  Handler fallback_;
  std::string fallback_label_;
};

}  // namespace status::common
