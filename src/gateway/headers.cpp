#include "gateway/headers.hpp"

#include "gateway/static_files.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <cctype>
#include <vector>

namespace status::gateway {

namespace beast = boost::beast;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return beast::iequals(beast::string_view(a.data(), a.size()),
                        beast::string_view(b.data(), b.size()));
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::string_view kFixed[] = {"connection", "keep-alive", "te", "trailer",
                                                "transfer-encoding", "upgrade"};
  for (auto f : kFixed)
    if (iequals(name, f)) return true;
  return istarts_with(name, "proxy-");
}

namespace {

// The fields one hop drops: the fixed hop-by-hop ones and those named in Connection. Views into
// the message's own fields (valid while it lives); built without allocating for the usual one or
// two Connection tokens.
class HopByHop {
 public:
  explicit HopByHop(const http::fields& fields) {
    for (auto it = fields.find(http::field::connection);
         it != fields.end() && it->name() == http::field::connection; ++it)
      for (auto token : http::token_list{it->value()}) named_.emplace_back(token.data(), token.size());
  }
  bool drops(std::string_view name) const {
    return is_hop_by_hop(name) ||
           std::any_of(named_.begin(), named_.end(), [&](auto n) { return iequals(n, name); });
  }

 private:
  boost::container::small_vector<std::string_view, 4> named_;
};

}  // namespace

void strip_hop_by_hop(http::fields& fields) {
  std::vector<std::string> doomed;  // copied: erasing invalidates the views HopByHop holds
  {
    HopByHop hop(fields);
    for (const auto& f : fields) {
      std::string_view name(f.name_string().data(), f.name_string().size());
      if (hop.drops(name)) doomed.emplace_back(name);
    }
  }
  for (const auto& name : doomed) fields.erase(name);
}

std::optional<std::string_view> framing_error(const Request& req) {
  std::size_t te_count = std::distance(req.equal_range(http::field::transfer_encoding).first,
                                       req.equal_range(http::field::transfer_encoding).second);
  auto cls = req.equal_range(http::field::content_length);
  bool has_cl = cls.first != cls.second;
  if (te_count > 0 && has_cl) return "both Content-Length and Transfer-Encoding";
  if (te_count > 1) return "repeated Transfer-Encoding";
  if (te_count == 1 && !iequals(trim(std::string_view(req[http::field::transfer_encoding])),
                                "chunked"))
    return "unsupported Transfer-Encoding";
  std::optional<std::string_view> first;
  for (auto it = cls.first; it != cls.second; ++it) {
    // A field may itself be a list ("5, 5"); every element must agree.
    std::string_view v(it->value().data(), it->value().size());
    while (!v.empty()) {
      auto comma = v.find(',');
      auto one = trim(v.substr(0, comma));
      if (one.empty() || !std::all_of(one.begin(), one.end(), [](char c) {
            return c >= '0' && c <= '9';
          }))
        return "malformed Content-Length";
      if (first && *first != one) return "conflicting Content-Length";
      first = one;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return std::nullopt;
}


namespace {

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

bool is_security_header(std::string_view name) {
  for (auto [n, v] : kSecurityHeaders)
    if (iequals(name, n)) return true;
  return false;
}

}  // namespace

std::string upstream_request(const Request& req, std::string_view client_ip,
                             std::string_view request_id, std::string_view traceparent,
                             bool client_tls) {
  HopByHop hop(req.base());
  std::string out;
  out.reserve(320 + req.target().size() + req.body().size());
  out += view(req.method_string());
  out += ' ';
  out += view(req.target());
  out += " HTTP/1.1\r\n";
  std::string prior_xff;  // every X-Forwarded-For line of the client's, as one list
  for (const auto& f : req) {
    auto name = view(f.name_string());
    if (hop.drops(name) || f.name() == http::field::content_length) continue;  // own framing
    if (f.name() == http::field::unknown) {
      if (iequals(name, "X-Forwarded-For")) {
        if (!prior_xff.empty()) prior_xff += ", ";
        prior_xff += view(f.value());
        continue;
      }
      if (iequals(name, "X-Forwarded-Proto") || iequals(name, "X-Request-Id") ||
          iequals(name, "traceparent"))
        continue;
    }
    append_field(out, name, view(f.value()));
  }
  out += "X-Forwarded-For: ";
  if (!prior_xff.empty()) {
    out += prior_xff;
    out += ", ";
  }
  out += client_ip;
  out += client_tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n";
  append_field(out, "X-Request-Id", request_id);
  if (!traceparent.empty()) append_field(out, "traceparent", traceparent);
  // A length for any body, none for a bodiless GET/HEAD/DELETE.
  if (!req.body().empty() || req.method() == http::verb::post ||
      req.method() == http::verb::put || req.method() == http::verb::patch)
    append_field(out, "Content-Length", std::to_string(req.body().size()));
  out += "\r\n";
  out += req.body();
  return out;
}

std::string client_response_head(const http::response_header<>& h, std::size_t body_size,
                                  std::string_view request_id, bool head_request) {
  // HEAD, 304 and 204 answers have no body but may carry the length a GET would have had.
  int code = h.result_int();
  bool bodiless = head_request || code == 204 || code == 304 || (code >= 100 && code < 200);
  HopByHop hop(h);
  std::string out;
  out.reserve(256);
  out += "HTTP/1.1 ";
  out += std::to_string(code);
  out += ' ';
  auto reason = view(h.reason());
  out += reason.empty() ? view(http::obsolete_reason(h.result())) : reason;
  out += "\r\n";
  bool has_request_id = false;
  for (const auto& f : h) {
    auto name = view(f.name_string());
    if (hop.drops(name) || is_security_header(name)) continue;
    if (f.name() == http::field::content_length) {
      if (bodiless) append_field(out, name, view(f.value()));
      continue;
    }
    if (f.name() == http::field::unknown && iequals(name, "X-Request-Id")) has_request_id = true;
    append_field(out, name, view(f.value()));
  }
  if (!has_request_id) append_field(out, "X-Request-Id", request_id);
  if (!bodiless) append_field(out, "Content-Length", std::to_string(body_size));
  return out;
}

void prepare_stream_head(http::response_header<>& head, std::string_view request_id) {
  strip_hop_by_hop(head);
  for (auto [name, value] : kSecurityHeaders) head.erase(name);
  head.erase(http::field::content_length);
  if (head.find("X-Request-Id") == head.end()) head.set("X-Request-Id", request_id);
  head.version(11);
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// "name", "name:port", "[v6]", "[v6]:port" → (lower-case name without brackets, port or "");
// nullopt when malformed.
std::optional<std::pair<std::string, std::string_view>> split_host(std::string_view h) {
  std::string_view name, port;
  if (h.starts_with('[')) {
    auto close = h.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    name = h.substr(1, close - 1);
    auto rest = h.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
    if (name.empty() ||
        name.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
      return std::nullopt;
  } else {
    auto colon = h.find(':');
    name = h.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = h.substr(colon + 1);
      if (port.find(':') != std::string_view::npos) {
        // A bare IPv6 address (only as a configured entry, e.g. "::1"): no port.
        name = h;
        port = {};
      }
    }
    if (name.empty()) return std::nullopt;
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
          c != ':')
        return std::nullopt;
  }
  if (port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  return std::pair{lower(name), port};
}

}  // namespace

bool host_allowed(std::string_view host, const std::vector<std::string>& allowed) {
  host = trim(host);
  auto got = split_host(host);
  if (!got) return false;
  // A bare IPv6 address in a Host field is not valid (it must be bracketed).
  if (!host.starts_with('[') && got->first.find(':') != std::string::npos) return false;
  for (const auto& a : allowed) {
    auto want = split_host(a);
    if (!want || want->first != got->first) continue;
    if (want->second.empty() || want->second == got->second) return true;
  }
  return false;
}

bool accepts_gzip(const common::Request& req) {
  std::string all;
  bool any = false;
  for (const auto& f : req) {
    if (f.name() != http::field::accept_encoding) continue;
    if (any) all += ", ";
    all.append(f.value().data(), f.value().size());
    any = true;
  }
  return any && choose_encoding(all, true, false) == Encoding::kGzip;
}

bool gzip_answer(http::response<http::string_body>& answer) {
  if (answer.result() != http::status::ok || answer.body().size() < kGzipMinBytes) return false;
  if (answer.find(http::field::content_encoding) != answer.end() ||
      answer.find(http::field::etag) != answer.end())
    return false;
  auto type = answer.find(http::field::content_type);
  if (type == answer.end()) return false;
  std::string_view t(type->value().data(), type->value().size());
  if (!(t.starts_with("application/json") || t.starts_with("application/problem+json"))) return false;
  auto gz = gzip_compress(answer.body(), 6);
  if (gz.empty() || gz.size() >= answer.body().size()) return false;
  answer.body() = std::move(gz);
  answer.set(http::field::content_encoding, "gzip");
  auto vary = answer.find(http::field::vary);
  if (vary == answer.end()) {
    answer.set(http::field::vary, "Accept-Encoding");
  } else {
    std::string v(vary->value().data(), vary->value().size());
    answer.set(http::field::vary, v + ", Accept-Encoding");
  }
  return true;
}

}  // namespace status::gateway

