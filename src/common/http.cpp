#include "common/http.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cctype>
#include <random>

namespace status::common {

std::string_view method_label(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::post:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::patch:
    case http::verb::options:
    case http::verb::connect:
    case http::verb::trace:
      return http::to_string(method);
    default:
      return "OTHER";
  }
}

std::string_view reason(int status) {
  return http::obsolete_reason(static_cast<http::status>(status));
}

Response problem(int status, std::string_view detail, unsigned version, bool keep_alive) {
  boost::json::object o;
  o["type"] = "about:blank";
  o["title"] = std::string(reason(status));
  o["status"] = status;
  o["detail"] = std::string(detail);
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/problem+json");
  res.body() = boost::json::serialize(o);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

Response json_response(int status, std::string body, const Request& req) {
  Response res{static_cast<http::status>(status), req.version()};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

std::optional<std::string> header(const Request& req, std::string_view name) {
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  if (it == req.end()) return std::nullopt;
  return std::string(it->value());
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string percent_encode(std::string_view text, std::string_view also_keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        also_keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string percent_encode_segment(std::string_view segment) { return percent_encode(segment, ":"); }

std::vector<std::string> query_params(std::string_view query, std::string_view name) {
  std::vector<std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    auto eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    if (k == name) {
      auto v = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      auto d = percent_decode(v, true);
      out.push_back(d ? *d : std::string(v));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  auto all = query_params(query, name);
  if (all.empty()) return std::nullopt;
  return std::move(all.front());
}

std::string random_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    s[i] = hex[(a >> (i * 4)) & 15];
    s[16 + i] = hex[(b >> (i * 4)) & 15];
  }
  return s;
}

}  // namespace status::common

namespace status::common {

std::string request_id_for(const Request& req) {
  auto it = req.find("X-Request-Id");
  if (it != req.end()) {
    auto v = it->value();
    bool sane = !v.empty() && v.size() <= 128 &&
                std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (sane) return std::string(v);
  }
  return random_id();
}

}  // namespace status::common
