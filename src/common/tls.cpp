// TLS: common::TlsContext, and HttpServer's sessions over a TLS stream. The one translation
// unit that includes the OpenSSL and Asio/Beast SSL headers (and compiles Asio's SSL
// implementation, BOOST_ASIO_SEPARATE_COMPILATION), so the rest of the build stays light.
#include "common/tls.hpp"

#include "common/config.hpp"
#include "common/http_session.hpp"
#include "common/log.hpp"

#include <boost/asio/compose.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/impl/src.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace status::common {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2: forward secrecy (ECDHE) with an AEAD only. TLS 1.3 keeps OpenSSL's default suites
// (all AEAD with forward secrecy).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr unsigned char kSessionIdContext[] = "status-server";

// The last OpenSSL error as text (and the queue cleared), e.g. "no start line".
std::string openssl_error() {
  unsigned long e = ERR_peek_error();  // the first: the cause (later ones say "PEM lib")
  std::string text = "unknown OpenSSL error";
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    text = reason ? reason : ERR_error_string(e, nullptr);
  }
  ERR_clear_error();
  return text;
}

void require_readable(const std::string& what, const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f)
    throw ConfigError("cannot read TLS " + what + " file '" + file + "': " +
                      std::strerror(errno));
  std::fclose(f);
}

// Warns when the certificate cannot be accepted by a verifying client today.
void warn_validity(SSL_CTX* ctx, const std::string& cert_file) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return;
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
    spdlog::warn("event=tls_certificate_expired file={}", cert_file);
  else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
    spdlog::warn("event=tls_certificate_not_yet_valid file={}", cert_file);
}

std::shared_ptr<ssl::context> load(const std::string& cert_file, const std::string& key_file) {
  // The servers' TLS stream lets OpenSSL write() the socket: a write to a connection the client
  // has closed must fail (EPIPE), not end the process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  require_readable("certificate", cert_file);
  require_readable("private key", key_file);
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(h, TLS1_3_VERSION);
  SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                             SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_set_cipher_list(h, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(h, kGroups) != 1)
    throw ConfigError("TLS: cannot set the cipher suites: " + openssl_error());
  // Resumption: the server-side session cache (session ids) and session tickets (OpenSSL's
  // default, keys made per context; a reload starts new ones, so old tickets then make a
  // full handshake).
  SSL_CTX_set_session_cache_mode(h, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(h, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_sess_set_cache_size(h, 20000);
  SSL_CTX_set_timeout(h, 3600);
  if (SSL_CTX_use_certificate_chain_file(h, cert_file.c_str()) != 1)
    throw ConfigError("TLS certificate file '" + cert_file +
                      "' holds no usable PEM certificate chain: " + openssl_error());
  EVP_PKEY* key = nullptr;
  if (BIO* bio = BIO_new_file(key_file.c_str(), "r")) {
    // An encrypted key would make OpenSSL prompt on the terminal: no passphrase callback.
    key = PEM_read_bio_PrivateKey(bio, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
    BIO_free(bio);
  }
  if (!key)
    throw ConfigError("TLS private key file '" + key_file +
                      "' holds no usable unencrypted PEM private key: " + openssl_error());
  bool matches = X509_check_private_key(SSL_CTX_get0_certificate(h), key) == 1;
  if (matches) matches = SSL_CTX_use_PrivateKey(h, key) == 1;
  EVP_PKEY_free(key);
  if (!matches)
    throw ConfigError("TLS private key file '" + key_file +
                      "' does not match the certificate in '" + cert_file + "'");
  ERR_clear_error();
  warn_validity(h, cert_file);
  return ctx;
}

}  // namespace

TlsContext::TlsContext(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)),
      ctx_(load(cert_file_, key_file_)) {}

TlsContext::~TlsContext() = default;

bool TlsContext::reload() {
  std::shared_ptr<ssl::context> fresh;
  try {
    fresh = load(cert_file_, key_file_);
  } catch (const std::exception& e) {
    spdlog::error("event=tls_reload_failed error=\"{}\" action=keep_previous", e.what());
    return false;
  }
  {
    std::lock_guard lock(mu_);
    ctx_.swap(fresh);
  }
  spdlog::info("event=tls_reloaded cert={} key={}", cert_file_, key_file_);
  return true;  // `fresh` (the old context) is freed once its last connection ends
}

std::shared_ptr<ssl::context> TlsContext::current() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

namespace {

std::shared_ptr<ssl::context> make_client_context(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* h = ctx->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(h, TLS1_3_VERSION);
  SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(h, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(h, kGroups) != 1)
    throw ConfigError("TLS: cannot set the cipher suites: " + openssl_error());
  SSL_CTX_set_verify(h, SSL_VERIFY_PEER, nullptr);
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(h) != 1)
      throw ConfigError("TLS: cannot load the system's certificate store: " + openssl_error());
  } else {
    require_readable("CA", ca_file);
    if (SSL_CTX_load_verify_locations(h, ca_file.c_str(), nullptr) != 1)
      throw ConfigError("TLS CA file '" + ca_file +
                        "' holds no usable PEM certificate: " + openssl_error());
  }
  ERR_clear_error();
  return ctx;
}

std::mutex client_mu;
std::shared_ptr<ssl::context> client_ctx;  // guarded by client_mu

}  // namespace

void configure_client_tls(const std::string& ca_file) {
  auto ctx = make_client_context(ca_file);
  std::lock_guard lock(client_mu);
  client_ctx = std::move(ctx);
}

std::shared_ptr<ssl::context> client_tls_context() {
  std::lock_guard lock(client_mu);
  if (!client_ctx) client_ctx = make_client_context("");
  return client_ctx;
}

bool expect_server_name(SSL* ssl, std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string name(host);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  // An IP address must be in the certificate's IP entries; a name in its DNS entries.
  if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1) return true;
  ERR_clear_error();
  return SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 && SSL_set1_host(ssl, name.c_str()) == 1;
}

namespace detail {

namespace {

// The context is held by the stream for its whole life (base-from-member: constructed before
// the stream and destroyed after it), so a reload does not touch open connections.
struct HeldContext {
  std::shared_ptr<ssl::context> ctx;
};

// A server's TLS stream over the socket itself: OpenSSL reads and writes the socket's
// descriptor (its socket BIO, as nginx has it), and an operation that cannot go on waits for
// the socket's readiness (async_wait) and tries again. Asio's ssl::stream instead puts a BIO
// pair between OpenSSL and the socket and keeps two zero-filled buffers of its own: four
// 17 KiB buffers per connection beside OpenSSL's, and each record copied once more. With many
// connections open at once that memory costs the cache what a new connection needs
// (bench/README.md, "New connections on a quiet machine").
//
// Completion semantics are Asio's: a handler never runs inside the call that started its
// operation (a result known at once is posted). Reads and writes may be outstanding together
// (a stream's writes while its read watches for the client's close), one of each at most.
class TlsStream : private HeldContext {
 public:
  using executor_type = Socket::executor_type;

  TlsStream(Socket socket, std::shared_ptr<ssl::context> ctx)
      : HeldContext{std::move(ctx)}, socket_(std::move(socket)),
        ssl_(SSL_new(this->ctx->native_handle())) {
    if (!ssl_) throw std::bad_alloc();
    beast::error_code ec;
    socket_.non_blocking(true, ec);
    SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));  // BIO_NOCLOSE: the socket closes it
    SSL_set_accept_state(ssl_);
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                           SSL_MODE_RELEASE_BUFFERS);
    // A connection that ends without the client's close_notify (most do) reads as its end
    // (eof), not as a fatal TLS error, which would drop the session from the cache and make the
    // client's next connection a full handshake.
    SSL_set_options(ssl_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Records read whole, as far as they have arrived: one read() for the client's hello or
    // request instead of one per record header and one per record.
    SSL_set_read_ahead(ssl_, 1);
  }
  ~TlsStream() { SSL_free(ssl_); }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  Socket& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_; }

  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& buffers, Handler&& handler) {
    auto b = first_nonempty<asio::mutable_buffer>(buffers);
    return start(std::forward<Handler>(handler), [this, b](std::size_t& n) {
      if (b.size() == 0) return 1;  // nothing asked for: done, 0 bytes
      return SSL_read_ex(ssl_, b.data(), b.size(), &n);
    });
  }

  // A gather write of up to one record's worth goes out as one record (an answer's head and
  // body together), as Beast's ssl_stream does; a larger one record by record.
  template <class Buffers, class Handler>
  auto async_write_some(const Buffers& buffers, Handler&& handler) {
    auto b = first_nonempty<asio::const_buffer>(buffers);
    if (std::size_t total = asio::buffer_size(buffers); b.size() < total && b.size() < kCoalesce) {
      gather_.resize(std::min(total, kCoalesce));
      asio::buffer_copy(asio::buffer(gather_), buffers);
      b = asio::buffer(gather_);
    }
    return start(std::forward<Handler>(handler), [this, b, total = asio::buffer_size(buffers)](
                                                      std::size_t& n) {
      if (b.size() == 0) return 1;
      int r = SSL_write_ex(ssl_, b.data(), b.size(), &n);
      if (r > 0 && n == total && close_after_write_) {
        // Our close_notify right behind the answer's last record. Should it not fit into the
        // socket now, the connection closes without it (the session stays: keep_session).
        close_after_write_ = false;
        if (SSL_shutdown(ssl_) < 0) ERR_clear_error();
      }
      return r;
    });
  }

  void close_after_write() { close_after_write_ = true; }
  bool close_sent() { return (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) != 0; }

  // A failed handshake leaves the rest of what the client sent (e.g. a plain HTTP request: OpenSSL
  // read only its first five bytes) unread; it is read and dropped (up to 64 KiB, what has
  // arrived), so that closing the socket sends a FIN, not a reset.
  template <class Handler>
  void async_handshake(Handler&& handler) {
    start(
        [this, h = std::forward<Handler>(handler)](beast::error_code ec, std::size_t) mutable {
          if (ec) discard_input();
          h(ec);
        },
        [this](std::size_t&) { return SSL_do_handshake(ssl_); });
  }

  // Our close_notify, then (wait_for_peer) the client's; application data meanwhile is
  // discarded by OpenSSL.
  template <class Handler>
  void async_shutdown(bool wait_for_peer, Handler&& handler) {
    start([h = std::forward<Handler>(handler)](beast::error_code ec, std::size_t) mutable { h(ec); },
          [this, wait_for_peer](std::size_t&) {
            int r = SSL_shutdown(ssl_);  // 0: ours sent; a second call reads theirs
            return r != 0 ? r : wait_for_peer ? SSL_shutdown(ssl_) : 1;
          });
  }

 private:
  static constexpr std::size_t kCoalesce = 16384;

  // One OpenSSL call reads into, or writes from, one buffer: the sequence's first non-empty one.
  template <class Buffer, class Buffers>
  static Buffer first_nonempty(const Buffers& buffers) {
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it)
      if (Buffer x(*it); x.size() > 0) return x;
    return Buffer();
  }

  void discard_input() {
    std::array<char, 4096> sink;
    beast::error_code ec;
    for (int i = 0; i < 16; ++i)
      if (socket_.read_some(asio::buffer(sink), ec) < sink.size() || ec) break;
  }

  // One operation: Step(n) is an OpenSSL call (> 0 done, n bytes); tried at once and again
  // each time the socket is ready for what OpenSSL wants.
  template <class Step>
  struct Op {
    Op(TlsStream& stream, Step st) : s(stream), step(std::move(st)) {}
    TlsStream& s;
    Step step;
    enum { kStart, kWaiting, kDone } phase = kStart;
    beast::error_code result;
    std::size_t n = 0;

    template <class Self>
    void operator()(Self& self, beast::error_code ec = {}) {
      if (phase == kDone) return self.complete(result, n);
      bool first = phase == kStart;
      phase = kWaiting;
      if (ec) return self.complete(ec, 0);
      ERR_clear_error();
      errno = 0;
      int r = step(n);
      int sys_errno = errno;
      if (r > 0) {
        result = {};
      } else {
        switch (int e = SSL_get_error(s.ssl_, r)) {
          case SSL_ERROR_WANT_READ:
            return s.socket_.async_wait(Socket::wait_read, std::move(self));
          case SSL_ERROR_WANT_WRITE:
            return s.socket_.async_wait(Socket::wait_write, std::move(self));
          default:
            result = s.error(e, sys_errno);
            n = 0;
        }
      }
      if (!first) return self.complete(result, n);
      phase = kDone;
      asio::post(s.socket_.get_executor(), std::move(self));
    }
  };

  template <class Handler, class Step>
  auto start(Handler&& handler, Step step) {
    return asio::async_compose<Handler, void(beast::error_code, std::size_t)>(
        Op<Step>{*this, std::move(step)}, handler, socket_);
  }

  // What an OpenSSL call's failure means, in Asio's terms: the client's close_notify is eof, and
  // so (SSL_OP_IGNORE_UNEXPECTED_EOF) is a TCP end without one; a socket error is that error.
  static beast::error_code error(int ssl_error, int sys_errno) {
    unsigned long err = ERR_get_error();
    ERR_clear_error();
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
    if (err != 0 && ERR_GET_REASON(err) != SSL_R_UNEXPECTED_EOF_WHILE_READING)
      return {static_cast<int>(err), asio::error::get_ssl_category()};
    if (err == 0 && ssl_error == SSL_ERROR_SYSCALL && sys_errno != 0)
      return {sys_errno, boost::system::system_category()};
    return ssl::error::stream_truncated;
  }

  Socket socket_;
  SSL* ssl_;
  std::string gather_;  // a coalesced gather write (one write at a time)
  bool close_after_write_ = false;
};

}  // namespace

template <>
struct StreamTraits<TlsStream> {
  static constexpr bool tls = true;
  static Socket& socket(TlsStream& s) { return s.next_layer(); }
  template <class Handler>
  static void handshake(TlsStream& s, Handler&& h) {
    s.async_handshake(std::forward<Handler>(h));
  }
  static void keep_session(TlsStream& s) {
    SSL_set_shutdown(s.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  template <class Handler>
  static void shutdown(TlsStream& s, bool wait, Handler&& h) {
    s.async_shutdown(wait, std::forward<Handler>(h));
  }
  static bool pending(TlsStream& s) { return SSL_has_pending(s.native_handle()) == 1; }
  static void close_after_write(TlsStream& s) { s.close_after_write(); }
  static bool close_sent(TlsStream& s) { return s.close_sent(); }
};

void start_tls_session(Socket socket, HttpServer& server, HttpServer::Worker& worker,
                       std::string remote, std::string client_key) {
  auto ctx = server.options().tls->current();
  std::make_shared<Session<TlsStream>>(server, worker, std::move(remote), std::move(client_key),
                                       std::move(socket), std::move(ctx))
      ->start();
}

}  // namespace detail

}  // namespace status::common
