// node/amqp: what amqp:// and amqps:// URLs name, the check of an AMQP CA file, and that a TLS
// connect to a broker that never answers ends at its timeout. (The handshake with a real broker,
// its certificate checks and replication over it: tests/system/test_amqps.py.)
#include "node/amqp.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

using namespace status::node;
using namespace std::chrono_literals;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const AmqpError& e) {
    return e.what();
  }
  return "";
}

// A listening socket on 127.0.0.1 that accepts nothing: a connect completes (the kernel's
// backlog), and then nothing is ever said.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

}  // namespace

TEST(AmqpUrl, DefaultsFollowTheScheme) {
  auto plain = parse_amqp_url("amqp://u:p@broker/");
  EXPECT_EQ(plain.host, "broker");
  EXPECT_EQ(plain.port, 5672);
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.vhost, "/");  // the empty vhost of "…/" means the default one
  EXPECT_EQ(plain.user, "u");
  EXPECT_EQ(plain.password, "p");

  auto tls = parse_amqp_url("amqps://status:s3cret@localhost/");
  EXPECT_EQ(tls.host, "localhost");
  EXPECT_EQ(tls.port, 5671);
  EXPECT_TRUE(tls.tls);
  EXPECT_EQ(tls.vhost, "/");
  EXPECT_EQ(tls.password, "s3cret");
}

TEST(AmqpUrl, ExplicitPartsAndPercentDecoding) {
  auto u = parse_amqp_url("amqps://us%40er:p%3Ass@[::1]:15671/prod%2Fa");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 15671);
  EXPECT_EQ(u.user, "us@er");
  EXPECT_EQ(u.password, "p:ss");
  EXPECT_EQ(u.vhost, "prod/a");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(parse_amqp_url("amqp://h:5673").port, 5673);
  EXPECT_EQ(parse_amqp_url("amqp://h:5673").vhost, "/");  // no path at all: the default too
}

TEST(AmqpUrl, MalformedOnesAreRefusedWithoutTheirText) {
  for (const char* bad : {"http://u:s3cret@h/", "amqps:/h", "amqps://u:s3cret@h:99999/",
                          "amqp://u:s3cret@h:port/", "AMQPS://h/"}) {
    auto e = error_of([&] { parse_amqp_url(bad); });
    EXPECT_EQ(e, "malformed AMQP URL") << bad;
  }
}

TEST(AmqpCaFile, UnreadableOrWithoutCertificate) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("amqp_test_" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  auto missing = (dir / "missing.crt").string();
  EXPECT_EQ(amqp_ca_file_problem(missing),
            "cannot read the CA file '" + missing + "': No such file or directory");
  auto junk = (dir / "junk.crt").string();
  std::ofstream(junk) << "not a certificate\n";
  auto problem = amqp_ca_file_problem(junk);
  EXPECT_EQ(problem.rfind("the CA file '" + junk + "' holds no usable PEM certificate: ", 0), 0u)
      << problem;
  std::filesystem::remove_all(dir);
}

TEST(AmqpConnection, TlsConnectToASilentPortEndsAtItsTimeout) {
  SilentListener silent;
  SocketBreaker breaker;
  auto started = std::chrono::steady_clock::now();
  auto e = error_of([&] {
    AmqpConnection c("amqps://u:s3cret@localhost:" + std::to_string(silent.port()) + "/", {}, 300ms,
                     &breaker);
  });
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(e.rfind("cannot connect to localhost:" + std::to_string(silent.port()) + ": ", 0), 0u)
      << e;
  EXPECT_NE(e.find("timed out"), std::string::npos) << e;
  EXPECT_EQ(e.find("s3cret"), std::string::npos) << e;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  EXPECT_FALSE(breaker.trip()) << "a failed connection leaves the breaker disarmed";
}

TEST(AmqpConnection, TlsConnectToAClosedPortFailsAtOnce) {
  int port;
  {
    SilentListener closed;  // a port just freed: nothing listens there
    port = closed.port();
  }
  auto e = error_of(
      [&] { AmqpConnection c("amqps://u:p@127.0.0.1:" + std::to_string(port) + "/", {}, 2000ms); });
  EXPECT_EQ(e.rfind("cannot connect to 127.0.0.1:" + std::to_string(port) + ": ", 0), 0u) << e;
}
