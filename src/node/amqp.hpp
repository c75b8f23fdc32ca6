#pragma once
// RAII ownership of one rabbitmq-c connection with one channel. A connection belongs to the
// thread that uses it (rabbitmq-c is not thread-safe); the one thing another thread may do is
// trip its SocketBreaker, which shuts the socket down so a call blocked inside rabbitmq-c (a
// send to a frozen or blocked broker has no deadline there) returns with an error. An amqps://
// URL speaks TLS (rabbitmq-c's OpenSSL socket), the broker's certificate verified: its chain
// against a CA file or the system's trust store, its name against the URL's host.

#include <amqp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace status::node {

class AmqpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What an amqp:// or amqps:// URL names (rabbitmq-c's parser: percent-decoded; port 5672, or
/// 5671 for amqps://, when none is given; an empty vhost is the default one, "/").
struct AmqpUrl {
  std::string host;
  int port = 5672;
  std::string vhost = "/";
  std::string user = "guest", password = "guest";
  bool tls = false;  // amqps://
};
/// Throws AmqpError("malformed AMQP URL") (never with the URL: it holds a password).
AmqpUrl parse_amqp_url(const std::string& url);

/// The TLS files of amqps:// connections (amqp:// ones ignore them). PEM files, read at every
/// connect, so a renewed certificate is used from the next reconnection on.
struct AmqpTls {
  std::string ca_file;    // the CA certificates the broker's must chain to; "": the system's
  std::string cert_file;  // a client certificate (chain) for the broker, with key_file
  std::string key_file;   // its private key, unencrypted
};
/// Why `file` cannot be the CA file of amqps:// connections (unreadable, or no PEM certificate
/// in it), in one line naming it; "" when it can.
std::string amqp_ca_file_problem(const std::string& file);

/// Shuts down the socket of a connection from another thread. Thread-safe.
class SocketBreaker {
 public:
  void arm(int fd);
  void disarm();
  /// shutdown(fd, SHUT_RDWR) if armed; the owner's blocked call then fails. True if it tripped.
  bool trip();

 private:
  std::mutex mutex_;
  int fd_ = -1;
};

class AmqpConnection {
 public:
  static constexpr amqp_channel_t kChannel = 1;
  static constexpr int kHeartbeatSeconds = 5;
  /// Connects (TCP and, for amqps://, the TLS handshake within `timeout`), logs in (advertising
  /// consumer_cancel_notify and connection.blocked, so the broker tells us about a deleted queue
  /// and a resource alarm), opens channel 1 and arms `breaker`. Throws AmqpError with the reason
  /// (for TLS also OpenSSL's, e.g. why the certificate was refused); nothing leaks on any failure.
  AmqpConnection(const std::string& url, const AmqpTls& tls, std::chrono::milliseconds timeout,
                 SocketBreaker* breaker = nullptr);
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  amqp_connection_state_t get() const { return conn_.get(); }
  /// Throws AmqpError when the last RPC failed ("what" names the operation).
  void check(const char* what);
  /// The last RPC's reply (for callers that treat a server exception as an answer).
  amqp_rpc_reply_t last_reply();
  /// Reopens channel 1 after the broker closed it (e.g. a passive declare of a missing queue).
  void reopen_channel();
  /// The connection is unusable (socket error, tripped): closing skips the goodbye RPCs.
  void mark_broken() { broken_ = true; }

 private:
  void open(const std::string& url, const AmqpTls& tls, std::chrono::milliseconds timeout);

  struct Destroy {
    void operator()(amqp_connection_state_t c) const { amqp_destroy_connection(c); }
  };
  // Why OpenSSL refused the broker's certificate, filled during the handshake (the TLS context
  // points at it, so it is declared before conn_, which owns that context, and outlives it).
  std::string verify_failure_;
  std::unique_ptr<amqp_connection_state_t_, Destroy> conn_;
  SocketBreaker* breaker_ = nullptr;
  bool broken_ = false;
  bool channel_open_ = false;
};

/// A received message, destroyed with its owner.
class Envelope {
 public:
  Envelope() = default;
  ~Envelope() {
    if (filled_) amqp_destroy_envelope(&env_);
  }
  Envelope(const Envelope&) = delete;
  Envelope& operator=(const Envelope&) = delete;
  amqp_envelope_t* out() {
    if (filled_) amqp_destroy_envelope(&env_);
    filled_ = true;
    return &env_;
  }
  const amqp_envelope_t& get() const { return env_; }

 private:
  amqp_envelope_t env_{};
  bool filled_ = false;
};

/// Text for an rpc reply (for logs and errors).
std::string describe(const amqp_rpc_reply_t& r);
/// The reply code of a channel or connection close in `r` (e.g. 404, 406), or 0.
int close_code(const amqp_rpc_reply_t& r);

}  // namespace status::node
