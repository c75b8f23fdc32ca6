#include "gateway/cors.hpp"

#include <algorithm>
#include <cctype>

#include "gateway/static_files.hpp"

namespace status::gateway {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::string> canonical_origin(std::string_view s, bool allow_path) {
  if (s.size() > 2048) return std::nullopt;
  auto sep = s.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string scheme = lower(s.substr(0, sep));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  std::string_view rest = s.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos && !allow_path) return std::nullopt;
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host, port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    host = authority.substr(0, close + 1);
    if (host.substr(1, host.size() - 2).find_first_not_of("0123456789abcdefABCDEF:.") !=
        std::string_view::npos)
      return std::nullopt;
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty()) return std::nullopt;
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
        return std::nullopt;
  }
  std::string out = scheme + "://" + lower(host);
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    long n = std::stol(std::string(port));
    if (n < 1 || n > 65535) return std::nullopt;
    bool dflt = (scheme == "http" && n == 80) || (scheme == "https" && n == 443);
    if (!dflt) out += ":" + std::to_string(n);  // without leading zeros
  }
  return out;
}

std::optional<std::string> CorsPolicy::allowed(std::string_view origin) const {
  if (origins.empty()) return std::nullopt;
  auto c = canonical_origin(origin);
  if (!c || !origins.contains(*c)) return std::nullopt;
  return c;
}

namespace {

// `csp` with " <extra>" after the directive prefix `directive` (e.g. "connect-src 'self'").
std::string add_sources(std::string csp, std::string_view directive, std::string_view extra) {
  if (extra.empty()) return csp;
  auto at = csp.find(directive);
  if (at == std::string::npos) return csp;
  at += directive.size();
  std::string out;
  out.reserve(csp.size() + extra.size() + 1);
  out.append(csp, 0, at).append(" ").append(extra).append(csp, at, std::string::npos);
  return out;
}

}  // namespace

std::string content_security_policy(std::string_view extra, std::string_view img_extra) {
  std::string csp = add_sources(std::string(kContentSecurityPolicy), "connect-src 'self'", extra);
  return add_sources(std::move(csp), "img-src 'self' data:", img_extra);
}

std::optional<std::string> tile_image_source(std::string_view url) {
  if (url.empty() || url.size() > kMaxTileUrl) return std::nullopt;
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`')
      return std::nullopt;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  auto host_begin = sep + 3;
  auto host_end = url.find_first_of("/?#", host_begin);
  if (host_end == std::string_view::npos) return std::nullopt;  // no path: no {z}/{x}/{y}
  std::string_view authority = url.substr(host_begin, host_end - host_begin);
  std::string_view rest = url.substr(host_end);
  // The placeholders: only these, and {z} {x} {y} in the path or query.
  for (std::size_t i = 0; (i = url.find('{', i)) != std::string_view::npos; ++i) {
    auto close = url.find('}', i);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view p = url.substr(i, close + 1 - i);
    if (p != "{z}" && p != "{x}" && p != "{y}" && p != "{-y}" && p != "{s}" && p != "{r}")
      return std::nullopt;
  }
  if (url.find('}') != std::string_view::npos &&
      std::count(url.begin(), url.end(), '{') != std::count(url.begin(), url.end(), '}'))
    return std::nullopt;
  if (rest.find("{z}") == std::string_view::npos || rest.find("{x}") == std::string_view::npos ||
      (rest.find("{y}") == std::string_view::npos && rest.find("{-y}") == std::string_view::npos))
    return std::nullopt;
  bool wildcard = authority.starts_with("{s}.");
  std::string_view plain_authority = wildcard ? authority.substr(4) : authority;
  if (plain_authority.find('{') != std::string_view::npos) return std::nullopt;
  auto origin = canonical_origin(std::string(url.substr(0, host_begin)) +
                                 std::string(plain_authority) + "/", true);
  if (!origin) return std::nullopt;
  if (!wildcard) return origin;
  auto slashes = origin->find("://");
  if (origin->compare(slashes + 3, 1, "[") == 0) return std::nullopt;  // no subdomains of an IP
  return origin->substr(0, slashes + 3) + "*." + origin->substr(slashes + 3);
}

CorsPolicy make_cors_policy(std::string_view self, const std::vector<std::string>& urls,
                            std::string_view img_extra) {
  CorsPolicy p;
  auto own = canonical_origin(self, true);
  if (own) p.origins.insert(*own);
  std::vector<std::string> others;
  for (const auto& u : urls) {
    auto o = canonical_origin(u, true);
    if (!o || !p.origins.insert(*o).second) continue;
    others.push_back(*o);
  }
  std::sort(others.begin(), others.end());
  std::string extra;
  for (const auto& o : others) extra += (extra.empty() ? "" : " ") + o;
  p.csp = content_security_policy(extra, img_extra);
  return p;
}

std::vector<std::pair<std::string, std::string>> cors_fields(const std::string& origin) {
  return {{"Access-Control-Allow-Origin", origin},
          {"Access-Control-Allow-Credentials", "true"},
          {"Access-Control-Expose-Headers", std::string(kCorsExposeHeaders)},
          {"Vary", "Origin"}};
}

common::Response preflight_response(const std::string& origin, bool keep_alive) {
  common::Response res{common::http::status::no_content, 11};
  res.set("Access-Control-Allow-Origin", origin);
  res.set("Access-Control-Allow-Credentials", "true");
  res.set("Access-Control-Allow-Methods", kCorsAllowMethods);
  res.set("Access-Control-Allow-Headers", kCorsAllowHeaders);
  res.set("Access-Control-Max-Age", kCorsMaxAge);
  res.set(common::http::field::vary, "Origin");
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

namespace {

class CorsExchange final : public common::Exchange {
 public:
  CorsExchange(common::ExchangePtr inner, std::string origin)
      : inner_(std::move(inner)), fields_(cors_fields(origin)) {}
  void respond(common::Response res) override {
    for (const auto& [k, v] : fields_) add(res, k, v);
    inner_->respond(std::move(res));
  }
  void respond_serialized(int status, std::string head, std::string body) override {
    for (const auto& [k, v] : fields_) head.append(k).append(": ").append(v).append("\r\n");
    inner_->respond_serialized(status, std::move(head), std::move(body));
  }
  void begin_stream(common::Response head) override {
    for (const auto& [k, v] : fields_) add(head, k, v);
    inner_->begin_stream(std::move(head));
  }
  bool push(std::string data) override { return inner_->push(std::move(data)); }
  void end_stream() override { inner_->end_stream(); }
  bool open() const override { return inner_->open(); }
  void set_route(std::string route) override { inner_->set_route(std::move(route)); }
  const common::TraceContext& trace() const override { return inner_->trace(); }
  boost::asio::any_io_executor executor() override { return inner_->executor(); }
  std::string remote_address() const override { return inner_->remote_address(); }

 private:
  // Vary is a list: the node's own (if any) is kept, Origin added once.
  static void add(common::Response& res, const std::string& k, const std::string& v) {
    if (k == "Vary") {
      auto it = res.find(common::http::field::vary);
      if (it != res.end()) {
        std::string had(it->value());
        if (had.find("Origin") == std::string::npos)
          res.set(common::http::field::vary, had + ", Origin");
        return;
      }
    }
    res.set(k, v);
  }
  common::ExchangePtr inner_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace

common::ExchangePtr with_cors_fields(common::ExchangePtr inner, std::string origin) {
  return std::make_shared<CorsExchange>(std::move(inner), std::move(origin));
}

}  // namespace status::gateway
