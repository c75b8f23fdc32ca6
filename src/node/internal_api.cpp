#include "node/internal_api.hpp"

#include "node/peer_sync.hpp"

#include <charconv>

namespace status::node {

namespace http = common::http;
using common::ExchangePtr;
using common::HttpError;
using common::Request;
using common::RouteMatch;

namespace {

std::optional<std::size_t> parse_index(std::string_view s, std::size_t limit) {
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v > limit) return std::nullopt;
  return v;
}

std::size_t query_index(const RouteMatch& m, const char* name, std::string_view fallback,
                        std::size_t limit, const char* rule) {
  auto v = parse_index(common::query_param(m.query, name).value_or(std::string(fallback)), limit);
  if (!v) throw HttpError(400, rule);
  return *v;
}

void json(const ExchangePtr& ex, const Request& req, std::string body) {
  ex->respond(common::json_response(200, std::move(body), req));
}

}  // namespace

void add_internal_routes(common::Router& r, InternalDeps& deps, int access) {
  auto* d = &deps;
  r.add(http::verb::get, "/internal/state", [d](Request&& req, const RouteMatch&, const ExchangePtr& ex) {
    auto id = common::header(req, "X-Status-Node-Id");
    auto url = common::header(req, "X-Status-Node-Url");
    if (id && url && id->size() <= 64 && url->size() <= 256) d->probed_by(*id, *url);
    json(ex, req, d->state_json());
  }, access);

  // Only a node whose own state is complete hands it out (a peer starting or resyncing would
  // pass on a partial state as if it were whole).
  r.add(http::verb::get, "/internal/snapshot", [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    if (!d->ready())
      throw HttpError(503, "this node is not up: its state may be incomplete", {{"Retry-After", "1"}});
    constexpr auto kSlots = StatusIndex::kDigestSlots;
    const char* rule = "need 0 <= first < last <= 4096";
    auto first = query_index(m, "first", "0", kSlots, rule);
    auto last = query_index(m, "last", std::to_string(kSlots), kSlots, rule);
    if (first >= last) throw HttpError(400, rule);
    json(ex, req, to_wire_array(d->store.index().slots(first, last, d->store.horizon_hlc())));
  }, access);

  r.add(http::verb::get, "/internal/digest", [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    auto n = query_index(m, "buckets", "64", 4096, "buckets must be 1..4096");
    if (n < 1) throw HttpError(400, "buckets must be 1..4096");
    json(ex, req, PeerSync::digest_json(d->store, n));
  }, access);

  // i: one bucket index or a comma-separated list of them, each 0 <= i < n.
  r.add(http::verb::get, "/internal/bucket", [d](Request&& req, const RouteMatch& m, const ExchangePtr& ex) {
    const char* rule = "need n in 1..4096 and i: indices 0 <= i < n, comma-separated";
    auto n = query_index(m, "n", "0", 4096, rule);
    auto list = common::query_param(m.query, "i").value_or("");
    std::vector<std::size_t> indices;
    if (n < 1 || list.empty()) throw HttpError(400, rule);
    for (std::string_view rest = list; !rest.empty();) {
      auto comma = rest.find(',');
      auto i = parse_index(rest.substr(0, comma), 4095);
      if (!i || *i >= n || indices.size() >= n) throw HttpError(400, rule);
      indices.push_back(*i);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (comma != std::string_view::npos && rest.empty()) throw HttpError(400, rule);
    }
    json(ex, req, to_wire_array(d->store.index().buckets(indices, n, d->store.horizon_hlc())));
  }, access);

  r.add(http::verb::post, "/internal/apply", [d](Request&& req, const RouteMatch&, const ExchangePtr& ex) {
    auto states = from_wire_array(req.body());
    if (!states) {
      ++d->malformed;
      throw HttpError(400, "body must be an array of valid wire states");
    }
    auto r = std::make_shared<Request>(std::move(req));
    d->store.apply(std::move(*states), [ex, r](ApplyResult a) {
      if (a.failed)
        return ex->respond(common::problem(503, "commit failed", r->version(), r->keep_alive()));
      if (a.rejected)
        return ex->respond(common::problem(
            400, std::to_string(a.rejected) + " states stamped too far ahead of this node's clock",
            r->version(), r->keep_alive()));
      ex->respond(common::json_response(200, "{\"applied\":" + std::to_string(a.applied) + "}", *r));
    });
  }, access);
}

}  // namespace status::node
