#pragma once
// The Status Server's REST API as seen by a command-line client: one blocking call per request.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http_client.hpp"

namespace status::ctl {

/// The outcome of one API call: `reached` is false when there was no HTTP answer at all
/// (connection refused, DNS failure, timeout); `error` then says why.
struct ApiReply {
  bool reached = false;
  std::string error;
  int status = 0;
  std::string body;
  common::Headers headers;                          // as received, names as sent by the server
  std::string header(std::string_view name) const;  // case-insensitive; "" if absent
};

/// A client of one base URL (a gateway, or a node). Stateless between calls; each call opens its
/// own connection, so one object may be used from one thread at a time.
class ApiClient {
 public:
  /// Throws std::invalid_argument when `base_url` is not an http:// URL. A non-empty `token` is
  /// sent with every request as `Authorization: Bearer <token>`; credentials in the URL
  /// (http://user:password@host) go with every call as HTTP Basic.
  ApiClient(const std::string& base_url, std::chrono::milliseconds timeout, std::string token = {});

  ApiReply get(const std::string& target) const;
  ApiReply post(const std::string& target, const std::string& json) const;
  ApiReply put(const std::string& target, const std::string& json,
               const common::Headers& headers) const;
  ApiReply del(const std::string& target, const common::Headers& headers) const;

  /// Follows a text/event-stream at `target`, handing each received piece to `on_data` until it
  /// returns false or the server closes. Returns the HTTP status, 0 when never connected.
  int stream(const std::string& target, const std::function<bool(std::string_view)>& on_data) const;

  /// The base URL for messages, its password (if any) replaced by ***.
  const std::string& url() const { return url_; }
  bool has_token() const { return !token_.empty(); }

 private:
  common::Headers with_credentials(common::Headers headers) const;
  ApiReply call(common::http::verb method, const std::string& target, const std::string& body,
                const common::Headers& headers) const;
  std::string url_;
  common::BaseUrl base_;
  std::chrono::milliseconds timeout_;
  std::string token_;  // never printed
};

/// Percent-encodes one path segment (everything but RFC 3986's unreserved characters).
std::string encode_segment(std::string_view s);

/// "?name=value&…" with names and values percent-encoded as encode_segment does (so '&', '=',
/// '+', ',', '#' and spaces arrive as sent), in the given order; "" when `params` is empty.
std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace status::ctl
