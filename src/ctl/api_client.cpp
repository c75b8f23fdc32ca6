#include "ctl/api_client.hpp"

#include <strings.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>

namespace status::ctl {

namespace http = common::http;

std::string ApiReply::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return {};
}

ApiClient::ApiClient(const std::string& base_url, std::chrono::milliseconds timeout)
    : url_(base_url), base_(common::parse_base_url(base_url)), timeout_(timeout) {}

ApiReply ApiClient::call(http::verb method, const std::string& target, const std::string& body,
                         const common::Headers& headers) const {
  common::Headers all = headers;
  all.emplace_back("Accept", "application/json");
  auto r = common::http_request(method, base_, target, body, all, timeout_, 64 * 1024 * 1024);
  ApiReply out;
  if (!r.ok()) {
    out.error = r.ec.message();
    return out;
  }
  out.reached = true;
  out.status = r.res.result_int();
  out.body = std::move(r.res.body());
  for (const auto& f : r.res)
    out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

ApiReply ApiClient::get(const std::string& target) const {
  return call(http::verb::get, target, {}, {});
}

ApiReply ApiClient::put(const std::string& target, const std::string& json,
                        const common::Headers& headers) const {
  return call(http::verb::put, target, json, headers);
}

ApiReply ApiClient::del(const std::string& target, const common::Headers& headers) const {
  return call(http::verb::delete_, target, {}, headers);
}

// common::http_stream() reads with http::read, which returns only when its buffer is full, so a
// few small events would sit unseen. This one hands over whatever arrived (read_some), and bounds
// connecting and the answer's head by the timeout; the body then flows as long as it lasts.
int ApiClient::stream(const std::string& target,
                      const std::function<bool(std::string_view)>& on_data) const {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  asio::ip::tcp::resolver resolver(ioc);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  common::Request req{http::verb::get, base_.path + target, 11};
  req.set(http::field::host, base_.host + ":" + std::to_string(base_.port));
  req.set(http::field::user_agent, "statusctl");
  req.set(http::field::accept, "text/event-stream");
  int status = 0;
  std::array<char, 8192> chunk;
  std::function<void()> read_body = [&] {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    http::async_read_some(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return;
      std::size_t n = chunk.size() - parser.get().body().size;
      if (n > 0 && !on_data(std::string_view(chunk.data(), n))) return;
      if (!parser.is_done()) read_body();
    });
  };
  stream.expires_after(timeout_);
  resolver.async_resolve(
      base_.host, std::to_string(base_.port), [&](beast::error_code ec, auto results) {
        if (ec) return;
        stream.async_connect(results, [&](beast::error_code ec, const auto&) {
          if (ec) return;
          http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
            if (ec) return;
            http::async_read_header(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
              if (ec) return;
              status = parser.get().result_int();
              stream.expires_never();  // an event stream may rightly stay quiet for hours
              read_body();
            });
          });
        });
      });
  ioc.run();
  return status;
}

std::string encode_segment(std::string_view s) { return common::percent_encode_segment(s); }

}  // namespace status::ctl
