#pragma once
// The server side of TLS: a certificate chain and its private key (PEM files) loaded into an
// OpenSSL context that HttpServer hands to each new connection. Light on purpose: the OpenSSL
// and Asio SSL headers are included by tls.cpp only.

#include <memory>
#include <mutex>
#include <string>

namespace boost::asio::ssl {
class context;
}

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

}  // namespace status::common
