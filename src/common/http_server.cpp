#include "common/http_server.hpp"

#include "common/http_session.hpp"
#include "common/tls.hpp"

#include <sys/resource.h>

namespace status::common {

using namespace detail;

void Exchange::respond_serialized(int status, std::string head, std::string body) {
  // Parse it back into a message (simple and slow; the real server writes the bytes as they are).
  (void)status;
  std::string all = head + "\r\n" + body;
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.skip(body.empty());  // e.g. the answer to HEAD: a length, but no body
  beast::error_code ec;
  parser.put(asio::buffer(all), ec);
  if (ec || !parser.is_done()) return respond(problem(500, "malformed serialized answer"));
  respond(parser.release());
}

const TraceContext& Exchange::trace() const {
  static const TraceContext none;
  return none;
}

HttpServer::HttpServer(ServerOptions options, Handler handler, Metrics* metrics)
    : options_(std::move(options)), handler_(std::move(handler)), metrics_(metrics),
      per_client_(options_.max_connections_per_client) {
  int n = std::max(1, options_.threads);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>());
  if (metrics_) {
    metrics_->describe("http_connections_rejected_total", "counter",
                       "connections closed at once: over the total or the per-client cap");
    metrics_->counter("http_accept_failures_total", "failed accepts (e.g. out of file descriptors), each followed by a pause");
    metrics_->describe("http_streams_dropped_total", "counter",
                       "streams ended because the client read slower than they were fed");
    if (options_.tls)
      metrics_->counter("http_tls_handshake_failures_total", "TLS handshakes that failed or timed out (e.g. plain HTTP sent to the "
                         "TLS port, an old protocol version, no common cipher suite)");
  }
}

bool HttpServer::reload_tls() { return options_.tls ? options_.tls->reload() : false; }

std::vector<Option> server_option_rows(ServerOptions& o, ServerRowDefaults d) {
  using std::chrono::milliseconds;
  auto threads = Option::integer("threads", &o.threads, 1, 256,
                                 d.threads > 0 ? d.threads : default_threads(),
                                 "number of I/O threads");
  std::vector<Option> rows{
      Option::integer("port", &o.port, 0, 65535, d.port,
                      "TCP port to listen on (0: any free port, logged)"),
      Option::text("bind", &o.bind, "127.0.0.1", "address to listen on"),
      d.threads > 0 ? std::move(threads) : std::move(threads).default_shown("number of cores"),
      Option::duration<milliseconds>("idle-timeout-ms", &o.idle_timeout, 100, 3600000, 30000,
                                     "close kept-alive connections idle this long"),
      Option::duration<milliseconds>("read-timeout-ms", &o.read_timeout, 100, 3600000, 10000,
                                     "a started request must arrive within this time"),
      Option::integer("max-connections", &o.max_connections, 1, 1000000, 10000,
                      "open client connections at most; beyond, new ones are closed at once"),
      Option::integer("max-connections-per-client", &o.max_connections_per_client, 0, 1000000, 256,
                      "open connections one client address (IPv6: one /64) may hold (0: no cap)"),
      Option::text("tls-cert", &o.tls_cert_file, "",
                   "PEM file of the certificate chain (the server's first): serve HTTPS, TLS 1.2 "
                   "and 1.3, instead of HTTP (with --tls-key; both re-read on SIGHUP)"),
      Option::text("tls-key", &o.tls_key_file, "",
                   "PEM file of the certificate's private key (unencrypted; with --tls-cert)"),
      Option::text("tls-ca", &o.tls_ca_file, "",
                   "PEM file of the CA certificates that https:// servers this process calls "
                   "(registry, nodes, peers) are verified against")
          .default_shown("the system store"),
  };
  for (auto& r : trace_option_rows(o.trace)) rows.push_back(std::move(r));
  return rows;
}

void load_server_tls(ServerOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    throw ConfigError("--tls-cert and --tls-key go together: give both or neither");
  if (!o.tls_cert_file.empty()) o.tls = std::make_shared<TlsContext>(o.tls_cert_file, o.tls_key_file);
  configure_client_tls(o.tls_ca_file);
}

void prepare_fd_limit(const ServerOptions& o) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  // Each connection is one descriptor; the process needs some more (listeners, upstream and
  // pooled connections, the database, the broker, logs).
  auto needed = static_cast<rlim_t>(o.max_connections) + 256;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed)
    spdlog::warn("event=fd_limit_low open_files={} max_connections={} "
                 "hint=\"raise LimitNOFILE / ulimit -n, or lower --max-connections\"",
                 static_cast<unsigned long long>(rl.rlim_cur), o.max_connections);
}

HttpServer::~HttpServer() { stop(); }

asio::io_context& HttpServer::context(int i) { return workers_.at(i)->ioc; }
Deadlines& HttpServer::deadlines(int i) { return workers_.at(i)->deadlines; }

namespace {

/// One listening socket per I/O thread, each in its own io_context: with several threads they
/// share the port through SO_REUSEPORT, so the kernel spreads new connections over the threads
/// and each accepts and serves its own (no accept thread handing sockets to the others).
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(HttpServer& server, HttpServer::Worker& worker, const tcp::endpoint& ep, bool share)
      : server_(server), worker_(worker), acceptor_(worker.ioc), pause_(worker.ioc) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    if (share) acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void accept() {
    // The client's address comes with accept() (no getpeername per connection).
    acceptor_.async_accept(worker_.ioc, peer_, [self = shared_from_this()](beast::error_code ec,
                                                                   Socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
      if (!ec) {
        self->resumed();
        self->admit(std::move(socket));
      } else if (ec != asio::error::connection_aborted) {
        // Out of file descriptors (EMFILE, ENFILE) or memory: accepting again at once fails the
        // same way, in a tight loop. Pause, then try again (connections wait in the backlog).
        return self->pause(ec);
      }
      self->accept();
    });
  }
  void close() {
    beast::error_code ec;
    acceptor_.close(ec);
    pause_.cancel();
  }

 private:
  /// Counts the connection against the caps and starts its session on this thread.
  void admit(Socket socket) {
    const auto& o = server_.options();
    beast::error_code ec;
    std::string remote = address_text(peer_.address());
    const char* refused = nullptr;
    std::string key;
    if (++server_.connections_ > o.max_connections) {
      refused = "total";
    } else if (o.max_connections_per_client && !remote.empty() &&
               !o.per_client_exempt.contains(remote)) {
      key = client_key(remote);
      if (!server_.per_client().try_acquire(key)) {
        refused = "per_client";
        key.clear();
      }
    }
    if (refused) {
      --server_.connections_;
      if (auto* m = server_.metrics())
        m->inc("http_connections_rejected_total", {{"reason", refused}});
      auto now = Clock::now();
      if (now - last_refusal_log_ > std::chrono::seconds(10)) {  // at most one line per 10 s
        last_refusal_log_ = now;
        spdlog::warn("event=connection_refused reason={} client={} connections={}", refused,
                     remote, server_.connections_.load());
      }
      socket.close(ec);
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (o.tls) return start_tls_session(std::move(socket), server_, worker_, std::move(remote), std::move(key));
    std::make_shared<Session<Socket>>(server_, worker_, std::move(remote), std::move(key),
                                      std::move(socket))
        ->start();
  }

  void pause(beast::error_code ec) {
    if (auto* m = server_.metrics()) m->inc("http_accept_failures_total");
    if (failures_++ == 0)
      spdlog::warn("event=accept_failed error=\"{}\" action=pause pause_ms={}", ec.message(),
                   server_.options().accept_backoff.count());
    pause_.expires_after(server_.options().accept_backoff);
    pause_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->acceptor_.is_open()) return;
      self->accept();
    });
  }
  void resumed() {
    if (failures_ == 0) return;
    spdlog::info("event=accept_resumed failed_attempts={}", failures_);
    failures_ = 0;
  }

  HttpServer& server_;
  HttpServer::Worker& worker_;
  tcp::acceptor acceptor_;
  asio::steady_timer pause_;
  tcp::endpoint peer_;        // filled by the accept in flight (one at a time)
  std::size_t failures_ = 0;  // accept failures since the last success
  Clock::time_point last_refusal_log_{};
};

/// SO_REUSEPORT lets any process of the same user join a port: before several listeners share
/// one, a plain bind (no SO_REUSEPORT) makes sure no one else listens there, so that a second
/// server started on a taken port fails as it would without sharing.
void ensure_port_free(const tcp::endpoint& ep) {
  asio::io_context ioc;
  tcp::acceptor probe(ioc);
  probe.open(ep.protocol());
  probe.set_option(asio::socket_base::reuse_address(true));
  probe.bind(ep);  // throws EADDRINUSE when taken
}

}  // namespace

void HttpServer::start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(options_.bind, ec);
  if (ec) throw std::system_error(ec, "invalid bind address '" + options_.bind + "'");
  std::vector<std::shared_ptr<Listener>> listeners;
  bool share = workers_.size() > 1;
  try {
    tcp::endpoint ep{addr, options_.port};
    if (share && ep.port() != 0) ensure_port_free(ep);
    for (auto& w : workers_) {
      listeners.push_back(std::make_shared<Listener>(*this, *w, ep, share));
      ep.port(listeners.front()->port());  // port 0: the others join the port the first got
    }
  } catch (const boost::system::system_error& e) {
    throw std::system_error(e.code(), "cannot listen on " + options_.bind + ":" +
                                          std::to_string(options_.port));
  }
  port_ = listeners.front()->port();
  // Each listener is kept alive by its pending accept; stop() closes each on its own thread.
  for (auto& l : listeners) l->accept();
  stop_listener_ = [listeners, this] {
    for (std::size_t i = 0; i < listeners.size(); ++i)
      asio::post(workers_[i]->ioc, [l = listeners[i]] { l->close(); });
  };
  for (auto& w : workers_) {
    w->sweep_loop();
    threads_.emplace_back([&ioc = w->ioc] { ioc.run(); });
  }
}

void HttpServer::stop() {
  if (stopped_.exchange(true)) return;
  draining_ = true;
  if (stop_listener_) stop_listener_();
  for (auto& w : workers_)
    asio::post(w->ioc, [wp = w.get()] {
      std::vector<SessionBase*> copy(wp->sessions.begin(), wp->sessions.end());
      for (auto* s : copy) s->drain();
    });
  auto deadline = Clock::now() + options_.drain_timeout;
  while (connections_.load() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& w : workers_) {
    w->guard.reset();
    w->ioc.stop();
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace status::common
