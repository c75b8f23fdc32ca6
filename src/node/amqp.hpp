#pragma once
// RAII ownership of one rabbitmq-c connection with one channel. A connection belongs to the
// thread that uses it (rabbitmq-c is not thread-safe); nothing here is shared between threads.

#include <amqp.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace status::node {

class AmqpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AmqpConnection {
 public:
  static constexpr amqp_channel_t kChannel = 1;
  /// Connects, logs in and opens channel 1; throws AmqpError with the reason.
  AmqpConnection(const std::string& url, std::chrono::milliseconds timeout);
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  amqp_connection_state_t get() const { return conn_; }
  /// Throws AmqpError when the last RPC failed ("what" names the operation).
  void check(const char* what);
  /// Reopens channel 1 after the broker closed it (e.g. a passive declare of a missing queue).
  void reopen_channel();

 private:
  amqp_connection_state_t conn_ = nullptr;
};

/// Text for an rpc reply (for logs and errors).
std::string describe(const amqp_rpc_reply_t& r);

}  // namespace status::node
