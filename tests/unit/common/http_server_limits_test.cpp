// common::HttpServer's bounds on what clients can make it hold: metric labels, connections
// (total and per client), and the output queue of streams (security review F5, F6, F11).
#include "common/http.hpp"
#include "common/http_server.hpp"
#include "common/metrics.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include "../echo_handler.hpp"
#include "../eventually.hpp"

using namespace status::common;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

using status::test::eventually;

namespace {

std::unique_ptr<HttpServer> serve(ServerOptions o, Handler h, Metrics* m) {
  o.threads = 1;
  auto s = std::make_unique<HttpServer>(std::move(o), std::move(h), m);
  s->start();
  return s;
}

Handler echo() { return status::test::echo_handler(); }

// A client connection from `source` (a loopback address), with a read timeout.
struct Conn {
  asio::io_context ioc;
  tcp::socket s{ioc};
  Conn(unsigned short port, const char* source = "127.0.0.1") {
    s.open(tcp::v4());
    s.bind({asio::ip::make_address(source), 0});
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{2, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  // One request; the answer's first bytes, or "" when the server closed the connection.
  std::string get(const std::string& path) {
    boost::system::error_code ec;
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(s, asio::buffer(req), ec);
    if (ec) return "";
    std::array<char, 4096> buf{};
    auto n = s.read_some(asio::buffer(buf), ec);
    return ec ? "" : std::string(buf.data(), n);
  }
};

}  // namespace

// Beast accepts any token as a method: each made-up one must not become a series of its own,
// nor an unnamed route one per path.
TEST(ServerLimits, MadeUpMethodsAndPathsFoldIntoFixedLabels) {
  Metrics metrics;
  auto server = serve({}, echo(), &metrics);
  Conn c(server->port());
  for (int i = 0; i < 50; ++i) {
    boost::system::error_code ec;
    std::string req = "XMETHOD" + std::to_string(i) + " /p" + std::to_string(i) +
                      " HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(c.s, asio::buffer(req), ec);
    std::array<char, 4096> buf{};
    ASSERT_NE(c.s.read_some(asio::buffer(buf), ec), 0u) << ec.message();
  }
  EXPECT_EQ(method_label(http::verb::get), "GET");
  EXPECT_EQ(method_label(http::verb::mkcol), "OTHER");
  EXPECT_EQ(method_label(http::verb::unknown), "OTHER");
  auto text = metrics.render();
  EXPECT_EQ(text.find("XMETHOD"), std::string::npos);
  EXPECT_EQ(text.find("/p1"), std::string::npos);
  EXPECT_EQ(metrics.value("http_requests_total",
                          {{"route", "(unknown)"}, {"method", "OTHER"}, {"status", "200"}}),
            50);
  server->stop();
}

TEST(ServerLimits, ConnectionsPerClientAreCapped) {
  Metrics metrics;
  ServerOptions o;
  o.max_connections_per_client = 3;
  auto server = serve(o, echo(), &metrics);
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Conn>(server->port()));
    EXPECT_NE(held.back()->get("/ok").find("200 OK"), std::string::npos) << i;
  }
  Conn fourth(server->port());
  EXPECT_EQ(fourth.get("/refused"), "") << "the fourth connection of one client is closed";
  EXPECT_EQ(metrics.value("http_connections_rejected_total", {{"reason", "per_client"}}), 1);
  // Another client is served meanwhile, and the first gets a slot back once one closes.
  Conn other(server->port(), "127.0.0.2");
  EXPECT_NE(other.get("/other").find("200 OK"), std::string::npos);
  held.pop_back();
  EXPECT_TRUE(eventually([&] {
    Conn again(server->port());
    return again.get("/again").find("200 OK") != std::string::npos;
  }));
  server->stop();
}

TEST(ServerLimits, ExemptClientsOnlyCountTowardsTheTotal) {
  Metrics metrics;
  ServerOptions o;
  o.max_connections_per_client = 1;
  o.max_connections = 4;
  o.per_client_exempt = Networks({"127.0.0.1"});
  auto server = serve(o, echo(), &metrics);
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<Conn>(server->port()));
    EXPECT_NE(held.back()->get("/ok").find("200 OK"), std::string::npos) << i;
  }
  Conn fifth(server->port(), "127.0.0.3");
  EXPECT_EQ(fifth.get("/refused"), "") << "over the total";
  EXPECT_EQ(metrics.value("http_connections_rejected_total", {{"reason", "total"}}), 1);
  server->stop();
}

namespace {

// A server whose handler streams 64 KiB pieces, one per millisecond, until push() says the
// client is gone or `max_pieces` were sent. Reports how many were pushed.
struct Streamer {
  std::atomic<int> pushed{0};
  std::atomic<bool> refused{false};
  std::vector<std::thread> threads;
  Handler handler(int max_pieces) {
    return [this, max_pieces](Request&&, ExchangePtr ex) {
      Response head{http::status::ok, 11};
      head.set(http::field::content_type, "text/event-stream");
      ex->begin_stream(std::move(head));
      threads.emplace_back([this, ex, max_pieces] {
        std::string piece(64 * 1024, 'x');
        for (int i = 0; i < max_pieces; ++i) {
          if (!ex->push(piece)) {
            refused = true;
            return;
          }
          ++pushed;
          std::this_thread::sleep_for(1ms);
        }
        ex->end_stream();
      });
    };
  }
  void join() {
    for (auto& t : threads) t.join();
  }
};

}  // namespace

TEST(ServerLimits, SlowStreamReaderIsDropped) {
  Metrics metrics;
  ServerOptions o;
  o.stream_queue_limit = 256 * 1024;
  Streamer st;
  constexpr int kMax = 2000;  // 125 MiB: far more than any socket buffers
  auto server = serve(o, st.handler(kMax), &metrics);
  Conn c(server->port());
  int small = 4096;
  setsockopt(c.s.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  boost::system::error_code ec;
  asio::write(c.s, asio::buffer(std::string("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")), ec);
  // The client never reads: the stream must be dropped long before all pieces are queued.
  ASSERT_TRUE(eventually([&] { return st.refused.load() || st.pushed.load() >= kMax; }, 30000ms));
  st.join();
  EXPECT_TRUE(st.refused) << "pushed " << st.pushed << " pieces without a limit";
  EXPECT_LT(st.pushed, kMax);
  EXPECT_EQ(metrics.value("http_streams_dropped_total", {{"reason", "slow_reader"}}), 1);
  server->stop();
}

TEST(ServerLimits, ReaderThatKeepsUpGetsTheWholeStream) {
  Metrics metrics;
  ServerOptions o;
  o.stream_queue_limit = 256 * 1024;
  Streamer st;
  constexpr int kPieces = 60;  // 3.75 MiB in all: many times the limit, but read as it comes
  auto server = serve(o, st.handler(kPieces), &metrics);
  Conn c(server->port());
  boost::system::error_code ec;
  asio::write(c.s, asio::buffer(std::string("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")), ec);
  std::size_t got = 0;
  std::array<char, 65536> buf{};
  while (true) {
    auto n = c.s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    got += n;
  }
  st.join();
  EXPECT_FALSE(st.refused);
  EXPECT_GE(got, kPieces * 64u * 1024u);
  EXPECT_EQ(metrics.value("http_streams_dropped_total", {{"reason", "slow_reader"}}), 0);
  server->stop();
}

TEST(ServerLimits, EveryAnswerCarriesTheConfiguredHeaders) {
  ServerOptions o;
  o.every_answer_headers = {{"X-Content-Type-Options", "nosniff"}, {"X-Frame-Options", "DENY"}};
  auto server = serve(
      o,
      [](Request&& req, ExchangePtr ex) {
        std::string t(req.target());
        if (t == "/plain") {
          Response res{http::status::ok, 11};
          res.set("X-Frame-Options", "SAMEORIGIN");  // replaced, not doubled
          res.prepare_payload();
          return ex->respond(std::move(res));
        }
        if (t == "/serialized")
          return ex->respond_serialized(200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", "");
        Response head{http::status::ok, 11};
        head.set(http::field::content_type, "text/event-stream");
        ex->begin_stream(std::move(head));
        ex->end_stream();
      },
      nullptr);
  for (const char* path : {"/plain", "/serialized", "/stream"}) {
    Conn c(server->port());
    auto out = c.get(path);
    EXPECT_NE(out.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos) << path << out;
    EXPECT_NE(out.find("X-Frame-Options: DENY\r\n"), std::string::npos) << path << out;
    EXPECT_EQ(out.find("SAMEORIGIN"), std::string::npos) << out;
  }
  Conn bad(server->port());
  boost::system::error_code ec;
  asio::write(bad.s, asio::buffer(std::string("GARBAGE\r\n\r\n")), ec);
  std::array<char, 4096> buf{};
  auto n = bad.s.read_some(asio::buffer(buf), ec);
  std::string out(buf.data(), n);
  EXPECT_NE(out.find("400"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Frame-Options: DENY"), std::string::npos) << out;
  server->stop();
}
