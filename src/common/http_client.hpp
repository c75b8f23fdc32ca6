#pragma once
// A small blocking HTTP/1.1 client with a deadline, for background threads (registration,
// peer calls, tools). Not for the request path of a server.

#include "common/config.hpp"
#include "common/http.hpp"

#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace status::common {

/// http[s]://[user:password@]host:port/base-path split into parts. With a user, every request
/// made to it carries `Authorization: Basic …` (as Eureka clients do with their service URLs).
/// https: TLS, the server verified against the process's trust (configure_client_tls) and
/// `host`.
struct BaseUrl {
  bool tls = false;
  std::string host;
  unsigned short port = 80;
  std::string path;      // without trailing '/', may be empty
  std::string user;      // percent-decoded userinfo; empty: no credentials
  std::string password;  // percent-decoded
  /// "https" or "http".
  const char* scheme() const { return tls ? "https" : "http"; }
  /// http[s]://host:port/path, without the credentials (logs, metric labels).
  std::string str() const;
  /// For logs: http[s]://user:***@host:port/path when there are credentials, else str().
  std::string redacted() const;
};
/// Throws std::invalid_argument when malformed; the message never contains the password.
BaseUrl parse_base_url(const std::string& url);
/// Whether parse_base_url accepts `url` (for Option::valid_if).
bool is_base_url(const std::string& url);
/// `url` with the password of its userinfo (user:password@) replaced by ***, for messages
/// about URLs that may not even parse.
std::string redact_url(std::string_view url);

/// A repeatable option row of base URLs (each checked by parse_base_url, then appended to `to`).
/// Mark it .secret() when the URLs may carry passwords.
Option base_url_option(std::string name, std::vector<BaseUrl>* to, std::string help);
/// The same, keeping the URLs as given.
Option base_url_option(std::string name, std::vector<std::string>* to, std::string help);

struct ClientResult {
  boost::system::error_code ec;  // set on connect/IO/timeout failure; res is then empty
  http::response<http::string_body> res;
  bool ok() const { return !ec; }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

/// One request on a new connection, all of it (connect, TLS handshake, send, receive) within
/// `timeout`. A server that fails TLS verification is an error in `ec` (ssl category).
ClientResult http_request(http::verb method, const BaseUrl& base, const std::string& target,
                          const std::string& body = {}, const Headers& headers = {},
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                          std::size_t body_limit = 256 * 1024 * 1024);

/// Reads an open-ended answer (e.g. text/event-stream) and hands each piece of the body to
/// `on_data` as it arrives, until it returns false or the server closes. `timeout` bounds
/// connecting, the TLS handshake, sending and the answer's head; the body then flows as long as
/// it lasts (an event stream may rightly stay quiet for hours). Returns the status code (0 if no head came).
int http_stream(const BaseUrl& base, const std::string& target, const Headers& headers,
                std::chrono::milliseconds timeout,
                const std::function<bool(std::string_view)>& on_data);

}  // namespace status::common
