#include "common/http.hpp"
#include "common/http_client.hpp"
#include "common/http_server.hpp"
#include "common/metrics.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <future>
#include <thread>

using namespace status::common;

TEST(Http, PercentDecodeAndQuery) {
  EXPECT_EQ(*percent_decode("a%20b"), "a b");
  EXPECT_FALSE(percent_decode("a%2"));
  EXPECT_FALSE(percent_decode("%zz"));
  EXPECT_EQ(*query_param("limit=5&offset=10", "offset"), "10");
  EXPECT_FALSE(query_param("limit=5", "offset"));
  auto [p, q] = split_target("/api/x?y=1");
  EXPECT_EQ(p, "/api/x");
  EXPECT_EQ(q, "y=1");
}

TEST(Http, ProblemJson) {
  auto r = problem(400, "statusText must not be empty");
  EXPECT_EQ(r[http::field::content_type], "application/problem+json");
  EXPECT_EQ(r.body(),
            R"({"type":"about:blank","title":"Bad Request","status":400,"detail":"statusText must not be empty"})");
}

TEST(Http, ParseBaseUrl) {
  auto b = parse_base_url("http://127.0.0.1:8761/eureka/");
  EXPECT_EQ(b.host, "127.0.0.1");
  EXPECT_EQ(b.port, 8761);
  EXPECT_EQ(b.path, "/eureka");
  EXPECT_THROW(parse_base_url("not a url"), std::invalid_argument);
  EXPECT_THROW(parse_base_url("ftp://x/"), std::invalid_argument);
  EXPECT_TRUE(b.user.empty());
  EXPECT_EQ(b.redacted(), "http://127.0.0.1:8761/eureka");
  EXPECT_FALSE(b.tls);
  auto s = parse_base_url("https://u:pw@registry.example/eureka");
  EXPECT_TRUE(s.tls);
  EXPECT_EQ(s.port, 443);
  EXPECT_EQ(s.str(), "https://registry.example:443/eureka");
  EXPECT_EQ(s.redacted(), "https://u:***@registry.example:443/eureka");
  EXPECT_EQ(parse_base_url("http://h/").port, 80);
}

TEST(Http, ParseBaseUrlWithCredentials) {
  auto b = parse_base_url("http://jane%2Ddoe:p%40ss%3Aw0rd%2C@127.0.0.1:8761/eureka/");
  EXPECT_EQ(b.user, "jane-doe");
  EXPECT_EQ(b.password, "p@ss:w0rd,");
  EXPECT_EQ(b.host, "127.0.0.1");
  EXPECT_EQ(b.str(), "http://127.0.0.1:8761/eureka") << "str() never carries credentials";
  EXPECT_EQ(b.redacted(), "http://jane-doe:***@127.0.0.1:8761/eureka");
  auto user_only = parse_base_url("http://node@h:1/");
  EXPECT_EQ(user_only.user, "node");
  EXPECT_EQ(user_only.password, "");
  EXPECT_THROW(parse_base_url("http://:s3cret@h:1/"), std::invalid_argument);
}

TEST(Http, UrlErrorsNeverShowThePassword) {
  for (const char* bad : {"ftp://u:s3cret@x/", "http://u:s3cret@/eureka", "http://u:s3cret@h:0/",
                          "http://u:s3cret@h:99999999/", "http://u:s3c/ret@h/",
                          "http://u:s3cret@h x/", "amqp://u:s3cret@h/%zz"}) {
    try {
      parse_base_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("s3c"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("u:***@"), std::string::npos) << e.what();
    }
  }
}

TEST(Http, RedactUrl) {
  EXPECT_EQ(redact_url("http://u:p@h:1/x"), "http://u:***@h:1/x");
  EXPECT_EQ(redact_url("amqp://guest:guest@127.0.0.1:5672/"), "amqp://guest:***@127.0.0.1:5672/");
  EXPECT_EQ(redact_url("http://u@h/"), "http://u@h/") << "no password";
  EXPECT_EQ(redact_url("http://h:1/a@b"), "http://h:***@b") << "too much rather than too little";
  EXPECT_EQ(redact_url("http://h:1/x?next=u:p@h"), "http://h:1/x?next=u:p@h");
  EXPECT_EQ(redact_url("http://h:1/"), "http://h:1/");
  EXPECT_EQ(redact_url("u:p@h"), "u:***@h");
}

TEST(Metrics, FormatLabelsEscapesOutsideValues) {
  EXPECT_EQ(format_labels({{"instance", "p\"} 1\nfake_metric{x=\"y"}, {"url", "a\\b"}}),
            R"(instance="p\"} 1\nfake_metric{x=\"y",url="a\\b")");
}

namespace {

// Sends raw bytes and returns everything the server answers until it closes (or 2 s pass).
std::string raw_exchange(unsigned short port, const std::string& bytes) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::system::error_code ec;
  boost::asio::write(s, boost::asio::buffer(bytes), ec);  // the server may refuse early
  std::string out;
  std::array<char, 4096> buf;
  while (true) {
    auto n = s.read_some(boost::asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf.data(), n);
  }
  return out;
}

struct ServerFixture : ::testing::Test {
  Metrics metrics;
  std::unique_ptr<HttpServer> server;
  void SetUp() override {
    ServerOptions o;
    o.threads = 2;
    o.idle_timeout = std::chrono::milliseconds(300);
    o.read_timeout = std::chrono::milliseconds(300);
    server = std::make_unique<HttpServer>(
        o,
        [](Request&& req, ExchangePtr ex) {
          ex->set_route("/echo");
          Response res{http::status::ok, req.version()};
          res.body() = req.body().empty() ? std::string(req.target()) : req.body();
          res.prepare_payload();
          ex->respond(std::move(res));
        },
        &metrics);
    server->start();
  }
  void TearDown() override { server->stop(); }
};

}  // namespace

TEST_F(ServerFixture, AnswersAndKeepsAlive) {
  auto base = parse_base_url("http://127.0.0.1:" + std::to_string(server->port()));
  auto r = http_request(http::verb::get, base, "/hello");
  ASSERT_TRUE(r.ok()) << r.ec.message();
  EXPECT_EQ(r.res.body(), "/hello");
  auto raw = raw_exchange(server->port(),
                          "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n");
  EXPECT_NE(raw.find("/a"), std::string::npos);
  EXPECT_NE(raw.find("/b"), std::string::npos);
  EXPECT_GE(metrics.value("http_requests_total", {{"route", "/echo"}, {"method", "GET"}, {"status", "200"}}), 3);
}

TEST_F(ServerFixture, LimitsAnswer431And413) {
  std::string big_header = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n";
  EXPECT_NE(raw_exchange(server->port(), big_header).find("HTTP/1.1 431"), std::string::npos);
  std::string big_body = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n" + std::string(70000, 'b');
  auto out = raw_exchange(server->port(), big_body);
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos);
  EXPECT_NE(out.find("application/problem+json"), std::string::npos);
  EXPECT_NE(raw_exchange(server->port(), "GARBAGE\r\n\r\n").find("HTTP/1.1 400"), std::string::npos);
}

TEST_F(ServerFixture, IdleAndSlowConnectionsAreClosed) {
  // Sends half a request and stops: the read timeout (300 ms) closes the connection.
  auto start = std::chrono::steady_clock::now();
  auto out = raw_exchange(server->port(), "GET / HTTP/1.1\r\nHo");
  EXPECT_EQ(out, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

namespace {

// A server with a handler of the test's choosing (threads = 1).
std::unique_ptr<HttpServer> serve(Handler handler) {
  ServerOptions o;
  o.threads = 1;
  auto s = std::make_unique<HttpServer>(o, std::move(handler), nullptr);
  s->start();
  return s;
}

}  // namespace

// respond_serialized(): the bytes go out as they are; the server adds the Connection field (or
// not) and the empty line, and the connection stays usable.
TEST(HttpServer, SerializedAnswersKeepAliveOrClose) {
  auto server = serve([](Request&& req, ExchangePtr ex) {
    std::string body = "{\"t\":\"" + std::string(req.target()) + "\"}";
    ex->respond_serialized(201, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                "Content-Length: " + std::to_string(body.size()) + "\r\n",
                           body);
  });
  auto raw = raw_exchange(server->port(),
                          "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n");
  EXPECT_EQ(raw,
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n"
            "{\"t\":\"/a\"}"
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
            "Connection: close\r\n\r\n{\"t\":\"/b\"}");
  server->stop();
}

// http_stream(): each piece is handed over as it arrives, and the timeout bounds only the
// connection and the head — a stream quiet for longer than it goes on.
TEST(HttpClient, StreamHandsOverPiecesAndOutlivesItsTimeout) {
  std::promise<void> first_seen;
  auto seen = first_seen.get_future().share();
  std::vector<std::thread> pushers;
  auto server = serve([&](Request&&, ExchangePtr ex) {
    Response head{http::status::ok, 11};
    head.set(http::field::content_type, "text/event-stream");
    ex->begin_stream(std::move(head));
    ex->push("data: first\n\n");
    pushers.emplace_back([ex, seen] {
      seen.wait_for(std::chrono::seconds(5));
      std::this_thread::sleep_for(std::chrono::milliseconds(400));  // twice the client's timeout
      ex->push("data: second\n\n");
      ex->end_stream();
    });
  });
  auto base = parse_base_url("http://127.0.0.1:" + std::to_string(server->port()));
  std::string got;
  bool signalled = false;
  int status = http_stream(base, "/events", {{"Accept", "text/event-stream"}},
                           std::chrono::milliseconds(200), [&](std::string_view piece) {
                             got += piece;
                             if (!signalled && got.find("first") != std::string::npos) {
                               signalled = true;
                               first_seen.set_value();  // only now is "second" sent
                             }
                             return got.find("second") == std::string::npos;
                           });
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(signalled);
  EXPECT_NE(got.find("data: second"), std::string::npos) << got;
  for (auto& t : pushers) t.join();
  server->stop();
}

// ...and a server that accepts but never answers ends it after the timeout, with status 0.
TEST(HttpClient, StreamFromASilentServerEndsAfterTheTimeout) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor silent(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto base = parse_base_url("http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  auto start = std::chrono::steady_clock::now();
  int status = http_stream(base, "/events", {}, std::chrono::milliseconds(200),
                           [](std::string_view) { return true; });
  EXPECT_EQ(status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// An answer without a body (204 here) ends the stream at once, although the connection stays
// open (keep-alive) and the body read has no timeout.
TEST(HttpClient, StreamOfABodilessAnswerReturnsAtOnce) {
  auto server = serve([](Request&&, ExchangePtr ex) {
    Response res{http::status::no_content, 11};
    ex->respond(std::move(res));
  });
  auto base = parse_base_url("http://127.0.0.1:" + std::to_string(server->port()));
  auto result = std::make_shared<std::promise<int>>();
  auto done = result->get_future();
  std::thread([base, result] {
    result->set_value(http_stream(base, "/events", {}, std::chrono::milliseconds(500),
                                  [](std::string_view) { return true; }));
  }).detach();  // (detached: if it hangs, the test fails instead of hanging too)
  ASSERT_EQ(done.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  EXPECT_EQ(done.get(), 204);
  server->stop();
}

// HTTP/1.0 clients keep a connection only when asked to and told so: "Connection: keep-alive"
// on the answer (plain and serialized), and nothing kept without their asking.
TEST(HttpServer, Http10KeepAliveIsAnsweredExplicitly) {
  for (bool serialized : {false, true}) {
    auto server = serve([serialized](Request&& req, ExchangePtr ex) {
      std::string body(req.target());
      if (serialized)
        return ex->respond_serialized(
            200, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n", body);
      Response res{http::status::ok, 11};
      res.body() = body;
      res.prepare_payload();
      ex->respond(std::move(res));
    });
    auto raw = raw_exchange(server->port(),
                            "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    auto first = raw.find("/a");
    ASSERT_NE(first, std::string::npos) << raw;
    EXPECT_NE(raw.substr(0, first).find("Connection: keep-alive\r\n"), std::string::npos) << raw;
    auto second = raw.find("/b");
    ASSERT_NE(second, std::string::npos) << "the connection was not kept: " << raw;
    EXPECT_EQ(raw.substr(first, second - first).find("keep-alive"), std::string::npos) << raw;
    server->stop();
  }
}
