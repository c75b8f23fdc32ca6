#include "gateway/headers.hpp"

#include <gtest/gtest.h>

using namespace status::gateway;

namespace {

Request make_request(http::verb verb = http::verb::get, std::string target = "/api/statuses") {
  Request r{verb, target, 11};
  r.set(http::field::host, "gw");
  return r;
}

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
  r.set("X-Forwarded-For", "10.0.0.1");
  r.set(http::field::transfer_encoding, "chunked");
  r.body() = R"({"statusText":"hi"})";
  prepare_upstream_request(r, "127.0.0.1", "rid-1");
  EXPECT_EQ(r["X-Forwarded-For"], "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(r["X-Forwarded-Proto"], "http");
  EXPECT_EQ(r["X-Request-Id"], "rid-1");
  EXPECT_EQ(r.find(http::field::transfer_encoding), r.end());
  EXPECT_EQ(r[http::field::content_length], std::to_string(r.body().size()));
  EXPECT_TRUE(r.keep_alive());

  Request g = make_request();
  prepare_upstream_request(g, "::1", "rid-2");
  EXPECT_EQ(g["X-Forwarded-For"], "::1");
  EXPECT_EQ(g.find(http::field::content_length), g.end());
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
  res.body() = "[]";
  prepare_client_response(res, "rid", false);
  EXPECT_EQ(res.find(http::field::transfer_encoding), res.end());
  EXPECT_EQ(res[http::field::content_length], "2");
  EXPECT_EQ(res["X-Served-By"], "n1");
  EXPECT_EQ(res["X-Request-Id"], "rid");
  EXPECT_TRUE(res.keep_alive());

  Response head{http::status::ok, 11};
  head.set(http::field::content_length, "1234");
  head.set("X-Request-Id", "theirs");
  prepare_client_response(head, "rid", true);
  EXPECT_EQ(head[http::field::content_length], "1234");
  EXPECT_EQ(head["X-Request-Id"], "theirs");

  Response not_modified{http::status::not_modified, 11};
  prepare_client_response(not_modified, "rid", false);
  EXPECT_EQ(not_modified.find(http::field::content_length), not_modified.end());
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
  prepare_upstream_request(r, "127.0.0.1", "rid");
  auto wire = serialize_request(r);
  EXPECT_EQ(wire.rfind("PUT /api/statuses/alice?x=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(wire.find("\r\nHost: gw\r\n"), std::string::npos);
  EXPECT_NE(wire.find("\r\nContent-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(wire.find("\r\nX-Request-Id: rid\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 6), "\r\n\r\n{}");
}
