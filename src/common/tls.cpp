// TLS: common::TlsContext, and HttpServer's sessions over a TLS stream. The one translation
// unit that includes the OpenSSL and Asio/Beast SSL headers (and compiles Asio's SSL
// implementation, BOOST_ASIO_SEPARATE_COMPILATION), so the rest of the build stays light.
#include "common/tls.hpp"

#include "common/config.hpp"
#include "common/http_session.hpp"
#include "common/log.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
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
// the stream and destroyed after it), so a reload does not touch open connections. Beast's
// ssl_stream (over Asio's) coalesces a gather write (an answer's header and body) into one
// TLS record rather than one record per buffer.
struct HeldContext {
  std::shared_ptr<ssl::context> ctx;
};
class TlsStream : private HeldContext, public beast::ssl_stream<Socket> {
 public:
  TlsStream(Socket socket, std::shared_ptr<ssl::context> ctx)
      : HeldContext{std::move(ctx)}, beast::ssl_stream<Socket>(std::move(socket), *this->ctx) {}
};

}  // namespace

template <>
struct StreamTraits<TlsStream> {
  static constexpr bool tls = true;
  static Socket& socket(TlsStream& s) { return s.next_layer(); }
  template <class Handler>
  static void handshake(TlsStream& s, Handler&& h) {
    s.async_handshake(ssl::stream_base::server, std::forward<Handler>(h));
  }
  static void keep_session(TlsStream& s) {
    SSL_set_shutdown(s.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  template <class Handler>
  static void shutdown(TlsStream& s, Handler&& h) {
    s.async_shutdown(std::forward<Handler>(h));
  }
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
