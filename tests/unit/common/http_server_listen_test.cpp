// common::HttpServer's listening sockets: with several I/O threads each thread has its own
// listener on the shared port (SO_REUSEPORT), and a taken port still fails to start.
#include "common/http.hpp"
#include "common/http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

using namespace status::common;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// Answers with the id of the I/O thread that served the request, and remembers it.
struct ThreadRecorder {
  std::mutex mu;
  std::set<std::thread::id> seen;
  Handler handler() {
    return [this](Request&& req, ExchangePtr ex) {
      std::ostringstream id;
      id << std::this_thread::get_id();
      {
        std::lock_guard lock(mu);
        seen.insert(std::this_thread::get_id());
      }
      Response res{http::status::ok, req.version()};
      res.body() = id.str();
      res.keep_alive(false);
      res.prepare_payload();
      ex->respond(std::move(res));
    };
  }
};

std::unique_ptr<HttpServer> started(int threads, unsigned short port, Handler h) {
  ServerOptions o;
  o.threads = threads;
  o.port = port;
  auto s = std::make_unique<HttpServer>(std::move(o), std::move(h), nullptr);
  s->start();
  return s;
}

/// One request on a connection of its own; the answer's status line, or "" on failure.
std::string get_once(unsigned short port) {
  asio::io_context ioc;
  tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "";
  std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  asio::write(s, asio::buffer(req), ec);
  std::string all;
  asio::read(s, asio::dynamic_buffer(all), ec);  // to EOF
  return all.substr(0, all.find("\r\n"));
}

}  // namespace

// The kernel spreads new connections over the threads' listeners: with 64 connections from
// different source ports the chance that one listener gets all of them is 2^-63.
TEST(ServerListen, EveryThreadAcceptsConnectionsOfItsOwn) {
  ThreadRecorder rec;
  auto server = started(2, 0, rec.handler());
  for (int i = 0; i < 64; ++i) ASSERT_EQ(get_once(server->port()), "HTTP/1.1 200 OK") << i;
  std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.seen.size(), 2u);
  server->stop();
}

// SO_REUSEPORT would let a second server join a port that one already serves; it must fail to
// start instead, whichever of the two has several threads.
TEST(ServerListen, ATakenPortStillFailsToStart) {
  for (auto [first_threads, second_threads] : {std::pair{2, 2}, {1, 2}, {2, 1}}) {
    ThreadRecorder rec;
    auto first = started(first_threads, 0, rec.handler());
    ServerOptions o;
    o.threads = second_threads;
    o.port = first->port();
    HttpServer second(std::move(o), rec.handler(), nullptr);
    EXPECT_THROW(second.start(), std::system_error) << first_threads << "/" << second_threads;
    EXPECT_EQ(get_once(first->port()), "HTTP/1.1 200 OK");  // the first keeps its port
    first->stop();
  }
}

// A server stopped frees its port for the next one at once (TIME_WAIT connections included).
TEST(ServerListen, APortFreedByStopCanBeTakenAgain) {
  ThreadRecorder rec;
  auto first = started(2, 0, rec.handler());
  unsigned short port = first->port();
  ASSERT_EQ(get_once(port), "HTTP/1.1 200 OK");
  first->stop();
  first.reset();
  auto second = started(2, port, rec.handler());
  EXPECT_EQ(second->port(), port);
  EXPECT_EQ(get_once(port), "HTTP/1.1 200 OK");
  second->stop();
}
