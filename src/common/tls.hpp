#pragma once
// TLS. The server side: a certificate chain and its private key (PEM files) loaded into an
// OpenSSL context that HttpServer hands to each new connection. The client side: whom the
// process's outgoing connections trust (--tls-ca or the system store) and the check of the
// server's name. Light on purpose: the OpenSSL and Asio SSL headers stay out of this header.

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}
struct ssl_st;  // OpenSSL's SSL

namespace status::common {

/// TLS 1.2 and 1.3 only; for 1.2 only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305
/// (1.3: OpenSSL's default suites); the server's cipher preference; session resumption by the
/// server-side session cache and by session tickets; no compression, no renegotiation.
/// Thread-safe.
class TlsContext {
 public:
  /// Reads both files. Throws ConfigError (one line naming the file) when a file cannot be
  /// read, holds no usable PEM certificate chain or key, or the key does not match the
  /// certificate. An expired (or not yet valid) certificate is loaded, with a warning logged.
  TlsContext(std::string cert_file, std::string key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// Re-reads the files into a new context, used by the connections accepted from now on
  /// (open ones keep the context they started with). On failure logs one line, keeps the old
  /// context and returns false.
  bool reload();

  /// The context for a new connection.
  std::shared_ptr<boost::asio::ssl::context> current() const;

  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

 private:
  std::string cert_file_, key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

/// The trust of every client side of this process (gateway → nodes, node → peers and registry,
/// registry → peers, statusctl): certificates are verified against the PEM bundle `ca_file`, or
/// the system store when it is empty. TLS 1.2 and 1.3 only. Call once at start, before any
/// client connection; throws ConfigError (one line naming the file) when the file cannot be
/// read or holds no certificate. Without a call, client_tls_context() uses the system store.
void configure_client_tls(const std::string& ca_file);

/// The context for a new client connection (shared, thread-safe).
std::shared_ptr<boost::asio::ssl::context> client_tls_context();

/// Before a client handshake: sends `host` as SNI (DNS names only, not addresses) and makes the
/// handshake fail unless the server's certificate names `host` (a DNS name, or an IP address
/// for a numeric host; brackets of an IPv6 literal are ignored). False if OpenSSL refused.
bool expect_server_name(ssl_st* ssl, std::string_view host);

}  // namespace status::common
