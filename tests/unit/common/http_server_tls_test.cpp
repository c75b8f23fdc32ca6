// common::HttpServer over TLS (common::TlsContext), with real OpenSSL on both sides: the
// certificates (a private CA, server certificates for 127.0.0.1/localhost, an expired one) are
// made at test time with the openssl command into a temporary directory, and the client is
// Asio's SSL stream verifying against that CA and the host name.
#include "common/config.hpp"
#include "common/http.hpp"
#include "common/http_client.hpp"
#include "common/http_server.hpp"
#include "common/metrics.hpp"
#include "common/tls.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include "../echo_handler.hpp"
#include "../eventually.hpp"

using namespace status::common;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using status::test::eventually;

namespace {

// The certificates, made once for the whole suite.
struct Pki {
  fs::path dir;
  std::string ca, ca2;                 // the test CA, and another one nobody trusts
  std::string a_crt, a_key;            // CN=server-a, for 127.0.0.1 and localhost
  std::string b_crt, b_key;            // CN=server-b, same names, same CA
  std::string expired_crt;             // with a_key, expired yesterday
  std::string other_crt, other_key;    // signed by ca2
  std::string elsewhere_crt, elsewhere_key;  // the test CA's, for elsewhere.example only
  bool ok = false;

  static int run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

  Pki() {
    char tmpl[] = "/tmp/tls_test_XXXXXX";
    dir = ::mkdtemp(tmpl);
    auto p = [&](const char* name) { return (dir / name).string(); };
    ca = p("ca.crt");
    ca2 = p("ca2.crt");
    a_crt = p("a.crt"), a_key = p("a.key"), b_crt = p("b.crt"), b_key = p("b.key");
    expired_crt = p("expired.crt");
    other_crt = p("other.crt"), other_key = p("other.key");
    elsewhere_crt = p("elsewhere.crt"), elsewhere_key = p("elsewhere.key");
    std::ofstream(p("ext")) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::ofstream(p("ext-elsewhere")) << "subjectAltName=DNS:elsewhere.example\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
    auto leaf = [&](const std::string& name, const std::string& ca_name, const char* days,
                    int serial, const char* ext = "ext") {
      std::string key = p((name + ".key").c_str());
      std::string csr = p((name + ".csr").c_str());
      return run("openssl req" + ec + "-keyout " + key + " -out " + csr + " -subj /CN=" + name) ==
                 0 &&
             run("openssl x509 -req -in " + csr + " -CA " + p((ca_name + ".crt").c_str()) +
                 " -CAkey " + p((ca_name + ".key").c_str()) + " -set_serial " +
                 std::to_string(serial) + " -days " + days + " -extfile " + p(ext) + " -out " +
                 p((name + ".crt").c_str())) == 0;
    };
    ok = run("openssl req -x509" + ec + "-keyout " + p("ca.key") + " -out " + ca +
             " -days 2 -subj /CN=Test-CA") == 0 &&
         run("openssl req -x509" + ec + "-keyout " + p("ca2.key") + " -out " + ca2 +
             " -days 2 -subj /CN=Other-CA") == 0 &&
         leaf("a", "ca", "2", 1) && leaf("b", "ca", "2", 2) && leaf("other", "ca2", "2", 3) &&
         leaf("elsewhere", "ca", "2", 5, "ext-elsewhere");
    // The expired one: the key of a, notAfter before notBefore (= now), i.e. in the past.
    ok = ok && run("openssl x509 -req -in " + p("a.csr") + " -CA " + ca + " -CAkey " +
                   p("ca.key") + " -set_serial 4 -days -1 -extfile " + p("ext") + " -out " +
                   expired_crt) == 0;
  }
  ~Pki() {
    std::error_code e;
    fs::remove_all(dir, e);
  }
  std::string path(const char* name) const { return (dir / name).string(); }
};

Pki& pki() {
  static Pki p;
  return p;
}

class Tls : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pki().ok) << "openssl could not make the certificates"; }
};

Handler echo() { return status::test::echo_handler(); }

std::unique_ptr<HttpServer> serve(ServerOptions o, const std::string& crt, const std::string& key,
                                  Metrics* m, Handler h = echo()) {
  o.threads = 1;
  o.tls = std::make_shared<TlsContext>(crt, key);
  auto s = std::make_unique<HttpServer>(std::move(o), std::move(h), m);
  s->start();
  return s;
}

void set_timeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A verifying HTTPS client connection (blocking, with socket timeouts).
struct Client {
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<ssl::stream<tcp::socket>> s;
  beast::flat_buffer buf;

  // `min`/`max`: protocol versions offered (0: OpenSSL's defaults).
  explicit Client(const std::string& ca = pki().ca, int min = 0, int max = 0) {
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(ssl::verify_peer);
    if (min) SSL_CTX_set_min_proto_version(ctx.native_handle(), min);
    if (max) SSL_CTX_set_max_proto_version(ctx.native_handle(), max);
    s = std::make_unique<ssl::stream<tcp::socket>>(ioc, ctx);
  }
  // Connects and handshakes; the error, if any.
  boost::system::error_code connect(unsigned short port, const std::string& host = "localhost",
                                    SSL_SESSION* resume = nullptr) {
    s->next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    set_timeout(s->next_layer().native_handle(), 3);
    SSL_set_tlsext_host_name(s->native_handle(), host.c_str());
    s->set_verify_callback(ssl::host_name_verification(host));
    if (resume) SSL_set_session(s->native_handle(), resume);
    boost::system::error_code ec;
    s->handshake(ssl::stream_base::client, ec);
    return ec;
  }
  http::response<http::string_body> request(http::request<http::string_body> req) {
    req.set(http::field::host, "localhost");
    req.prepare_payload();
    http::write(*s, req);
    http::response<http::string_body> res;
    http::read(*s, buf, res);
    return res;
  }
  http::response<http::string_body> get(const std::string& target) {
    return request({http::verb::get, target, 11});
  }
  std::string peer_cn() {
    X509* cert = SSL_get1_peer_certificate(s->native_handle());
    if (!cert) return "";
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
  }
  std::string version() { return SSL_get_version(s->native_handle()); }
};

// Connects without TLS and sends `bytes`; what comes back until the server closes (or 3 s).
std::string raw_exchange(unsigned short port, const std::string& bytes, bool* closed) {
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), port});
  set_timeout(sock.native_handle(), 3);
  boost::system::error_code ec;
  if (!bytes.empty()) asio::write(sock, asio::buffer(bytes), ec);
  std::string got;
  std::array<char, 4096> b{};
  while (true) {
    auto n = sock.read_some(asio::buffer(b), ec);
    got.append(b.data(), n);
    if (ec) {
      *closed = ec == asio::error::eof || ec == asio::error::connection_reset;
      break;
    }
  }
  return got;
}

void copy_pair(const std::string& crt, const std::string& key, const std::string& to_crt,
               const std::string& to_key) {
  fs::copy_file(crt, to_crt, fs::copy_options::overwrite_existing);
  fs::copy_file(key, to_key, fs::copy_options::overwrite_existing);
}

}  // namespace

TEST_F(Tls, GetOverHttpsVerifiedByCaAndHostName) {
  Metrics metrics;
  auto server = serve({}, pki().a_crt, pki().a_key, &metrics);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    Client c;
    ASSERT_FALSE(c.connect(server->port(), host)) << host;
    EXPECT_EQ(c.version(), "TLSv1.3");
    auto res = c.get("/hello");
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "/hello");
    EXPECT_EQ(c.peer_cn(), "a");
  }
  EXPECT_EQ(metrics.value("http_tls_handshake_failures_total"), 0);
  server->stop();
}

TEST_F(Tls, Tls12UsesEcdheWithAnAead) {
  auto server = serve({}, pki().a_crt, pki().a_key, nullptr);
  Client c(pki().ca, TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_FALSE(c.connect(server->port()));
  EXPECT_EQ(c.version(), "TLSv1.2");
  std::string cipher = SSL_get_cipher_name(c.s->native_handle());
  EXPECT_EQ(cipher.rfind("ECDHE-", 0), 0u) << cipher;
  EXPECT_TRUE(cipher.find("GCM") != std::string::npos ||
              cipher.find("CHACHA20") != std::string::npos)
      << cipher;
  EXPECT_EQ(c.get("/x").result_int(), 200);
  // Only forward-secret AEAD suites: a client offering only CBC ones finds none in common.
  Client cbc(pki().ca, TLS1_2_VERSION, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(cbc.ctx.native_handle(), "ECDHE-ECDSA-AES128-SHA:AES128-SHA");
  cbc.s = std::make_unique<ssl::stream<tcp::socket>>(cbc.ioc, cbc.ctx);
  EXPECT_TRUE(cbc.connect(server->port()));
  server->stop();
}

TEST_F(Tls, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = serve({}, pki().a_crt, pki().a_key, nullptr);
  Client c;
  ASSERT_FALSE(c.connect(server->port()));
  for (int i = 0; i < 5; ++i) {
    auto res = c.get("/r" + std::to_string(i));
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "/r" + std::to_string(i));
    EXPECT_TRUE(res.keep_alive());
  }
  // A POST with a body, then a serialized answer, on the same connection.
  http::request<http::string_body> post{http::verb::post, "/post", 11};
  post.body() = std::string(5000, 'p');
  EXPECT_EQ(c.request(post).result_int(), 200);
  EXPECT_EQ(server->connections(), 1u);
  server->stop();
}

TEST_F(Tls, SerializedAnswersAndStreamsWorkOverTls) {
  auto server = serve({}, pki().a_crt, pki().a_key, nullptr, [](Request&& req, ExchangePtr ex) {
    if (req.target() == "/serialized")
      return ex->respond_serialized(200, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "hello");
    Response head{http::status::ok, 11};
    head.set(http::field::content_type, "text/event-stream");
    ex->begin_stream(std::move(head));
    ex->push("data: one\n\n");
    ex->push("data: two\n\n");
    ex->end_stream();
  });
  Client c;
  ASSERT_FALSE(c.connect(server->port()));
  auto res = c.get("/serialized");
  EXPECT_EQ(res.body(), "hello");
  auto streamed = c.get("/events");
  EXPECT_EQ(streamed.body(), "data: one\n\ndata: two\n\n");
  EXPECT_EQ(streamed[http::field::transfer_encoding], "chunked");
  server->stop();
}

TEST_F(Tls, SessionsAreResumed) {
  auto server = serve({}, pki().a_crt, pki().a_key, nullptr);
  struct Case {
    int version;
    bool tickets;  // false: by session id, from the server's session cache
    bool clean;    // the first connection ends with close_notify (else the client just goes)
  };
  for (auto [version, tickets, clean] : {Case{TLS1_3_VERSION, true, true},
                                         Case{TLS1_3_VERSION, true, false},
                                         Case{TLS1_2_VERSION, true, true},
                                         Case{TLS1_2_VERSION, false, false}}) {
    SCOPED_TRACE(std::to_string(version) + (tickets ? " tickets" : " session id") +
                 (clean ? " clean" : " dropped"));
    SSL_SESSION* session = nullptr;
    {
      Client first(pki().ca, version, version);
      if (!tickets) {
        SSL_CTX_set_options(first.ctx.native_handle(), SSL_OP_NO_TICKET);
        first.s = std::make_unique<ssl::stream<tcp::socket>>(first.ioc, first.ctx);
      }
      ASSERT_FALSE(first.connect(server->port()));
      EXPECT_EQ(first.get("/first").result_int(), 200);  // TLS 1.3 tickets come after the handshake
      session = SSL_get1_session(first.s->native_handle());
      ASSERT_TRUE(session);
      boost::system::error_code ec;
      if (clean) {
        // The server answers the client's close_notify with its own.
        first.s->shutdown(ec);
        EXPECT_FALSE(ec) << ec.message();
      } else {
        // (Keeps the client's own copy resumable; the server sees the TCP connection end.)
        SSL_set_shutdown(first.s->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        first.s->next_layer().close(ec);
        std::this_thread::sleep_for(50ms);  // the server closes its side first
      }
    }
    Client second(pki().ca, version, version);
    if (!tickets) {
      SSL_CTX_set_options(second.ctx.native_handle(), SSL_OP_NO_TICKET);
      second.s = std::make_unique<ssl::stream<tcp::socket>>(second.ioc, second.ctx);
    }
    ASSERT_FALSE(second.connect(server->port(), "localhost", session));
    EXPECT_EQ(SSL_session_reused(second.s->native_handle()), 1);
    EXPECT_EQ(second.get("/second").result_int(), 200);
    SSL_SESSION_free(session);
  }
  server->stop();
}

TEST_F(Tls, PlainHttpToTheTlsPortFailsCleanlyAndServingGoesOn) {
  Metrics metrics;
  auto server = serve({}, pki().a_crt, pki().a_key, &metrics);
  auto started = std::chrono::steady_clock::now();
  bool closed = false;
  auto got = raw_exchange(server->port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
  EXPECT_TRUE(closed) << "the server closes the connection rather than waiting";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(got.rfind("HTTP/", 0), std::string::npos) << "no plain HTTP answer: " << got;
  EXPECT_TRUE(eventually([&] { return metrics.value("http_tls_handshake_failures_total") == 1; }));
  EXPECT_TRUE(eventually([&] { return server->connections() == 0; }));
  Client c;
  ASSERT_FALSE(c.connect(server->port()));
  EXPECT_EQ(c.get("/after").result_int(), 200);
  server->stop();
}

TEST_F(Tls, Tls11ClientIsRefused) {
  Metrics metrics;
  auto server = serve({}, pki().a_crt, pki().a_key, &metrics);
  // A client that really offers TLS 1.1 (and nothing newer): OpenSSL's client side needs
  // security level 0 for that.
  Client old(pki().ca, TLS1_1_VERSION, TLS1_1_VERSION);
  SSL_CTX_set_security_level(old.ctx.native_handle(), 0);
  SSL_CTX_set_cipher_list(old.ctx.native_handle(), "DEFAULT@SECLEVEL=0");
  old.s = std::make_unique<ssl::stream<tcp::socket>>(old.ioc, old.ctx);
  auto ec = old.connect(server->port());
  ASSERT_TRUE(ec);
  EXPECT_NE(ec.message().find("version"), std::string::npos) << ec.message();
  EXPECT_TRUE(eventually([&] { return metrics.value("http_tls_handshake_failures_total") == 1; }))
      << "refused by the server, not by the client itself";
  Client c;
  ASSERT_FALSE(c.connect(server->port()));
  EXPECT_EQ(c.get("/after").result_int(), 200);
  server->stop();
}

TEST_F(Tls, ClientsRefuseTheWrongCaTheWrongNameAndAnExpiredCertificate) {
  {
    auto server = serve({}, pki().other_crt, pki().other_key, nullptr);
    Client c;  // trusts the test CA only
    EXPECT_TRUE(c.connect(server->port()));
    Client right(pki().ca2);
    EXPECT_FALSE(right.connect(server->port()));
    server->stop();
  }
  {
    auto server = serve({}, pki().a_crt, pki().a_key, nullptr);
    Client c;
    EXPECT_TRUE(c.connect(server->port(), "example.com"));
    server->stop();
  }
  {
    auto server = serve({}, pki().expired_crt, pki().a_key, nullptr);  // loads, with a warning
    Client c;
    EXPECT_TRUE(c.connect(server->port()));
    EXPECT_EQ(SSL_get_verify_result(c.s->native_handle()), X509_V_ERR_CERT_HAS_EXPIRED);
    server->stop();
  }
}

// common::http_request and http_stream, the client side of every background caller (registry,
// peers, statusctl), against the process's trust set by configure_client_tls.
TEST_F(Tls, HttpClientVerifiesTheServerAgainstTheConfiguredCa) {
  configure_client_tls(pki().ca);
  auto server = serve({}, pki().a_crt, pki().a_key, nullptr);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto base =
        parse_base_url("https://" + std::string(host) + ":" + std::to_string(server->port()));
    EXPECT_TRUE(base.tls);
    EXPECT_EQ(base.str(), "https://" + std::string(host) + ":" + std::to_string(server->port()));
    auto r = http_request(http::verb::get, base, "/over-tls", {}, {}, 3s);
    ASSERT_TRUE(r.ok()) << host << ": " << r.ec.message();
    EXPECT_EQ(r.res.result_int(), 200);
    EXPECT_EQ(r.res.body(), "/over-tls");
    std::string got;
    int status = http_stream(base, "/streamed", {}, 3s, [&](std::string_view d) {
      got += d;
      return true;
    });
    EXPECT_EQ(status, 200);
    EXPECT_EQ(got, "/streamed");
  }
  server->stop();
  configure_client_tls("");
}

TEST_F(Tls, HttpClientRefusesTheWrongCaTheWrongNameAndAnExpiredCertificate) {
  configure_client_tls(pki().ca);
  Metrics metrics;
  auto refused = [&](const std::string& crt, const std::string& key, const std::string& host) {
    auto server = serve({}, crt, key, &metrics);
    double before = metrics.value("http_tls_handshake_failures_total");
    auto base = parse_base_url("https://" + host + ":" + std::to_string(server->port()));
    auto r = http_request(http::verb::get, base, "/", {}, {}, 3s);
    int status = http_stream(base, "/", {}, 3s, [](std::string_view) { return true; });
    // The server sees both refusals (the client's alert) as failed handshakes.
    EXPECT_TRUE(eventually(
        [&] { return metrics.value("http_tls_handshake_failures_total") >= before + 2; }));
    server->stop();
    EXPECT_EQ(status, 0);
    return r.ok() ? std::string("accepted") : r.ec.message();
  };
  EXPECT_NE(refused(pki().other_crt, pki().other_key, "localhost").find("certificate verify failed"),
            std::string::npos);
  EXPECT_NE(refused(pki().expired_crt, pki().a_key, "localhost").find("certificate verify failed"),
            std::string::npos);
  EXPECT_NE(refused(pki().elsewhere_crt, pki().elsewhere_key, "localhost")
                .find("certificate verify failed"),
            std::string::npos);
  // Plain http:// to the TLS port gets no answer it could mistake for one.
  auto plain = serve({}, pki().a_crt, pki().a_key, nullptr);
  auto p = http_request(http::verb::get,
                        parse_base_url("http://127.0.0.1:" + std::to_string(plain->port())), "/", {},
                        {}, 3s);
  plain->stop();
  EXPECT_FALSE(p.ok() && p.res.result_int() == 200);
  configure_client_tls("");
}

TEST_F(Tls, ClientTrustErrorsNameTheFile) {
  for (const std::string& bad : {pki().path("missing.pem"), pki().path("ext")}) {
    try {
      configure_client_tls(bad);
      ADD_FAILURE() << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(configure_client_tls(""));  // the system store
}

TEST_F(Tls, ReloadReachesNewConnectionsWhileOpenOnesKeepWorking) {
  std::string crt = pki().path("live.crt"), key = pki().path("live.key");
  copy_pair(pki().a_crt, pki().a_key, crt, key);
  auto server = serve({}, crt, key, nullptr);
  Client open;
  ASSERT_FALSE(open.connect(server->port()));
  EXPECT_EQ(open.get("/before").result_int(), 200);
  EXPECT_EQ(open.peer_cn(), "a");

  copy_pair(pki().b_crt, pki().b_key, crt, key);
  EXPECT_TRUE(server->reload_tls());
  Client fresh;
  ASSERT_FALSE(fresh.connect(server->port()));
  EXPECT_EQ(fresh.peer_cn(), "b");
  EXPECT_EQ(fresh.get("/fresh").result_int(), 200);
  auto res = open.get("/still");  // the connection opened before the reload
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "/still");

  // A broken file: the reload fails, and the context loaded before goes on serving.
  std::ofstream(crt, std::ios::trunc) << "not a certificate\n";
  EXPECT_FALSE(server->reload_tls());
  Client after;
  ASSERT_FALSE(after.connect(server->port()));
  EXPECT_EQ(after.peer_cn(), "b");
  EXPECT_EQ(open.get("/again").result_int(), 200);
  server->stop();
}

TEST_F(Tls, BodyAndHeaderLimitsAreAnsweredOverTls) {
  ServerOptions o;
  o.header_limit = 1024;
  o.body_limit = 1024;
  auto server = serve(o, pki().a_crt, pki().a_key, nullptr);
  {
    Client c;
    ASSERT_FALSE(c.connect(server->port()));
    http::request<http::string_body> req{http::verb::get, "/h", 11};
    req.set("X-Big", std::string(2000, 'h'));
    auto res = c.request(req);
    EXPECT_EQ(res.result_int(), 431);
    EXPECT_FALSE(res.keep_alive());
  }
  {
    Client c;
    ASSERT_FALSE(c.connect(server->port()));
    // The header announces 100 KB; part of the body is sent before the answer is read.
    std::string head =
        "POST /b HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n";
    asio::write(*c.s, asio::buffer(head + std::string(16000, 'b')));
    http::response<http::string_body> res;
    http::read(*c.s, c.buf, res);
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_FALSE(res.keep_alive());
    // Then the server ends the connection with a close_notify (a clean end of stream).
    std::array<char, 64> b{};
    boost::system::error_code ec;
    c.s->read_some(asio::buffer(b), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
  }
  // The server goes on serving.
  Client c;
  ASSERT_FALSE(c.connect(server->port()));
  EXPECT_EQ(c.get("/ok").result_int(), 200);
  server->stop();
}

TEST_F(Tls, SilentClientIsClosedAfterTheReadTimeout) {
  Metrics metrics;
  ServerOptions o;
  o.read_timeout = 200ms;
  auto server = serve(o, pki().a_crt, pki().a_key, &metrics);
  auto started = std::chrono::steady_clock::now();
  bool closed = false;
  raw_exchange(server->port(), "", &closed);  // connects, says nothing
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_TRUE(eventually([&] { return metrics.value("http_tls_handshake_failures_total") == 1; }));
  server->stop();
}

TEST_F(Tls, StopClosesIdleTlsConnections) {
  auto server = serve({}, pki().a_crt, pki().a_key, nullptr);
  Client c;
  ASSERT_FALSE(c.connect(server->port()));
  EXPECT_EQ(c.get("/x").result_int(), 200);
  auto started = std::chrono::steady_clock::now();
  server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(server->connections(), 0u);
}

TEST_F(Tls, ContextIsHardened) {
  TlsContext tls(pki().a_crt, pki().a_key);
  SSL_CTX* ctx = tls.current()->native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
  auto opts = SSL_CTX_get_options(ctx);
  EXPECT_TRUE(opts & SSL_OP_NO_COMPRESSION);
  EXPECT_TRUE(opts & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
  EXPECT_FALSE(opts & SSL_OP_NO_TICKET);
  EXPECT_TRUE(SSL_CTX_get_session_cache_mode(ctx) & SSL_SESS_CACHE_SERVER);
  auto before = tls.current();
  EXPECT_TRUE(tls.reload());
  EXPECT_NE(tls.current(), before) << "a reload makes a new context";
}

TEST_F(Tls, StartErrorsNameTheFile) {
  auto message = [](const std::string& crt, const std::string& key) -> std::string {
    try {
      TlsContext tls(crt, key);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  auto missing = pki().path("missing.crt");
  auto m = message(missing, pki().a_key);
  EXPECT_NE(m.find(missing), std::string::npos) << m;
  EXPECT_NE(m.find("No such file"), std::string::npos) << m;
  m = message(pki().a_crt, pki().b_key);
  EXPECT_NE(m.find("does not match"), std::string::npos) << m;
  EXPECT_NE(m.find(pki().b_key), std::string::npos) << m;
  auto garbage = pki().path("garbage.pem");
  std::ofstream(garbage) << "garbage\n";
  m = message(garbage, pki().a_key);
  EXPECT_NE(m.find(garbage), std::string::npos) << m;
  m = message(pki().a_crt, garbage);
  EXPECT_NE(m.find(garbage), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << "one line";
}
