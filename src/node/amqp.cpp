#include "node/amqp.hpp"

#include <amqp_tcp_socket.h>

#include <cstring>
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

AmqpConnection::AmqpConnection(const std::string& url, std::chrono::milliseconds timeout) {
  std::vector<char> buf(url.begin(), url.end());
  buf.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) throw AmqpError("malformed AMQP URL");
  // "amqp://host:5672/" names the empty vhost; users mean the default one.
  if (info.vhost == nullptr || info.vhost[0] == '\0') info.vhost = const_cast<char*>("/");
  conn_ = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
  if (!socket) throw AmqpError("cannot create socket");
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  int rc = amqp_socket_open_noblock(socket, info.host, info.port, &tv);
  if (rc != AMQP_STATUS_OK)
    throw AmqpError(std::string("cannot connect to ") + info.host + ":" +
                    std::to_string(info.port) + ": " + amqp_error_string2(rc));
  amqp_set_rpc_timeout(conn_, &tv);
  auto r = amqp_login(conn_, info.vhost, 0, 131072, 10, AMQP_SASL_METHOD_PLAIN, info.user,
                      info.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) throw AmqpError("login failed: " + describe(r));
  amqp_channel_open(conn_, kChannel);
  check("channel.open");
}

AmqpConnection::~AmqpConnection() {
  if (!conn_) return;
  amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn_);
}

void AmqpConnection::check(const char* what) {
  auto r = amqp_get_rpc_reply(conn_);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) throw AmqpError(std::string(what) + ": " + describe(r));
}

void AmqpConnection::reopen_channel() {
  amqp_channel_close_ok_t ok{};
  amqp_send_method(conn_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  amqp_channel_open(conn_, kChannel);
  check("channel.open");
}

}  // namespace status::node
