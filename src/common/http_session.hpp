#pragma once
// Internal to HttpServer (http_server.cpp and, for TLS, tls.cpp): one connection's session
// logic, written once over the stream type chosen at start — the plain TCP socket or a TLS
// stream over it. Each stream type is instantiated in one translation unit only: the plain one
// in http_server.cpp, the TLS one in tls.cpp (which alone includes the OpenSSL headers).
//
// What a stream type must provide besides Asio's stream interface, in StreamTraits<Stream>:
//   static constexpr bool tls;
//   static Socket& socket(Stream&);                 the TCP socket under it
// and, when tls is true:
//   static void handshake(Stream&, Handler);        async server handshake, Handler(ec)
//   static void shutdown(Stream&, bool wait, Handler);  async close_notify: ours, then (wait)
//                                                   the client's; Handler(ec)
//   static bool pending(Stream&);                   bytes read from the socket, not yet by us
//   static void close_after_write(Stream&);         the next write that ends its buffers sends
//                                                   our close_notify with them (the last answer)
//   static bool close_sent(Stream&);                our close_notify has gone
//   static void keep_session(Stream&);              before a close without close_notify

#include "common/deadlines.hpp"
#include "common/http_server.hpp"
#include "common/log.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <cstdio>
#include <deque>
#include <optional>
#include <unordered_set>

namespace status::common::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// A socket bound to its io_context's own executor type: no type-erased executor copies per
// operation (tcp::socket uses any_io_executor).
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;

template <class Stream>
struct StreamTraits;

template <>
struct StreamTraits<Socket> {
  static constexpr bool tls = false;
  static Socket& socket(Socket& s) { return s; }
};

/// What a worker keeps of each of its sessions, whatever their stream type.
class SessionBase : protected Deadlines::Entry {
 public:
  using Deadlines::Entry::Entry;
  /// Called on the session's thread when the server starts draining.
  virtual void drain() = 0;
};

/// Starts a TLS session on `socket` (defined in tls.cpp), on the worker's thread.
void start_tls_session(Socket socket, HttpServer& server, HttpServer::Worker& worker,
                       std::string remote, std::string client_key);

}  // namespace status::common::detail

namespace status::common {

struct HttpServer::Worker {
  // Declared before ioc: destroying ioc destroys pending handlers, which may end sessions
  // (and their deadline entries).
  std::unordered_set<detail::SessionBase*> sessions;  // touched on this worker's thread only
  Deadlines deadlines;                                // this thread's socket timeouts
  detail::asio::io_context ioc{1};
  std::optional<detail::asio::executor_work_guard<detail::asio::io_context::executor_type>> guard{
      detail::asio::make_work_guard(ioc)};
  detail::asio::steady_timer sweeper{ioc};  // runs deadlines.sweep() every kSweepInterval

  void sweep_loop() {
    sweeper.expires_after(kSweepInterval);
    sweeper.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      deadlines.sweep(detail::Clock::now());
      sweep_loop();
    });
  }
  static constexpr std::chrono::milliseconds kSweepInterval{25};
};

}  // namespace status::common

namespace status::common::detail {

template <class Stream>
class ExchangeImpl;

template <class Stream>
class Session final : public std::enable_shared_from_this<Session<Stream>>, public SessionBase {
  using Traits = StreamTraits<Stream>;

 public:
  // `client_key`: what the connection is counted under in the server's per-client counter
  // (empty: not counted, e.g. an exempt client). `stream_args` construct the stream.
  template <class... StreamArgs>
  Session(HttpServer& server, HttpServer::Worker& worker, std::string remote,
          std::string client_key, StreamArgs&&... stream_args)
      : SessionBase(worker.deadlines), stream_(std::forward<StreamArgs>(stream_args)...),
        remote_(std::move(remote)), server_(server), worker_(worker),
        client_key_(std::move(client_key)) {}
  ~Session() override {
    worker_.sessions.erase(this);
    if (!client_key_.empty()) server_.per_client().release(client_key_);
    --server_.connections_;
  }

  void start() {
    worker_.sessions.insert(this);
    if constexpr (Traits::tls) {
      // The handshake is bounded like a request: it must complete within the read timeout.
      state_ = State::kHandshake;
      this->expires_after(server_.options().read_timeout);
      Traits::handshake(stream_, [self = this->shared_from_this()](beast::error_code ec) {
        self->handshaken(ec);
      });
    } else {
      wait_idle();
    }
  }

  void drain() override {
    if (state_ == State::kIdle || state_ == State::kHandshake) close();
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
    if (!keep) last_answer();
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, keep](beast::error_code ec,
                                                                   std::size_t) {
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
    if (!keep) last_answer();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(out->head), asio::buffer(out->body)};
    asio::async_write(stream_, buffers,
                      [self = this->shared_from_this(), out, keep](beast::error_code ec,
                                                                   std::size_t) {
                        self->written(ec, keep);
                      });
  }

  // Closing a socket with unread request bytes (e.g. the rest of a body refused with 413) makes
  // the kernel send a reset that can destroy the answer before the client reads it. So: stop
  // sending, read and discard what still comes for a bounded time (1 s), then close. With TLS,
  // a close_notify goes first (OpenSSL discards application data while it waits for the
  // peer's), bounded by the same deadline; then the same on the TCP socket under it.
  //
  // Nothing is left to linger for when the client sends no more: its close_notify (or FIN)
  // ended the TLS shutdown, or it asked to close (Connection: close, or HTTP/1.0 without
  // keep-alive), or closed its side, and sent nothing beyond its request. Then the socket
  // closes at once (as nginx's lingering_close does on the same signs).
  void linger_close() {
    state_ = State::kEnding;
    this->expires_after(std::chrono::seconds(1));
    if constexpr (Traits::tls) {
      // The client sends no more and nothing of it is left unread: our close_notify, then the
      // close (as nginx does; waiting for the client's would cost a wait and a read).
      bool wait = !quiet_end();
      if (!wait && Traits::close_sent(stream_)) return close();  // it went with the answer
      Traits::shutdown(stream_, wait, [self = this->shared_from_this()](beast::error_code) {
        self->close();
      });
    } else if (quiet_end()) {
      close();
    } else {
      linger_tcp();
    }
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
    stream_.async_read_some(asio::buffer(sink_), [self = this->shared_from_this()](
                                                     beast::error_code, std::size_t) {
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

  // A deadline (handshake, idle, read, write or lingering) passed: the pending operation fails.
  void on_expire() override { close(); }

  std::atomic<bool> stream_open_{false};
  Stream stream_;
  const std::string remote_;

 private:
  enum class State { kHandshake, kIdle, kReading, kBusy, kWriting, kStreaming, kEnding, kClosed };

  void handshaken(beast::error_code ec) {
    if (ec || state_ == State::kClosed) {
      // Not counted when the server closed it for draining.
      if (!server_.draining()) {
        if (auto* m = server_.metrics()) m->inc("http_tls_handshake_failures_total");
        spdlog::debug("event=tls_handshake_failed client={} error=\"{}\"", remote_,
                      this->expired() ? std::string("timeout") : ec.message());
      }
      return close();
    }
    wait_idle();
  }

  // Our FIN once, then what the client still sends is read and dropped until its own FIN (so
  // the answer is not cut by a reset), at most a second after each piece.
  void linger_tcp() {
    beast::error_code ec;
    Socket& socket = Traits::socket(stream_);
    socket.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();  // typically ENOTCONN: the client has gone already
    drain_tcp();
  }
  void drain_tcp() {
    Traits::socket(stream_).async_read_some(
        asio::buffer(sink_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec || self->state_ == State::kClosed) return self->close();
          self->expires_after(std::chrono::seconds(1));
          self->drain_tcp();
        });
  }

  // The handler answered: count it, and time the write that follows.
  void answered(int status, const std::string& route, const std::string& method,
                Clock::time_point started) {
    if (auto* m = server_.metrics())
      m->observe_request(route, method, status,
                         std::chrono::duration<double>(Clock::now() - started).count());
    --server_.in_flight_;
    state_ = State::kWriting;
    this->expires_after(server_.options().write_timeout);
  }
  // The client sends no more and nothing of it is left unread.
  bool quiet_end() {
    if constexpr (Traits::tls)
      if (Traits::pending(stream_)) return false;
    return client_done_ && buffer_.size() == 0;
  }
  // The answer about to be written is the connection's last. With TLS and a client that sends
  // no more, our close_notify goes out with it, in the same turn (written later, it would
  // mostly reach a client that has closed already, and cost a reset).
  void last_answer() {
    if constexpr (Traits::tls)
      if (quiet_end()) Traits::close_after_write(stream_);
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
    this->expires_after(server_.options().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = this->shared_from_this()](
                                                       beast::error_code ec, std::size_t n) {
      // Closed meanwhile (a deadline swept while this completion was queued): whatever
      // arrived is not read any more.
      if (self->state_ == State::kClosed) return;
      // The client's close_notify between requests: answer with ours.
      if constexpr (Traits::tls)
        if (ec == asio::error::eof) return self->linger_close();
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read();
    });
  }

  void read() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options().header_limit));
    parser_->body_limit(server_.options().body_limit);
    this->expires_after(server_.options().read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
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
      this->expires_never();  // an open stream may be quiet for long
      if (state_ == State::kEnding) close();
      return;
    }
    writing_ = true;
    this->expires_after(server_.options().write_timeout);
    asio::async_write(stream_, asio::buffer(out_.front()),
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) {
                          self->stream_open_ = false;
                          return self->close();
                        }
                        self->out_bytes_ -= self->out_.front().size();
                        self->out_.pop_front();
                        self->write_next();
                      });
  }
  // Closes the TCP socket at once (with TLS: without a close_notify; pending operations then
  // fail, and a TLS stream must not start a shutdown while a read is pending).
  void close() {
    if (state_ == State::kClosed) return;
    if (state_ == State::kBusy) --server_.in_flight_;
    // Without this, OpenSSL drops the session of a connection that ends without a close_notify
    // sent (most do: the client just goes, or a timeout) from the cache (as nginx does).
    if constexpr (Traits::tls)
      if (state_ != State::kHandshake) Traits::keep_session(stream_);
    state_ = State::kClosed;
    stream_open_ = false;
    // close() alone ends the connection (FIN, or RST with unread data); a shutdown() first
    // would mostly fail with ENOTCONN, the client having closed already.
    beast::error_code ec;
    Traits::socket(stream_).close(ec);
  }

  HttpServer& server_;
  HttpServer::Worker& worker_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  State state_ = State::kIdle;
  bool http10_ = false;  // the request being answered is HTTP/1.0
  bool client_done_ = false;  // the client sends no more: it asked to close, or closed its side
  std::deque<std::string> out_;
  std::size_t out_bytes_ = 0;  // in out_
  bool writing_ = false;
  std::string client_key_;
  std::array<char, 512> sink_{};
};

// Probes, metrics and the nodes' internal calls (many per second) start no sampled traces of
// their own; a caller's sampled traceparent is still followed.
inline bool starts_traces(beast::string_view target) {
  std::string_view t(target.data(), target.size());
  return !(t.starts_with("/internal/") || t.starts_with("/health") || t.starts_with("/metrics") ||
           t.starts_with("/eureka/apps"));
}

template <class Stream>
class ExchangeImpl final : public Exchange {
  using S = Session<Stream>;

 public:
  ExchangeImpl(std::shared_ptr<S> s, bool keep_alive, std::string method,
               std::string_view traceparent, bool may_start_trace)
      : session_(std::move(s)), keep_alive_(keep_alive), method_(std::move(method)),
        started_(Clock::now()), remote_(session_->remote_),
        trace_(server_span(traceparent, may_start_trace)) {
    if (trace_.sampled) started_ns_ = unix_ns();
  }
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
    end_trace(res.result_int());
    post_send(std::make_shared<Response>(std::move(res)));
  }
  void respond_serialized(int status, std::string head, std::string body) override {
    if (done_.exchange(true)) return;
    end_trace(status);
    auto out = std::make_shared<typename S::Serialized>(
        typename S::Serialized{std::move(head), std::move(body)});
    // done_ is set: route_ and method_ are not read again here.
    asio::dispatch(session_->stream_.get_executor(),
                   [s = session_, out = std::move(out), status, k = keep_alive_,
                    r = std::move(route_), m = std::move(method_), t = started_] {
                     s->send_serialized(out, status, k, r, m, t);
                   });
  }
  void begin_stream(Response head) override {
    if (done_.exchange(true)) return;
    end_trace(head.result_int());
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
  const TraceContext& trace() const override { return trace_; }

 private:
  // The server span ends with the answer handed over (a stream's: with its head).
  void end_trace(int status) {
    if (!trace_.sampled) return;
    Span s;
    s.ctx = trace_;
    s.name = method_ + " " + route_;
    s.kind = 2;
    s.start_unix_ns = started_ns_;
    s.end_unix_ns = unix_ns();
    s.attributes = {{"http.request.method", method_},
                    {"http.route", route_},
                    {"http.response.status_code", std::to_string(status)}};
    s.error = status >= 500;
    end_span(std::move(s));
  }
  // Inline when called on the session's thread (an asynchronous handler such as the gateway's
  // proxy completes there), queued otherwise. Streams keep asio::post: their chunks may come
  // from several threads and must stay in order.
  void post_send(std::shared_ptr<Response> res) {
    asio::dispatch(session_->stream_.get_executor(),
                   [s = session_, res, k = keep_alive_, r = route_, m = method_, t = started_] {
                     s->send(res, k, r, m, t);
                   });
  }
  std::shared_ptr<S> session_;
  bool keep_alive_;
  std::string method_;
  std::string route_ = "(unknown)";  // until the handler names its route
  Clock::time_point started_;
  std::string remote_;
  TraceContext trace_;
  std::int64_t started_ns_ = 0;  // sampled spans only
  std::atomic<bool> done_{false};
  bool streaming_ = false;
};

template <class Stream>
void Session<Stream>::on_read(beast::error_code ec) {
  // The read deadline passed and the sweep closed the connection while this completion was
  // queued: a request that arrived complete must not be handled any more (its client saw the
  // connection drop and may send it again), and the error it may carry is not the client's.
  if (state_ == State::kClosed) return;
  if constexpr (Traits::tls)
    if (ec == http::error::end_of_stream || ec == asio::error::eof) return linger_close();
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset)
    return close();
  if (ec == http::error::header_limit) return reject(431, "request header fields too large");
  if (ec == http::error::body_limit) return reject(413, "request body too large");
  // A TLS stream that failed below HTTP (e.g. a bad record, or the peer's TCP close without a
  // close_notify): there is no request to answer.
  if constexpr (Traits::tls)
    if (ec && ec.category() != beast::error_code(http::error::end_of_stream).category()) return close();
  if (ec) return reject(400, "malformed HTTP request");
  // Beast applies header_limit per parse call, and part of the header may already have been in
  // the buffer: count the whole header once more, exactly.
  {
    const auto& msg = parser_->get();
    std::size_t size = msg.method_string().size() + msg.target().size() + 12;
    for (const auto& f : msg) size += f.name_string().size() + f.value().size() + 4;
    if (size > server_.options().header_limit)
      return reject(431, "request header fields too large");
  }
  state_ = State::kBusy;
  this->expires_never();  // the handler takes as long as it takes; its answer's write is timed
  ++server_.in_flight_;
  Request req = parser_->release();
  bool keep = req.keep_alive();
  client_done_ = !keep;
  http10_ = req.version() == 10;
  // The label is one of a fixed set: Beast accepts any token as a method, and a series per
  // made-up method would grow the metrics without bound.
  auto tp = req.find("traceparent");
  std::string_view traceparent;
  if (tp != req.end()) traceparent = std::string_view(tp->value().data(), tp->value().size());
  auto ex = std::make_shared<ExchangeImpl<Stream>>(this->shared_from_this(), keep,
                                                   std::string(method_label(req.method())),
                                                   traceparent, starts_traces(req.target()));
  try {
    server_.handler()(std::move(req), ex);
  } catch (const std::exception& e) {
    spdlog::error("event=handler_exception what=\"{}\"", e.what());
    ex->respond(problem(500, "internal error"));
  }
}

}  // namespace status::common::detail
