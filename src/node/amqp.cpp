#include "node/amqp.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace status::node {

namespace {

// OpenSSL's reason for the first error queued on this thread ("certificate verify failed",
// "wrong version number"), the queue cleared; "" when none is queued.
std::string take_openssl_error() {
  unsigned long e = ERR_peek_error();
  std::string text;
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    text = reason ? reason : ERR_error_string(e, nullptr);
  }
  ERR_clear_error();
  return text;
}

bool is_ip_address(const std::string& host) {
  unsigned char addr[16];
  return inet_pton(AF_INET, host.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

// The TLS context's slot holding the std::string that receives why verification failed.
int verify_failure_slot() {
  static const int slot = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

// OpenSSL's verify callback: keeps OpenSSL's verdict and notes the first failure's reason
// ("unable to get local issuer certificate", "hostname mismatch"); rabbitmq-c itself reports
// only that the handshake failed.
int note_verify_failure(int ok, X509_STORE_CTX* store) {
  if (ok) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* reason = ssl ? static_cast<std::string*>(
                           SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), verify_failure_slot()))
                     : nullptr;
  if (reason && reason->empty())
    *reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
  return ok;
}

// rabbitmq-c's OpenSSL socket for `host`, owned by `conn`. rabbitmq-c checks the chain and the
// host name once the handshake is over (both kept on); its context (amqp_ssl_socket_get_context)
// also gets OpenSSL's own checks, which end the handshake at the first failure, tell the broker
// why (an alert) and leave the reason in *verify_failure. Without a CA file: the system's trust
// store (rabbitmq-c loads none by itself).
amqp_socket_t* tls_socket(amqp_connection_state_t conn, const std::string& host, const AmqpTls& tls,
                          std::string* verify_failure) {
  ERR_clear_error();
  amqp_socket_t* socket = amqp_ssl_socket_new(conn);
  if (!socket) throw AmqpError("cannot create a TLS socket: " + take_openssl_error());
  auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
  amqp_ssl_socket_set_verify_peer(socket, 1);
  amqp_ssl_socket_set_verify_hostname(socket, 1);
  if (amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST) != AMQP_STATUS_OK)
    throw AmqpError("cannot limit TLS to versions 1.2 and later");
  bool trusted = tls.ca_file.empty()
                     ? SSL_CTX_set_default_verify_paths(ctx) == 1
                     : amqp_ssl_socket_set_cacert(socket, tls.ca_file.c_str()) == AMQP_STATUS_OK;
  if (!trusted)
    throw AmqpError(
        "cannot load the CA certificates" +
        (tls.ca_file.empty() ? std::string(" of the system") : " of '" + tls.ca_file + "'") + ": " +
        take_openssl_error());
  if (!tls.cert_file.empty()) {
    // A key that needs a passphrase fails instead of OpenSSL asking for one on the terminal.
    SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
    if (amqp_ssl_socket_set_key(socket, tls.cert_file.c_str(), tls.key_file.c_str()) !=
        AMQP_STATUS_OK)
      throw AmqpError("cannot use the client certificate '" + tls.cert_file + "' with key '" +
                      tls.key_file + "': " + take_openssl_error());
  }
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int named = is_ip_address(host) ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                                  : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (named != 1) throw AmqpError("cannot check the broker's certificate for host " + host);
  SSL_CTX_set_ex_data(ctx, verify_failure_slot(), verify_failure);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, note_verify_failure);
  return socket;
}

// What OpenSSL adds to rabbitmq-c's text of a failed TLS connect `rc` (": certificate verify
// failed (unable to get local issuer certificate)"), or "".
std::string tls_failure_detail(int rc, const std::string& host, const std::string& verify_failure) {
  std::string detail;
  std::string openssl = take_openssl_error();
  if (!openssl.empty()) detail += ": " + openssl;
  if (!verify_failure.empty()) detail += " (" + verify_failure + ")";
  if (rc == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED && is_ip_address(host))
    detail +=
        " (rabbitmq-c matches a host with the certificate's DNS names only: name the broker "
        "by one of them in the URL)";
  return detail;
}

// `text` (rabbitmq-c's of a failed call) with OpenSSL's reason when TLS failed, e.g. the broker
// refusing a client certificate, which TLS 1.3 tells only after the client's handshake is over.
std::string with_tls_reason(std::string text, const amqp_rpc_reply_t& r) {
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_SSL_ERROR)
    if (auto reason = take_openssl_error(); !reason.empty()) text += ": " + reason;
  return text;
}

}  // namespace

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

AmqpUrl parse_amqp_url(const std::string& url) {
  std::vector<char> buf(url.begin(), url.end());
  buf.push_back('\0');
  amqp_connection_info info;
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) throw AmqpError("malformed AMQP URL");
  AmqpUrl u;
  u.host = info.host;
  u.port = info.port;
  u.user = info.user;
  u.password = info.password;
  u.tls = info.ssl != 0;
  // "amqp://host:5672/" names the empty vhost; users mean the default one.
  if (info.vhost != nullptr && info.vhost[0] != '\0') u.vhost = info.vhost;
  return u;
}

std::string amqp_ca_file_problem(const std::string& file) {
  if (std::FILE* f = std::fopen(file.c_str(), "rb"))
    std::fclose(f);
  else
    return "cannot read the CA file '" + file + "': " + std::strerror(errno);
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx) return "cannot check the CA file '" + file + "': " + take_openssl_error();
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx.get(), file.c_str(), nullptr) != 1)
    return "the CA file '" + file + "' holds no usable PEM certificate: " + take_openssl_error();
  return "";
}

AmqpConnection::AmqpConnection(const std::string& url, const AmqpTls& tls,
                               std::chrono::milliseconds timeout, SocketBreaker* breaker)
    : conn_(amqp_new_connection()), breaker_(breaker) {
  if (!conn_) throw AmqpError("out of memory");
  // A constructor that throws runs no destructor: the breaker must not keep the closed fd (a
  // later trip would shut down whatever socket reuses its number).
  try {
    open(url, tls, timeout);
  } catch (...) {
    if (breaker_) breaker_->disarm();
    throw;
  }
}

void AmqpConnection::open(const std::string& url, const AmqpTls& tls,
                          std::chrono::milliseconds timeout) {
  AmqpUrl u = parse_amqp_url(url);
  // Owned by the connection from here on (also when this throws).
  amqp_socket_t* socket = u.tls ? tls_socket(conn_.get(), u.host, tls, &verify_failure_)
                                : amqp_tcp_socket_new(conn_.get());
  if (!socket) throw AmqpError("cannot create socket");
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  // The TCP connect and the TLS handshake share the deadline.
  int rc = amqp_socket_open_noblock(socket, u.host.c_str(), u.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    broken_ = true;
    std::string why = amqp_error_string2(rc);
    if (u.tls) why += tls_failure_detail(rc, u.host, verify_failure_);
    throw AmqpError("cannot connect to " + u.host + ":" + std::to_string(u.port) + ": " + why);
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
  auto r = amqp_login_with_properties(conn_.get(), u.vhost.c_str(), 0, 131072, kHeartbeatSeconds,
                                      &client_properties, AMQP_SASL_METHOD_PLAIN, u.user.c_str(),
                                      u.password.c_str());
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    broken_ = true;
    throw AmqpError(with_tls_reason("login failed: " + describe(r), r));
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
  throw AmqpError(with_tls_reason(std::string(what) + ": " + describe(r), r));
}

void AmqpConnection::reopen_channel() {
  amqp_channel_close_ok_t ok{};
  amqp_send_method(conn_.get(), kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  amqp_channel_open(conn_.get(), kChannel);
  check("channel.open");
}

}  // namespace status::node
