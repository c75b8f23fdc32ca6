#include "common/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <optional>
#include <stdexcept>

#include "common/basic_auth.hpp"
#include "common/tls.hpp"

namespace status::common {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

std::string BaseUrl::str() const {
  return std::string(scheme()) + "://" + host + ":" + std::to_string(port) + path;
}

std::string BaseUrl::redacted() const {
  if (user.empty()) return str();
  return std::string(scheme()) + "://" + user + ":***@" + host + ":" + std::to_string(port) + path;
}

std::string redact_url(std::string_view url) {
  // Userinfo ends at the last '@' before any query or fragment; its password starts after its
  // first ':'. A malformed URL may have a '/' in its password, so the path is searched too
  // (redacting a little too much in a message about a broken URL is harmless).
  auto scheme_end = url.find("://");
  std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  std::string_view head = url.substr(0, url.find_first_of("?#", start));
  auto at = head.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  auto colon = head.find(':', start);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

Option base_url_option(std::string name, std::vector<BaseUrl>* to, std::string help) {
  return Option::each(
      std::move(name),
      [to](const std::string& v) {
        to->push_back(parse_base_url(v));  // throws std::invalid_argument
        return true;
      },
      "an http:// or https:// URL", "", std::move(help));
}

Option base_url_option(std::string name, std::vector<std::string>* to, std::string help) {
  return Option::each(
      std::move(name),
      [to](const std::string& v) {
        parse_base_url(v);  // throws std::invalid_argument
        to->push_back(v);
        return true;
      },
      "an http:// or https:// URL", "", std::move(help));
}

bool is_base_url(const std::string& url) {
  try {
    parse_base_url(url);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

BaseUrl parse_base_url(const std::string& url) {
  const std::string shown = redact_url(url);
  auto r = boost::urls::parse_uri(url);
  if (!r) throw std::invalid_argument("malformed URL '" + shown + "'");
  BaseUrl b;
  if (r->scheme() == "https") {
    b.tls = true;
    b.port = 443;
  } else if (r->scheme() != "http") {
    throw std::invalid_argument("URL '" + shown + "' must be http:// or https://");
  }
  b.host = std::string(r->host());
  if (b.host.empty()) throw std::invalid_argument("URL '" + shown + "' has no host");
  if (r->has_port()) {
    auto p = r->port_number();
    if (p == 0) throw std::invalid_argument("URL '" + shown + "' has an invalid port");
    b.port = p;
  }
  if (r->has_userinfo()) {
    b.user = r->user();
    b.password = r->password();
    if (b.user.empty())
      throw std::invalid_argument("URL '" + shown + "' has credentials but no user");
  }
  b.path = std::string(r->encoded_path());
  while (!b.path.empty() && b.path.back() == '/') b.path.pop_back();
  return b;
}

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One client connection, plain or TLS as the URL says, driven by the caller's run of `ioc`.
// with() hands the stream to a generic callback, so the HTTP exchange is written once.
class Connection {
 public:
  explicit Connection(const BaseUrl& base) : base_(base), resolver_(ioc) {
    if (base.tls) tls_.emplace(ioc, *(ctx_ = client_tls_context()));
    else plain_.emplace(ioc);
  }
  asio::io_context ioc;

  beast::tcp_stream& tcp() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  template <class F>
  void with(F&& f) {
    if (tls_) f(*tls_);
    else f(*plain_);
  }

  // Resolves, connects and (https) verifies the server; then `done`. Bounded by the stream's
  // deadline (set by the caller).
  void open(std::function<void(beast::error_code)> done) {
    done_ = std::move(done);
    resolver_.async_resolve(base_.host, std::to_string(base_.port),
                            [this](beast::error_code ec, tcp::resolver::results_type r) {
                              if (ec) return done_(ec);
                              tcp().async_connect(r, [this](beast::error_code ec,
                                                            const tcp::endpoint&) {
                                if (ec || !tls_) return done_(ec);
                                if (!expect_server_name(tls_->native_handle(), base_.host))
                                  return done_(asio::error::invalid_argument);
                                tls_->async_handshake(asio::ssl::stream_base::client, done_);
                              });
                            });
  }

  void close() {
    beast::error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

 private:
  const BaseUrl& base_;
  tcp::resolver resolver_;
  std::shared_ptr<asio::ssl::context> ctx_;  // before the stream that uses it
  std::optional<beast::tcp_stream> plain_;
  std::optional<TlsStream> tls_;
  std::function<void(beast::error_code)> done_;
};

Request make_request(http::verb method, const BaseUrl& base, const std::string& target,
                     const std::string& body, const Headers& headers) {
  Request req{method, base.path + target, 11};
  req.set(http::field::host, base.host + ":" + std::to_string(base.port));
  req.set(http::field::user_agent, "status-server");
  // The URL's credentials; an Authorization among `headers` (e.g. a bearer token) wins.
  if (!base.user.empty())
    req.set(http::field::authorization, basic_authorization(base.user, base.password));
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == http::verb::post || method == http::verb::put) {
    req.body() = body;
    if (req.find(http::field::content_type) == req.end())
      req.set(http::field::content_type, "application/json");
    req.prepare_payload();
  }
  req.keep_alive(false);
  return req;
}

}  // namespace

ClientResult http_request(http::verb method, const BaseUrl& base, const std::string& target,
                          const std::string& body, const Headers& headers,
                          std::chrono::milliseconds timeout, std::size_t body_limit) {
  ClientResult out;
  Connection conn(base);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  parser.header_limit(64 * 1024);
  auto req = make_request(method, base, target, body, headers);
  conn.tcp().expires_after(timeout);
  conn.open([&](beast::error_code ec) {
    if (ec) { out.ec = ec; return; }
    conn.with([&](auto& stream) {
      http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
        if (ec) { out.ec = ec; return; }
        http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
          if (ec) { out.ec = ec; return; }
          out.res = parser.release();
        });
      });
    });
  });
  conn.ioc.run();
  conn.close();
  return out;
}

int http_stream(const BaseUrl& base, const std::string& target, const Headers& headers,
                std::chrono::milliseconds timeout,
                const std::function<bool(std::string_view)>& on_data) {
  // Asynchronous, because Beast's timeouts apply only to asynchronous operations.
  Connection conn(base);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  auto req = make_request(http::verb::get, base, target, {}, headers);
  req.keep_alive(true);
  int status = 0;
  std::array<char, 8192> chunk;
  std::function<void()> read_body;
  conn.tcp().expires_after(timeout);
  conn.open([&](beast::error_code ec) {
    if (ec) return;
    conn.with([&](auto& stream) {
      read_body = [&] {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        // read_some: hand over each piece as it arrives (read() would wait for a full buffer).
        http::async_read_some(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
          if (ec == http::error::need_buffer) ec = {};
          if (ec) return;
          std::size_t n = chunk.size() - parser.get().body().size;
          if (n > 0 && !on_data(std::string_view(chunk.data(), n))) return;
          if (!parser.is_done()) read_body();
        });
      };
      http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
        if (ec) return;
        http::async_read_header(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
          if (ec) return;
          status = parser.get().result_int();
          conn.tcp().expires_never();  // an event stream may rightly stay quiet for hours
          if (!parser.is_done()) read_body();  // e.g. 204, or Content-Length: 0
        });
      });
    });
  });
  conn.ioc.run();
  return status;
}

}  // namespace status::common
