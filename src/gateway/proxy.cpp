#include "gateway/proxy.hpp"

#include "common/deadlines.hpp"
#include "common/log.hpp"
#include "common/tls.hpp"
#include "gateway/balancer.hpp"
#include "gateway/headers.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include <array>
#include <unordered_map>
#include <unordered_set>

namespace status::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;

namespace {

// One kept-alive connection to a node; owned by one I/O thread. Its timeouts are a deadline
// swept by the thread (common/deadlines.hpp): when it passes, the socket is closed, the pending
// operation fails, and expired() tells the failure was a timeout.
// To an HTTPS node the connection speaks TLS over the same socket; io() hands the stream in
// use to a generic callback, so each exchange step is written once for both.
struct Conn final : common::Deadlines::Entry {
  Conn(asio::io_context& ioc, common::Deadlines& deadlines) : Entry(deadlines), stream(ioc) {}
  Socket stream;
  std::shared_ptr<asio::ssl::context> tls_ctx;  // before the TLS stream that uses it
  std::optional<asio::ssl::stream<Socket&>> tls;
  beast::flat_buffer buffer;
  bool reused = false;
  Clock::time_point idle_since{};

  void close() {
    beast::error_code ec;
    stream.shutdown(tcp::socket::shutdown_both, ec);
    stream.close(ec);
  }
  void on_expire() override { close(); }
  template <class F>
  void io(F&& f) {
    if (tls) f(*tls);
    else f(stream);
  }
  // Begins TLS on the connected socket, expecting a certificate that names `name`.
  bool start_tls(const std::string& name) {
    tls_ctx = common::client_tls_context();
    tls.emplace(stream, *tls_ctx);
    return common::expect_server_name(tls->native_handle(), name);
  }
  // Usable as far as we can tell without a syscall. A connection the node has closed meanwhile
  // shows as a failed write or an EOF before any answer byte: a "stale" failure, retried (a peek
  // per request would cost a fifth of the proxy's syscalls).
  bool reusable() const { return stream.is_open() && buffer.size() == 0; }
};

bool is_event_stream(const http::response_header<>& h) {
  auto it = h.find(http::field::content_type);
  return it != h.end() && it->value().starts_with("text/event-stream");
}

}  // namespace

struct Proxy::ThreadState {
  asio::io_context* ioc = nullptr;
  common::Deadlines* deadlines = nullptr;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Conn>>> idle;  // by Instance::key()
  PickState pick;
  std::shared_ptr<const Snapshot> snapshot;
  std::uint64_t version = ~std::uint64_t{0};

  std::unordered_set<std::string> present;  // keys of snapshot->all

  const Snapshot& current(const Directory& directory) {
    auto v = directory.version();
    if (v != version) {
      snapshot = directory.snapshot();
      version = v;
      reap();
    }
    return *snapshot;
  }

  // The pools of instances gone from the directory are closed now: nothing would take their
  // connections again, and their sockets (often in CLOSE_WAIT) would stay until the process ends.
  void reap() {
    present.clear();
    for (const auto& i : snapshot->all) present.insert(i->key());
    for (auto it = idle.begin(); it != idle.end();) {
      if (present.count(it->first)) {
        ++it;
        continue;
      }
      for (auto& c : it->second) c->close();
      it = idle.erase(it);
    }
  }

  std::unique_ptr<Conn> take(const Instance& inst, Clock::time_point now,
                             std::chrono::milliseconds max_idle) {
    auto it = idle.find(inst.key());
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    while (!list.empty()) {
      auto c = std::move(list.back());  // most recently used first
      list.pop_back();
      if (now - c->idle_since < max_idle && c->reusable()) {
        c->reused = true;
        return c;
      }
      c->close();
    }
    return nullptr;
  }

  // One kept-alive connection went stale: the node probably closed them all (restart, drain).
  void flush(const Instance& inst) {
    auto it = idle.find(inst.key());
    if (it == idle.end()) return;
    for (auto& c : it->second) c->close();
    it->second.clear();
  }

  void put(const Instance& inst, std::unique_ptr<Conn> c, std::size_t max_idle_conns,
           std::chrono::milliseconds max_idle) {
    if (!present.count(inst.key())) return c->close();  // departed while the request ran
    auto& list = idle[inst.key()];
    if (list.size() >= max_idle_conns) return c->close();
    // Closed by the sweep when idle for too long, also when no request comes to take it.
    c->expires_after(max_idle);
    c->idle_since = Clock::now();
    list.push_back(std::move(c));
  }
};

/// One client request on its way through the proxy: attempts, each on a (new or pooled)
/// connection to a picked instance, until an answer comes back or the retries are used up.
class Proxy::Call : public std::enable_shared_from_this<Proxy::Call> {
 public:
  Call(Proxy& proxy, ThreadState& ts, const common::Request& req, std::string wire,
       common::ExchangePtr ex, std::string request_id, common::PerClientCounter::Slot slot)
      : proxy_(proxy), ts_(ts), ex_(std::move(ex)), wire_(std::move(wire)),
        request_id_(std::move(request_id)),
        deadline_(Clock::now() + proxy.options_.response_timeout),
        head_(req.method() == http::verb::head), keep_alive_(req.keep_alive()),
        gzip_ok_(accepts_gzip(req)),
        may_resend_(may_resend(req)),
        stream_request_(req.method() == http::verb::get &&
                        common::split_target(std::string_view(req.target().data(),
                                                              req.target().size()))
                                .first == "/api/events"),
        slot_(std::move(slot)) {}

  void attempt() {
    const auto& opts = proxy_.options_;
    const Snapshot& snap = ts_.current(proxy_.directory_);
    auto i = pick(opts.policy, snap.routable,
                  std::span<const Instance* const>(tried_.data(), tried_count_), ts_.pick);
    if (!i) return give_up();
    inst_ = snap.routable[*i];
    inst_->in_flight.fetch_add(1, std::memory_order_relaxed);
    inst_->requests.fetch_add(1, std::memory_order_relaxed);
    auto now = Clock::now();
    conn_ = ts_.take(*inst_, now, opts.pool_idle);
    if (conn_) return send();
    conn_ = std::make_unique<Conn>(*ts_.ioc, *ts_.deadlines);
    beast::error_code ec;
    tcp::endpoint ep(asio::ip::make_address(inst_->address(), ec), inst_->port());
    if (ec) return failed(ec, true);
    conn_->expires_after(std::min<Clock::duration>(opts.connect_timeout, deadline_ - now));
    conn_->stream.async_connect(ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->failed(ec, true);
      beast::error_code ignored;
      self->conn_->stream.set_option(tcp::no_delay(true), ignored);
      if (!self->inst_->tls()) return self->send();
      self->handshake();
    });
  }

 private:
  // An HTTPS node: its certificate verified against --tls-ca and the name it was discovered
  // by, within the connect timeout. A failure counts as one to connect.
  void handshake() {
    if (!conn_->start_tls(inst_->tls_name())) return failed(asio::error::invalid_argument, true);
    conn_->tls->async_handshake(asio::ssl::stream_base::client,
                                [self = shared_from_this()](beast::error_code ec) {
                                  if (ec) return self->failed(ec, true);
                                  self->send();
                                });
  }

  void send() {
    auto now = Clock::now();
    conn_->expires_at(now + std::min<Clock::duration>(proxy_.options_.first_byte_timeout,
                                                      deadline_ - now));
    conn_->io([this](auto& s) {
      asio::async_write(s, asio::buffer(wire_),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (ec) return self->failed(ec, false);
                          self->read_head();
                        });
    });
  }

  void read_head() {
    parser_.emplace();
    parser_->body_limit(proxy_.options_.response_body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(proxy_.options_.response_header_limit));
    if (head_) parser_->skip(true);
    conn_->io([this](auto& s) {
      http::async_read_header(s, conn_->buffer, *parser_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                self->on_head(ec);
                              });
    });
  }

  void on_head(beast::error_code ec) {
    if (ec == http::error::header_limit) return too_large("header");
    if (ec == http::error::body_limit) return too_large("body");  // by its Content-Length
    if (ec) {
      // Part of a head came back: the node has seen the request; no retry.
      if (parser_->got_some()) return finish_error(ec);
      return failed(ec, false);
    }
    const auto& head = parser_->get();
    {
      // Beast applies the header limit per parse call: count the whole head once, exactly.
      std::size_t fields = 0, size = head.reason().size() + 16;
      for (const auto& f : head) {
        ++fields;
        size += f.name_string().size() + f.value().size() + 4;
      }
      if (fields > proxy_.options_.response_fields_limit) return too_large("fields");
      if (size > proxy_.options_.response_header_limit) return too_large("header");
    }
    if (head.result_int() < 200 || head.result_int() > 599) {
      // Three digits, but not an HTTP status (found by tests/fuzz), or an interim 1xx answer,
      // which our nodes never send (the final answer would follow on this connection): never
      // passed on, the connection is closed.
      return finish_error(http::error::bad_status);
    }
    if (head.result_int() == 503 && attempts_left()) {
      // Bootstrapping or draining: it has not processed the request. Try another node; probes
      // of its /health re-admit it once it serves again. A node whose event-stream slots are
      // taken answers 503 to /api/events too, but it is healthy: not ejected (else whoever
      // holds many streams could take nodes out of rotation), only not tried again.
      if (!stream_request_) eject("status_503");
      conn_->close();
      conn_.reset();
      return retry(503);
    }
    if (is_event_stream(head)) return begin_stream();
    if (parser_->is_done()) return on_body({});
    conn_->io([this](auto& s) {
      http::async_read(s, conn_->buffer, *parser_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         self->on_body(ec);
                       });
    });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) return too_large("body");
    if (ec) return finish_error(ec);
    bool reusable = parser_->keep_alive() && conn_->buffer.size() == 0;
    auto& answer = parser_->get();
    if (gzip_ok_ && !head_) gzip_answer(answer);
    auto head = client_response_head(answer.base(), answer.body().size(), request_id_, head_);
    ex_->respond_serialized(answer.result_int(), std::move(head), std::move(answer.body()));
    if (reusable)
      ts_.put(*inst_, std::move(conn_), proxy_.options_.max_idle_per_instance,
              proxy_.options_.pool_idle);
    else conn_->close();
    release_instance();
  }

  // ---- streams (text/event-stream): passed through as they come, until either side ends ----
  void begin_stream() {
    common::Response head;
    head.base() = parser_->get().base();
    prepare_stream_head(head.base(), request_id_);
    ex_->begin_stream(std::move(head));
    parser_->body_limit(boost::none);
    proxy_.stats_.streams.fetch_add(1, std::memory_order_relaxed);
    release_instance();  // a long-lived stream is not an outstanding request for balancing
    conn_->expires_never();
    watchdog_.emplace(*ts_.ioc);
    watch();
    pump({});
  }

  void pump(beast::error_code ec) {
    if (!ec) {
      std::string chunk;
      chunk.swap(parser_->get().body());
      if (!chunk.empty() && !ex_->push(std::move(chunk))) ec = asio::error::connection_aborted;
      else if (parser_->is_done()) ec = http::error::end_of_stream;
    }
    if (ec) return end_stream();
    conn_->io([this](auto& s) {
      http::async_read_some(s, conn_->buffer, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->pump(ec);
                            });
    });
  }

  // The node may be silent for long; notice a departed client within a second anyway.
  void watch() {
    watchdog_->expires_after(std::chrono::seconds(1));
    watchdog_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_ended_) return;
      if (!self->ex_->open()) return self->conn_->close();  // the pending read then ends it
      self->watch();
    });
  }

  void end_stream() {
    if (stream_ended_) return;
    stream_ended_ = true;
    watchdog_->cancel();
    ex_->end_stream();
    conn_->close();
    proxy_.stats_.streams.fetch_sub(1, std::memory_order_relaxed);
  }

  // ---- failures ----
  bool attempts_left() const { return attempts_ < proxy_.options_.max_retries; }

  // Nothing of an answer came back: eject the node (unless a pooled connection merely went stale)
  // and retry elsewhere.
  void failed(beast::error_code ec, bool connecting) {
    bool timeout = conn_ && conn_->expired();
    if (timeout) ec = beast::error::timeout;
    bool stale = !connecting && conn_ && conn_->reused && !timeout;
    if (conn_) conn_->close();
    conn_.reset();
    if (stale && stale_retries_ < kMaxStaleRetries) {
      // The node closed a kept-alive connection as we reused it: not a health signal.
      ++stale_retries_;
      ts_.flush(*inst_);
      release_instance();
      proxy_.stats_.retries.fetch_add(1, std::memory_order_relaxed);
      return attempt();
    }
    spdlog::warn("event=upstream_failed instance={} stage={} error=\"{}\" request_id={}",
                 inst_->id(), connecting ? "connect" : "request", ec.message(), request_id_);
    eject(connecting ? "connect_failed" : timeout ? "timeout" : "reset");
    if (!connecting && !may_resend_) {
      // The request went out and the node may have acted on it before it failed: a POST or a
      // conditional write is not sent to a second node (it could be applied twice, or be
      // answered 412 although it succeeded).
      proxy_.stats_.not_retried.fetch_add(1, std::memory_order_relaxed);
      release_instance();
      return respond_problem(timeout ? 504 : 502,
                             timeout ? "the status node did not answer in time"
                                     : "the status node failed while handling the request");
    }
    retry(timeout ? 504 : 502);
  }

  // The node's answer is over the gateway's limits (a misbehaving or rogue upstream): 502, and
  // the connection is closed. Not an ejection: the node is reachable, the answer is the fault.
  void too_large(const char* what) {
    proxy_.stats_.oversized.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=upstream_answer_too_large instance={} part={} request_id={}", inst_->id(),
                 what, request_id_);
    conn_->close();
    release_instance();
    respond_problem(502, "the status node's answer exceeds the gateway's limits");
  }

  void eject(const char* reason) {
    proxy_.stats_.upstream_errors.fetch_add(1, std::memory_order_relaxed);
    if (inst_->report_failure(Clock::now()))
      spdlog::warn("event=instance_ejected instance={} url={} reason={}", inst_->id(),
                   inst_->url(), reason);
  }

  void retry(int status_if_last) {
    last_status_ = status_if_last;
    if (tried_count_ < tried_.size()) tried_[tried_count_++] = inst_.get();
    release_instance();
    if (!attempts_left() || Clock::now() >= deadline_) return give_up();
    ++attempts_;
    proxy_.stats_.retries.fetch_add(1, std::memory_order_relaxed);
    attempt();
  }

  void give_up() {
    int status = last_status_;
    std::string detail;
    if (status == 0) {
      proxy_.stats_.no_instance.fetch_add(1, std::memory_order_relaxed);
      status = 503;
      detail = "no status node is available";
    } else if (status == 504) {
      detail = "the status nodes did not answer in time";
    } else if (status == 503) {
      detail = "the status nodes are unavailable (starting or draining)";
    } else {
      detail = "the status nodes could not be reached";
    }
    respond_problem(status, detail);
  }

  // The answer broke off after it had started: no retry (the node has acted on the request).
  void finish_error(beast::error_code ec) {
    bool timeout = conn_->expired();
    if (timeout) ec = beast::error::timeout;
    spdlog::warn("event=upstream_answer_failed instance={} error=\"{}\" request_id={}",
                 inst_->id(), ec.message(), request_id_);
    bool invalid = ec == http::error::bad_status;
    eject(timeout ? "timeout" : invalid ? "invalid_answer" : "reset");
    conn_->close();
    release_instance();
    respond_problem(timeout ? 504 : 502, timeout   ? "the status node did not answer in time"
                                         : invalid ? "the status node's answer was not valid HTTP"
                                                   : "the status node's answer broke off");
  }

  void respond_problem(int status, const std::string& detail) {
    auto res = common::problem(status, detail, 11, keep_alive_);
    res.set("X-Request-Id", request_id_);
    if (status == 503) res.set(http::field::retry_after, "1");
    ex_->respond(std::move(res));
  }

  void release_instance() {
    if (!inst_) return;
    inst_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    inst_.reset();
  }

  static constexpr int kMaxStaleRetries = 2;
  Proxy& proxy_;
  ThreadState& ts_;
  common::ExchangePtr ex_;
  std::string wire_;  // the request as sent upstream; retries resend the same bytes
  std::string request_id_;
  Clock::time_point deadline_;
  bool head_;
  bool keep_alive_;  // the client's
  bool gzip_ok_;     // the client takes gzip (its Accept-Encoding)
  bool may_resend_;  // after it went out to a node that then failed (may_resend())
  bool stream_request_;  // GET /api/events
  common::PerClientCounter::Slot slot_;
  InstancePtr inst_;
  std::unique_ptr<Conn> conn_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::optional<asio::steady_timer> watchdog_;
  std::array<const Instance*, 8> tried_{};
  std::size_t tried_count_ = 0;
  int attempts_ = 0;  // retries made so far
  int stale_retries_ = 0;
  int last_status_ = 0;
  bool stream_ended_ = false;
};

Proxy::Proxy(ProxyOptions options, Directory& directory)
    : options_(options), directory_(directory) {}

Proxy::~Proxy() = default;

void Proxy::attach(common::HttpServer& server) {
  std::uint64_t seed = 0x2545f4914f6cdd1d;
  for (int i = 0; i < server.threads(); ++i) {
    auto ts = std::make_unique<ThreadState>();
    ts->ioc = &server.context(i);
    ts->deadlines = &server.deadlines(i);
    ts->pick.rng = (seed += 0x9e3779b97f4a7c15);
    ts->pick.next = states_.size();  // threads start at different instances
    states_.push_back(std::move(ts));
  }
}

void Proxy::close_idle() {
  for (auto& ts : states_) {
    for (auto& [key, list] : ts->idle)
      for (auto& c : list) c->close();
    ts->idle.clear();
  }
}

Proxy::ThreadState* Proxy::state_for(const common::ExchangePtr& ex) {
  auto exec = ex->executor();
  auto* ctx = &asio::query(exec, asio::execution::context);
  for (auto& ts : states_)
    if (static_cast<asio::execution_context*>(ts->ioc) == ctx) return ts.get();
  return nullptr;
}

bool may_resend(const common::Request& req) {
  switch (req.method()) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
      return true;
    case http::verb::put:
    case http::verb::delete_:
      return req.find(http::field::if_match) == req.end() &&
             req.find(http::field::if_none_match) == req.end() &&
             req.find(http::field::if_unmodified_since) == req.end();
    default:
      return false;
  }
}

void Proxy::forward(const common::Request& req, std::string wire, common::ExchangePtr ex,
                    std::string request_id, common::PerClientCounter::Slot slot) {
  ThreadState* ts = state_for(ex);
  if (!ts) {
    // Not one of our I/O threads: a wiring bug, not a client error.
    spdlog::error("event=proxy_unattached_thread request_id={}", request_id);
    auto res = common::problem(500, "gateway misconfigured", 11, req.keep_alive());
    return ex->respond(std::move(res));
  }
  std::make_shared<Call>(*this, *ts, req, std::move(wire), std::move(ex), std::move(request_id),
                         std::move(slot))
      ->attempt();
}

}  // namespace status::gateway
