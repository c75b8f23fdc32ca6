#include "common/http_server.hpp"

#include "common/deadlines.hpp"
#include "common/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/resource.h>

#include <deque>
#include <unordered_set>

namespace status::common {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// A socket bound to its io_context's own executor type: no type-erased executor copies per
// operation (tcp::socket uses any_io_executor).
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;

class Session;

struct HttpServer::Worker {
  // Declared before ioc: destroying ioc destroys pending handlers, which may end sessions
  // (and their deadline entries).
  std::unordered_set<Session*> sessions;  // touched on this worker's thread only
  Deadlines deadlines;                    // this thread's socket timeouts
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{
      asio::make_work_guard(ioc)};
  asio::steady_timer sweeper{ioc};  // runs deadlines.sweep() every kSweepInterval

  void sweep_loop() {
    sweeper.expires_after(kSweepInterval);
    sweeper.async_wait([this](beast::error_code ec) {
      if (ec) return;
      deadlines.sweep(Clock::now());
      sweep_loop();
    });
  }
  static constexpr std::chrono::milliseconds kSweepInterval{25};
};

namespace {

class ExchangeImpl;

}  // namespace

class Session : public std::enable_shared_from_this<Session>, private Deadlines::Entry {
 public:
  // `client_key`: what the connection is counted under in the server's per-client counter
  // (empty: not counted, e.g. an exempt client).
  Session(Socket socket, HttpServer& server, HttpServer::Worker& worker, std::string remote,
          std::string client_key)
      : Deadlines::Entry(worker.deadlines), stream_(std::move(socket)),
        remote_(std::move(remote)), server_(server), worker_(worker),
        client_key_(std::move(client_key)) {}
  ~Session() {
    worker_.sessions.erase(this);
    if (!client_key_.empty()) server_.per_client().release(client_key_);
    --server_.connections_;
  }

  void start() {
    worker_.sessions.insert(this);
    wait_idle();
  }

  // Called on this session's thread when the server starts draining.
  void drain() {
    if (state_ == State::kIdle) close();
    else if (state_ == State::kStreaming) end_stream();
  }

  // ---- called on the session's thread (posted by ExchangeImpl) ----
  void send(std::shared_ptr<Response> res, bool client_keep_alive, const std::string& route,
            const std::string& method, Clock::time_point started) {
    if (state_ != State::kBusy) return;
    // A handler may ask to close (e.g. after a request whose framing cannot be trusted).
    bool keep = client_keep_alive && res->keep_alive() && !server_.draining();
    res->keep_alive(keep);
    // An HTTP/1.0 client keeps the connection only when the answer says so.
    if (keep && http10_) res->set(http::field::connection, "keep-alive");
    for (const auto& [k, v] : server_.options().every_answer_headers) res->set(k, v);
    answered(res->result_int(), route, method, started);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep](beast::error_code ec, std::size_t) {
                        self->written(ec, keep);
                      });
  }

  // An answer serialized by the handler (Exchange::respond_serialized): written as it is, in
  // one gather write, with the Connection field and the empty line added here.
  struct Serialized {
    std::string head, body;
  };
  void send_serialized(std::shared_ptr<Serialized> out, int status, bool client_keep_alive,
                       const std::string& route, const std::string& method,
                       Clock::time_point started) {
    if (state_ != State::kBusy) return;
    bool keep = client_keep_alive && !server_.draining();
    for (const auto& [k, v] : server_.options().every_answer_headers)
      out->head.append(k).append(": ").append(v).append("\r\n");
    out->head += !keep ? "Connection: close\r\n\r\n"
                 : http10_ ? "Connection: keep-alive\r\n\r\n"
                           : "\r\n";
    answered(status, route, method, started);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(out->head), asio::buffer(out->body)};
    asio::async_write(stream_, buffers,
                      [self = shared_from_this(), out, keep](beast::error_code ec, std::size_t) {
                        self->written(ec, keep);
                      });
  }

  // Closing a socket with unread request bytes (e.g. the rest of a body refused with 413) makes
  // the kernel send a reset that can destroy the answer before the client reads it. So: stop
  // sending, read and discard what still comes for a bounded time (1 s), then close.
  void linger_close() {
    state_ = State::kEnding;
    beast::error_code ec;
    stream_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    expires_after(std::chrono::seconds(1));
    stream_.async_read_some(asio::buffer(sink_), [self = shared_from_this()](beast::error_code ec,
                                                                             std::size_t) {
      if (ec) return self->close();
      self->linger_close();
    });
  }

  void begin_stream(const Response& head, std::string route, std::string method) {
    if (state_ != State::kBusy) return;
    --server_.in_flight_;
    if (auto* m = server_.metrics()) m->observe_request(route, method, head.result_int(), 0);
    state_ = State::kStreaming;
    stream_open_ = true;
    std::string h = "HTTP/1.1 " + std::to_string(head.result_int()) + " " +
                    std::string(reason(head.result_int())) + "\r\n";
    for (const auto& f : head) {
      if (f.name() == http::field::content_length || f.name() == http::field::transfer_encoding ||
          f.name() == http::field::connection)
        continue;
      h += std::string(f.name_string()) + ": " + std::string(f.value()) + "\r\n";
    }
    for (const auto& [k, v] : server_.options().every_answer_headers) h += k + ": " + v + "\r\n";
    h += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    queue(std::move(h));
    // Detect the client going away while we only write: any read result ends the stream.
    stream_.async_read_some(asio::buffer(sink_),
                                     [self = shared_from_this()](beast::error_code, std::size_t) {
                                       self->stream_open_ = false;
                                       self->close();
                                     });
  }

  void push(std::string data) {
    if (state_ != State::kStreaming || data.empty()) return;
    // What waits behind the piece being written: a client that reads slower than the stream
    // is fed would otherwise make it grow without end. Such a client is dropped.
    std::size_t waiting = out_bytes_ - (writing_ && !out_.empty() ? out_.front().size() : 0);
    if (waiting + data.size() > server_.options().stream_queue_limit) {
      if (auto* m = server_.metrics())
        m->inc("http_streams_dropped_total", {{"reason", "slow_reader"}});
      spdlog::warn("event=stream_dropped reason=slow_reader client={} queued_bytes={}", remote_,
                   waiting);
      stream_open_ = false;
      return close();
    }
    char len[20];
    int n = std::snprintf(len, sizeof len, "%zx\r\n", data.size());
    queue(std::string(len, n) + data + "\r\n");
  }

  void end_stream() {
    if (state_ != State::kStreaming) return;
    state_ = State::kEnding;
    queue("0\r\n\r\n");
  }

  // A deadline (idle, read, write or lingering) passed: the pending operation then fails.
  void on_expire() override { close(); }

  std::atomic<bool> stream_open_{false};
  Socket stream_;
  const std::string remote_;

 private:
  enum class State { kIdle, kReading, kBusy, kWriting, kStreaming, kEnding, kClosed };

  // The handler answered: count it, and time the write that follows.
  void answered(int status, const std::string& route, const std::string& method,
                Clock::time_point started) {
    if (auto* m = server_.metrics())
      m->observe_request(route, method, status,
                         std::chrono::duration<double>(Clock::now() - started).count());
    --server_.in_flight_;
    state_ = State::kWriting;
    expires_after(server_.options().write_timeout);
  }
  void written(beast::error_code ec, bool keep) {
    if (ec || state_ == State::kClosed) return close();
    if (!keep) return linger_close();
    wait_idle();
  }

  void wait_idle() {
    if (server_.draining()) return close();
    state_ = State::kIdle;
    if (buffer_.size() > 0) return read();
    expires_after(server_.options().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              // Closed meanwhile (a deadline swept while this completion
                              // was queued): whatever arrived is not read any more.
                              if (ec || self->state_ == State::kClosed) return self->close();
                              self->buffer_.commit(n);
                              self->read();
                            });
  }

  void read() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options().header_limit));
    parser_->body_limit(server_.options().body_limit);
    expires_after(server_.options().read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void reject(int status, const char* detail) {
    // The request could not be read as a whole: answer and close (the stream's framing is lost).
    ++server_.in_flight_;
    state_ = State::kBusy;
    auto res = std::make_shared<Response>(problem(status, detail, 11, false));
    std::string rid;
    if (parser_) {  // fields parsed so far (a body refused by its Content-Length has them all)
      auto it = parser_->get().find("X-Request-Id");
      if (it != parser_->get().end() && !it->value().empty() && it->value().size() <= 128)
        rid = std::string(it->value());
    }
    res->set("X-Request-Id", rid.empty() ? random_id() : rid);
    for (const auto& [k, v] : server_.options().answer_headers) res->set(k, v);
    send(res, false, "(unparsed)", "-", Clock::now());
  }

  void on_read(beast::error_code ec);
  void queue(std::string data) {
    out_bytes_ += data.size();
    out_.push_back(std::move(data));
    if (!writing_) write_next();
  }
  void write_next() {
    if (out_.empty()) {
      writing_ = false;
      expires_never();  // an open stream may be quiet for long
      if (state_ == State::kEnding) close();
      return;
    }
    writing_ = true;
    expires_after(server_.options().write_timeout);
    asio::async_write(stream_, asio::buffer(out_.front()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) {
                          self->stream_open_ = false;
                          return self->close();
                        }
                        self->out_bytes_ -= self->out_.front().size();
                        self->out_.pop_front();
                        self->write_next();
                      });
  }
  void close() {
    if (state_ == State::kClosed) return;
    if (state_ == State::kBusy) --server_.in_flight_;
    state_ = State::kClosed;
    stream_open_ = false;
    beast::error_code ec;
    stream_.shutdown(tcp::socket::shutdown_both, ec);
    stream_.close(ec);
  }

  HttpServer& server_;
  HttpServer::Worker& worker_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  State state_ = State::kIdle;
  bool http10_ = false;  // the request being answered is HTTP/1.0
  std::deque<std::string> out_;
  std::size_t out_bytes_ = 0;  // in out_
  bool writing_ = false;
  std::string client_key_;
  std::array<char, 512> sink_{};
};

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

namespace {

class ExchangeImpl : public Exchange {
 public:
  ExchangeImpl(std::shared_ptr<Session> s, bool keep_alive, std::string method)
      : session_(std::move(s)), keep_alive_(keep_alive), method_(std::move(method)),
        started_(Clock::now()), remote_(session_->remote_) {}
  ~ExchangeImpl() override {
    if (!done_.exchange(true)) {
      // A handler dropped the request without answering: never leave the client hanging.
      auto res = std::make_shared<Response>(problem(500, "the request was not answered"));
      post_send(res);
    }
    // The session must die on its own thread (it unregisters from its worker there); when we
    // already are on it (the usual case), at once rather than through the queue.
    auto exec = session_->stream_.get_executor();
    asio::dispatch(exec, [s = std::move(session_)] {});
  }
  void respond(Response res) override {
    if (done_.exchange(true)) return;
    post_send(std::make_shared<Response>(std::move(res)));
  }
  void respond_serialized(int status, std::string head, std::string body) override {
    if (done_.exchange(true)) return;
    auto out = std::make_shared<Session::Serialized>(
        Session::Serialized{std::move(head), std::move(body)});
    // done_ is set: route_ and method_ are not read again here.
    asio::dispatch(session_->stream_.get_executor(),
                   [s = session_, out = std::move(out), status, k = keep_alive_,
                    r = std::move(route_), m = std::move(method_), t = started_] {
                     s->send_serialized(out, status, k, r, m, t);
                   });
  }
  void begin_stream(Response head) override {
    if (done_.exchange(true)) return;
    streaming_ = true;
    auto h = std::make_shared<Response>(std::move(head));
    session_->stream_open_ = true;
    asio::post(session_->stream_.get_executor(),
               [s = session_, h, r = route_, m = method_] { s->begin_stream(*h, r, m); });
  }
  bool push(std::string data) override {
    if (!streaming_ || !session_->stream_open_) return false;
    asio::post(session_->stream_.get_executor(),
               [s = session_, d = std::move(data)]() mutable { s->push(std::move(d)); });
    return true;
  }
  void end_stream() override {
    if (!streaming_) return;
    asio::post(session_->stream_.get_executor(), [s = session_] { s->end_stream(); });
  }
  bool open() const override { return streaming_ && session_->stream_open_; }
  void set_route(std::string route) override { route_ = std::move(route); }
  asio::any_io_executor executor() override { return session_->stream_.get_executor(); }
  std::string remote_address() const override { return remote_; }

 private:
  // Inline when called on the session's thread (an asynchronous handler such as the gateway's
  // proxy completes there), queued otherwise. Streams keep asio::post: their chunks may come
  // from several threads and must stay in order.
  void post_send(std::shared_ptr<Response> res) {
    asio::dispatch(session_->stream_.get_executor(),
               [s = session_, res, k = keep_alive_, r = route_, m = method_, t = started_] {
                 s->send(res, k, r, m, t);
               });
  }
  std::shared_ptr<Session> session_;
  bool keep_alive_;
  std::string method_;
  std::string route_ = "(unknown)";  // until the handler names its route
  Clock::time_point started_;
  std::string remote_;
  std::atomic<bool> done_{false};
  bool streaming_ = false;
};

}  // namespace

void Session::on_read(beast::error_code ec) {
  // The read deadline passed and the sweep closed the connection while this completion was
  // queued: a request that arrived complete must not be handled any more (its client saw the
  // connection drop and may send it again), and the error it may carry is not the client's.
  if (state_ == State::kClosed) return;
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset)
    return close();
  if (ec == http::error::header_limit) return reject(431, "request header fields too large");
  if (ec == http::error::body_limit) return reject(413, "request body too large");
  if (ec) return reject(400, "malformed HTTP request");
  // Beast applies header_limit per parse call, and part of the header may already have been in
  // the buffer: count the whole header once more, exactly.
  {
    const auto& msg = parser_->get();
    std::size_t size = msg.method_string().size() + msg.target().size() + 12;
    for (const auto& f : msg) size += f.name_string().size() + f.value().size() + 4;
    if (size > server_.options().header_limit) return reject(431, "request header fields too large");
  }
  state_ = State::kBusy;
  expires_never();  // the handler takes as long as it takes; its answer's write is timed
  ++server_.in_flight_;
  Request req = parser_->release();
  bool keep = req.keep_alive();
  http10_ = req.version() == 10;
  // The label is one of a fixed set: Beast accepts any token as a method, and a series per
  // made-up method would grow the metrics without bound.
  auto ex = std::make_shared<ExchangeImpl>(shared_from_this(), keep,
                                           std::string(method_label(req.method())));
  try {
    server_.handler()(std::move(req), ex);
  } catch (const std::exception& e) {
    spdlog::error("event=handler_exception what=\"{}\"", e.what());
    ex->respond(problem(500, "internal error"));
  }
}

HttpServer::HttpServer(ServerOptions options, Handler handler, Metrics* metrics)
    : options_(std::move(options)), handler_(std::move(handler)), metrics_(metrics),
      per_client_(options_.max_connections_per_client) {
  int n = std::max(1, options_.threads);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>());
  if (metrics_) {
    metrics_->describe("http_connections_rejected_total", "counter",
                       "connections closed at once: over the total or the per-client cap");
    metrics_->describe("http_accept_failures_total", "counter",
                       "failed accepts (e.g. out of file descriptors), each followed by a pause");
    metrics_->describe("http_streams_dropped_total", "counter",
                       "streams ended because the client read slower than they were fed");
  }
}

std::vector<Option> server_option_rows(ServerOptions& o, ServerRowDefaults d) {
  using std::chrono::milliseconds;
  auto threads = Option::integer("threads", &o.threads, 1, 256,
                                 d.threads > 0 ? d.threads : default_threads(),
                                 "number of I/O threads");
  return {
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
      // The TLS rows (--tls-cert, --tls-key, --tls-ca) go here, once they are used (issue 14).
  };
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

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(HttpServer& server, std::vector<std::unique_ptr<HttpServer::Worker>>& workers,
           tcp::endpoint ep)
      : server_(server), workers_(workers), acceptor_(workers[0]->ioc), pause_(workers[0]->ioc) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void accept() {
    auto& w = *workers_[next_++ % workers_.size()];
    acceptor_.async_accept(w.ioc, [self = shared_from_this(), &w](beast::error_code ec,
                                                                  Socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
      if (!ec) {
        self->resumed();
        self->admit(std::move(socket), w);
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
  void admit(Socket socket, HttpServer::Worker& w) {
    const auto& o = server_.options();
    beast::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    std::string remote = ec ? std::string() : ep.address().to_string();
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
    asio::post(w.ioc, [s = std::move(socket), &w, srv = &server_, remote = std::move(remote),
                       key = std::move(key)]() mutable {
      std::make_shared<Session>(std::move(s), *srv, w, std::move(remote), std::move(key))->start();
    });
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
  std::vector<std::unique_ptr<HttpServer::Worker>>& workers_;
  tcp::acceptor acceptor_;
  asio::steady_timer pause_;
  std::size_t next_ = 0;
  std::size_t failures_ = 0;  // accept failures since the last success
  Clock::time_point last_refusal_log_{};
};

}  // namespace

void HttpServer::start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(options_.bind, ec);
  if (ec) throw std::system_error(ec, "invalid bind address '" + options_.bind + "'");
  std::shared_ptr<Listener> listener;
  try {
    listener = std::make_shared<Listener>(*this, workers_, tcp::endpoint{addr, options_.port});
  } catch (const boost::system::system_error& e) {
    throw std::system_error(e.code(), "cannot listen on " + options_.bind + ":" +
                                          std::to_string(options_.port));
  }
  port_ = listener->port();
  listener->accept();
  // The listener is kept alive by its pending accept; stop() closes it on its thread.
  asio::io_context& first = workers_[0]->ioc;
  stop_listener_ = [listener, &first] { asio::post(first, [listener] { listener->close(); }); };
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
      std::vector<Session*> copy(wp->sessions.begin(), wp->sessions.end());
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
