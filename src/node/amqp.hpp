#pragma once
// RAII ownership of one rabbitmq-c connection with one channel. A connection belongs to the
// thread that uses it (rabbitmq-c is not thread-safe); the one thing another thread may do is
// trip its SocketBreaker, which shuts the socket down so a call blocked inside rabbitmq-c (a
// send to a frozen or blocked broker has no deadline there) returns with an error.

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
  /// Connects, logs in (advertising consumer_cancel_notify and connection.blocked, so the broker
  /// tells us about a deleted queue and a resource alarm), opens channel 1 and arms `breaker`.
  /// Throws AmqpError with the reason; nothing leaks on any failure.
  AmqpConnection(const std::string& url, std::chrono::milliseconds timeout,
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
  struct Destroy {
    void operator()(amqp_connection_state_t c) const { amqp_destroy_connection(c); }
  };
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
