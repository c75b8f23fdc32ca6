#include "node/amqp.hpp"

#include <amqp_tcp_socket.h>
#include <sys/socket.h>

#include <vector>

namespace status::node {

std::string describe(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return "connection closed by broker: " + std::to_string(m->reply_code) + " " +
               std::string(static_cast<char*>(m->reply_text.bytes), m->reply_text.len);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return "channel closed by broker: " + std::to_string(m->reply_code) + " " +
               std::string(static_cast<char*>(m->reply_text.bytes), m->reply_text.len);
      }
      return "broker error";
  }
  return "unknown";
}

int close_code(const amqp_rpc_reply_t& r) {
  if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION) return 0;
  if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
    return static_cast<amqp_connection_close_t*>(r.reply.decoded)->reply_code;
  if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
    return static_cast<amqp_channel_close_t*>(r.reply.decoded)->reply_code;
  return 0;
}

void SocketBreaker::arm(int fd) {
  std::lock_guard lock(mutex_);
  fd_ = fd;
}

void SocketBreaker::disarm() {
  std::lock_guard lock(mutex_);
  fd_ = -1;
}

bool SocketBreaker::trip() {
  std::lock_guard lock(mutex_);
  if (fd_ < 0) return false;
  // shutdown, not close: the fd stays the owner's (no reuse race); its blocked call returns.
  ::shutdown(fd_, SHUT_RDWR);
  return true;
}

AmqpConnection::AmqpConnection(const std::string& url, std::chrono::milliseconds timeout,
                               SocketBreaker* breaker)
    : conn_(amqp_new_connection()), breaker_(breaker) {
  if (!conn_) throw AmqpError("out of memory");
  std::vector<char> buf(url.begin(), url.end());
  buf.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) throw AmqpError("malformed AMQP URL");
  // "amqp://host:5672/" names the empty vhost; users mean the default one.
  if (info.vhost == nullptr || info.vhost[0] == '\0') info.vhost = const_cast<char*>("/");
  amqp_socket_t* socket = amqp_tcp_socket_new(conn_.get());  // owned by the connection
  if (!socket) throw AmqpError("cannot create socket");
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  int rc = amqp_socket_open_noblock(socket, info.host, info.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    broken_ = true;
    throw AmqpError(std::string("cannot connect to ") + info.host + ":" +
                    std::to_string(info.port) + ": " + amqp_error_string2(rc));
  }
  if (breaker_) breaker_->arm(amqp_get_sockfd(conn_.get()));
  amqp_set_rpc_timeout(conn_.get(), &tv);
  amqp_set_handshake_timeout(conn_.get(), &tv);

  // Merged by rabbitmq-c into its own client properties (capabilities table included).
  amqp_table_entry_t caps[2];
  caps[0].key = amqp_cstring_bytes("consumer_cancel_notify");
  caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  caps[0].value.value.boolean = 1;
  caps[1].key = amqp_cstring_bytes("connection.blocked");
  caps[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  caps[1].value.value.boolean = 1;
  amqp_table_entry_t props[1];
  props[0].key = amqp_cstring_bytes("capabilities");
  props[0].value.kind = AMQP_FIELD_KIND_TABLE;
  props[0].value.value.table = amqp_table_t{2, caps};
  amqp_table_t client_properties{1, props};
  auto r = amqp_login_with_properties(conn_.get(), info.vhost, 0, 131072, kHeartbeatSeconds,
                                      &client_properties, AMQP_SASL_METHOD_PLAIN, info.user,
                                      info.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    broken_ = true;
    throw AmqpError("login failed: " + describe(r));
  }
  amqp_channel_open(conn_.get(), kChannel);
  check("channel.open");
  channel_open_ = true;
}

AmqpConnection::~AmqpConnection() {
  if (breaker_) breaker_->disarm();
  if (!broken_) {
    if (channel_open_) amqp_channel_close(conn_.get(), kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_.get(), AMQP_REPLY_SUCCESS);
  }
  // conn_'s deleter destroys the connection state and closes its socket.
}

amqp_rpc_reply_t AmqpConnection::last_reply() { return amqp_get_rpc_reply(conn_.get()); }

void AmqpConnection::check(const char* what) {
  auto r = amqp_get_rpc_reply(conn_.get());
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) broken_ = true;
  throw AmqpError(std::string(what) + ": " + describe(r));
}

void AmqpConnection::reopen_channel() {
  amqp_channel_close_ok_t ok{};
  amqp_send_method(conn_.get(), kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  amqp_channel_open(conn_.get(), kChannel);
  check("channel.open");
}

}  // namespace status::node
