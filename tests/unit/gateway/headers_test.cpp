#include "gateway/headers.hpp"

#include <boost/beast/http/parser.hpp>
#include <gtest/gtest.h>
#include "../gunzip.hpp"

using namespace status::gateway;

namespace {

Request make_request(http::verb verb = http::verb::get, std::string target = "/api/statuses") {
  Request r{verb, target, 11};
  r.set(http::field::host, "gw");
  return r;
}

template <bool IsRequest>
http::message<IsRequest, http::string_body> parse(const std::string& wire) {
  http::parser<IsRequest, http::string_body> p;
  p.eager(true);
  boost::beast::error_code ec;
  p.put(boost::asio::buffer(wire), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.is_done());
  return p.release();
}
Request parse_request(const std::string& wire) { return parse<true>(wire); }
Response parse_response(const std::string& wire) { return parse<false>(wire); }

}  // namespace

TEST(Headers, HopByHopNames) {
  for (auto n : {"Connection", "keep-alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                 "Proxy-Authorization", "proxy-connection"})
    EXPECT_TRUE(is_hop_by_hop(n)) << n;
  for (auto n : {"Content-Length", "Host", "X-Request-Id", "Trailers-Not", "Accept"})
    EXPECT_FALSE(is_hop_by_hop(n)) << n;
}

TEST(Headers, StripRemovesFieldsNamedInConnection) {
  Request r = make_request();
  r.set(http::field::connection, "keep-alive, X-Secret");
  r.insert("X-Secret", "1");
  r.insert("Keep-Alive", "timeout=5");
  r.insert("Proxy-Authorization", "Basic x");
  r.insert("Upgrade", "websocket");
  r.insert("X-Keep", "yes");
  strip_hop_by_hop(r.base());
  EXPECT_EQ(r.find("X-Secret"), r.end());
  EXPECT_EQ(r.find("Keep-Alive"), r.end());
  EXPECT_EQ(r.find("Proxy-Authorization"), r.end());
  EXPECT_EQ(r.find("Upgrade"), r.end());
  EXPECT_EQ(r.find(http::field::connection), r.end());
  EXPECT_EQ(r["X-Keep"], "yes");
  EXPECT_EQ(r[http::field::host], "gw");
}

TEST(Headers, UpstreamRequestGetsForwardingHeadersAndOwnFraming) {
  Request r = make_request(http::verb::put, "/api/statuses/alice");
  r.insert("X-Forwarded-For", "10.0.0.1");
  r.insert("X-Forwarded-For", "10.0.0.2");
  r.set("X-Forwarded-Proto", "https");
  r.set("X-Request-Id", "client-chosen");
  r.set(http::field::transfer_encoding, "chunked");
  r.set(http::field::connection, "keep-alive, X-Secret");
  r.set("X-Secret", "1");
  r.set("X-Keep", "yes");
  r.body() = R"({"statusText":"hi"})";
  Request up = parse_request(upstream_request(r, "127.0.0.1", "rid-1"));
  EXPECT_EQ(up["X-Forwarded-For"], "10.0.0.1, 10.0.0.2, 127.0.0.1");
  EXPECT_EQ(up.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(up["X-Forwarded-Proto"], "http");
  EXPECT_EQ(up.count("X-Request-Id"), 1u);
  EXPECT_EQ(up["X-Request-Id"], "rid-1");
  EXPECT_EQ(up.find(http::field::transfer_encoding), up.end());
  EXPECT_EQ(up.find(http::field::connection), up.end());
  EXPECT_EQ(up.find("X-Secret"), up.end());
  EXPECT_EQ(up["X-Keep"], "yes");
  EXPECT_EQ(up[http::field::host], "gw");
  EXPECT_EQ(up[http::field::content_length], std::to_string(r.body().size()));
  EXPECT_EQ(up.body(), r.body());
  EXPECT_EQ(up.version(), 11);
  EXPECT_TRUE(up.keep_alive());

  Request g = make_request();
  g.set(http::field::content_length, "0");
  Request gu = parse_request(upstream_request(g, "::1", "rid-2"));
  EXPECT_EQ(gu["X-Forwarded-For"], "::1");
  EXPECT_EQ(gu.find(http::field::content_length), gu.end());
}

TEST(Headers, RequestIdKeptWhenSaneElseGenerated) {
  Request r = make_request();
  r.set("X-Request-Id", "abc-123");
  EXPECT_EQ(request_id_for(r), "abc-123");
  r.set("X-Request-Id", "has space");
  EXPECT_EQ(request_id_for(r).size(), 32u);
  r.set("X-Request-Id", std::string(200, 'a'));
  EXPECT_EQ(request_id_for(r).size(), 32u);
  Request none = make_request();
  EXPECT_NE(request_id_for(none), request_id_for(none));
}

TEST(Headers, FramingErrors) {
  Request ok = make_request(http::verb::post);
  ok.set(http::field::content_length, "5");
  EXPECT_FALSE(framing_error(ok));
  ok.set(http::field::content_length, "5, 5");
  EXPECT_FALSE(framing_error(ok));

  Request both = make_request(http::verb::post);
  both.insert(http::field::transfer_encoding, "chunked");
  both.insert(http::field::content_length, "5");
  EXPECT_TRUE(framing_error(both));

  Request conflict = make_request(http::verb::post);
  conflict.insert(http::field::content_length, "5");
  conflict.insert(http::field::content_length, "6");
  EXPECT_TRUE(framing_error(conflict));
  conflict.set(http::field::content_length, "5, 6");
  EXPECT_TRUE(framing_error(conflict));
  conflict.set(http::field::content_length, "-1");
  EXPECT_TRUE(framing_error(conflict));

  Request odd_te = make_request(http::verb::post);
  odd_te.insert(http::field::transfer_encoding, "gzip, chunked");
  EXPECT_TRUE(framing_error(odd_te));
  Request two_te = make_request(http::verb::post);
  two_te.insert(http::field::transfer_encoding, "chunked");
  two_te.insert(http::field::transfer_encoding, "chunked");
  EXPECT_TRUE(framing_error(two_te));
  Request chunked = make_request(http::verb::post);
  chunked.insert(http::field::transfer_encoding, "Chunked");
  EXPECT_FALSE(framing_error(chunked));
}

TEST(Headers, ClientResponseReframedAndTagged) {
  Response res{http::status::ok, 11};
  res.set(http::field::transfer_encoding, "chunked");
  res.set(http::field::connection, "close");
  res.set("X-Served-By", "n1");
  auto head = client_response_head(res.base(), 2, "rid", false);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(head.substr(head.size() - 2), "\r\n");
  EXPECT_EQ(head.find("\r\n\r\n"), std::string::npos);  // the server ends the head
  Response back = parse_response(head + "\r\n[]");
  EXPECT_EQ(back.find(http::field::transfer_encoding), back.end());
  EXPECT_EQ(back.find(http::field::connection), back.end());
  EXPECT_EQ(back[http::field::content_length], "2");
  EXPECT_EQ(back["X-Served-By"], "n1");
  EXPECT_EQ(back["X-Request-Id"], "rid");
  EXPECT_EQ(back.body(), "[]");

  Response to_head{http::status::ok, 11};
  to_head.set(http::field::content_length, "1234");
  to_head.set("X-Request-Id", "theirs");
  head = client_response_head(to_head.base(), 0, "rid", true);
  EXPECT_NE(head.find("\r\nContent-Length: 1234\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-Request-Id: theirs\r\n"), std::string::npos);
  EXPECT_EQ(head.find("rid\r\n"), std::string::npos);

  Response not_modified{http::status::not_modified, 11};
  head = client_response_head(not_modified.base(), 0, "rid", false);
  EXPECT_EQ(head.rfind("HTTP/1.1 304 Not Modified\r\n", 0), 0u);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);

  Response created{http::status::created, 11};
  created.reason("Made It");
  head = client_response_head(created.base(), 0, "rid", false);
  EXPECT_EQ(head.rfind("HTTP/1.1 201 Made It\r\n", 0), 0u);
  EXPECT_NE(head.find("\r\nContent-Length: 0\r\n"), std::string::npos);
}

TEST(Headers, StreamHead) {
  http::response_header<> h;
  h.result(http::status::ok);
  h.set(http::field::content_type, "text/event-stream");
  h.set(http::field::transfer_encoding, "chunked");
  h.set(http::field::content_length, "10");
  prepare_stream_head(h, "rid");
  EXPECT_EQ(h.find(http::field::transfer_encoding), h.end());
  EXPECT_EQ(h.find(http::field::content_length), h.end());
  EXPECT_EQ(h["X-Request-Id"], "rid");
}

TEST(Headers, SerializeRequest) {
  Request r = make_request(http::verb::put, "/api/statuses/alice?x=1");
  r.body() = "{}";
  auto wire = upstream_request(r, "127.0.0.1", "rid");
  EXPECT_EQ(wire.rfind("PUT /api/statuses/alice?x=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(wire.find("\r\nHost: gw\r\n"), std::string::npos);
  EXPECT_NE(wire.find("\r\nContent-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(wire.find("\r\nX-Request-Id: rid\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 6), "\r\n\r\n{}");
}

// Against DNS rebinding (review F10): only configured names, any port unless an entry names one.
TEST(HostCheck, OnlyConfiguredNames) {
  std::vector<std::string> allowed{"127.0.0.1", "localhost", "::1", "status.example.org:8443"};
  for (auto ok : {"127.0.0.1", "127.0.0.1:8080", "LOCALHOST:1", "localhost.", "[::1]:8080", "[::1]",
                  "status.example.org:8443", " localhost "})
    EXPECT_TRUE(host_allowed(ok, allowed)) << ok;
  for (auto bad : {"attacker.example", "attacker.example:8080", "status.example.org",
                   "status.example.org:80", "127.0.0.2", "localhost.attacker.example", "", ":8080",
                   "localhost:80x", "localhost:123456", "::1", "[::1", "local host", "localhost/x",
                   "127.0.0.1@attacker.example"})
    EXPECT_FALSE(host_allowed(bad, allowed)) << bad;
}

// The gateway sets the browser security fields itself: a node's own never reach the client
// (no duplicates, no weaker values).
TEST(ClientResponseHead, DropsTheNodesSecurityHeaders) {
  Response res{http::status::ok, 11};
  res.set("X-Frame-Options", "ALLOWALL");
  res.set("x-content-type-options", "none");
  res.set("X-Served-By", "n1");
  auto head = client_response_head(res.base(), 0, "rid", false);
  EXPECT_EQ(head.find("ALLOWALL"), std::string::npos) << head;
  EXPECT_EQ(head.find("none"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Served-By: n1"), std::string::npos) << head;
  http::response_header<> stream;
  stream.set("X-Frame-Options", "ALLOWALL");
  prepare_stream_head(stream, "rid");
  EXPECT_EQ(stream.find("X-Frame-Options"), stream.end());
}


// The API's JSON answers go gzipped to a client that takes gzip, when it is worth it; answers
// with an ETag, small ones, other types and other statuses stay as the node sent them.
TEST(GzipAnswer, JsonPagesForClientsThatTakeGzip) {
  namespace http = status::common::http;
  auto request = [](std::vector<std::string> accept) {
    status::common::Request r{http::verb::get, "/api/statuses", 11};
    for (auto& a : accept) r.insert(http::field::accept_encoding, a);
    return r;
  };
  EXPECT_TRUE(accepts_gzip(request({"gzip, deflate, br"})));
  EXPECT_TRUE(accepts_gzip(request({"br;q=1", "gzip;q=0.5"})));
  EXPECT_FALSE(accepts_gzip(request({})));
  EXPECT_FALSE(accepts_gzip(request({"gzip;q=0"})));
  EXPECT_FALSE(accepts_gzip(request({"identity"})));

  std::string page = "[";
  for (int i = 0; i < 40; ++i) page += R"({"username":"user)" + std::to_string(i) + R"(","statusText":"in a meeting"},)";
  page.back() = ']';
  auto answer = [&](http::status s, std::string type, std::string body) {
    http::response<http::string_body> a{s, 11};
    a.set(http::field::content_type, type);
    a.body() = std::move(body);
    return a;
  };
  auto a = answer(http::status::ok, "application/json", page);
  a.set(http::field::vary, "Origin");
  ASSERT_TRUE(gzip_answer(a));
  EXPECT_EQ(a[http::field::content_encoding], "gzip");
  EXPECT_EQ(a[http::field::vary], "Origin, Accept-Encoding");
  EXPECT_LT(a.body().size(), page.size() / 3);
  EXPECT_EQ(status::test::gunzip(a.body()), page);

  auto tagged = answer(http::status::ok, "application/json", page);
  tagged.set(http::field::etag, "\"v1\"");
  EXPECT_FALSE(gzip_answer(tagged));
  auto small = answer(http::status::ok, "application/json", R"({"username":"a"})");
  EXPECT_FALSE(gzip_answer(small));
  auto html = answer(http::status::ok, "text/html", page);
  EXPECT_FALSE(gzip_answer(html));
  auto missing = answer(http::status::not_found, "application/problem+json", page);
  EXPECT_FALSE(gzip_answer(missing));
  auto done = answer(http::status::ok, "application/json", page);
  done.set(http::field::content_encoding, "br");
  EXPECT_FALSE(gzip_answer(done));
  EXPECT_EQ(done.body(), page);
}
