#pragma once
// An HTTP/1.1 server on Boost.Beast: one io_context per I/O thread, each with its own
// SO_REUSEPORT acceptor, so a connection lives on one thread from accept to close.

#include "common/client_address.hpp"
#include "common/config.hpp"
#include "common/http.hpp"
#include "common/trace.hpp"
#include "common/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace status::common {

class Deadlines;
class TlsContext;

/// The answer side of one request. Handlers may complete it from any thread, exactly once
/// (respond), or turn it into a stream (begin_stream, then push… , end_stream).
class Exchange {
 public:
  virtual ~Exchange() = default;
  /// Sends the answer; the connection then reads the next request (keep-alive) or closes.
  virtual void respond(Response res) = 0;
  /// Sends an answer the caller has serialized itself (a proxy passing one on, without
  /// building a message and running Beast's serializer): `head` is the HTTP/1.1 status line and
  /// the header fields, each ending in CRLF, with its own framing (Content-Length) but without a
  /// Connection field and without the empty line; the server adds those (keep-alive or close).
  /// `body` follows as is. The default parses it back into a Response (for test doubles).
  virtual void respond_serialized(int status, std::string head, std::string body);
  /// Sends the status line and headers of a chunked, open-ended answer (e.g. text/event-stream).
  virtual void begin_stream(Response head) = 0;
  /// Queues one chunk; false if the client is gone (the caller should stop pushing).
  virtual bool push(std::string data) = 0;
  /// Sends the final chunk and closes the connection.
  virtual void end_stream() = 0;
  /// True while a stream is open and the client connected.
  virtual bool open() const = 0;
  /// Route label used for metrics, e.g. "/api/statuses/{username}".
  virtual void set_route(std::string route) = 0;
  /// The request's span (common/trace.hpp): a child of the caller's `traceparent`, or a new
  /// trace. It ends when the answer (or a stream's head) is handed over.
  virtual const TraceContext& trace() const;
  /// The executor of the connection's I/O thread (for timers bound to this exchange).
  virtual boost::asio::any_io_executor executor() = 0;
  virtual std::string remote_address() const = 0;
};
using ExchangePtr = std::shared_ptr<Exchange>;
using Handler = std::function<void(Request&&, ExchangePtr)>;

struct ServerOptions {
  std::string bind = "127.0.0.1";
  unsigned short port = 0;
  int threads = 1;
  std::size_t header_limit = 8 * 1024;  // larger → 431
  std::size_t body_limit = 64 * 1024;   // larger → 413
  std::chrono::milliseconds idle_timeout{30000};   // no request started on a kept-alive connection
  std::chrono::milliseconds read_timeout{10000};   // a started request must arrive completely
  std::chrono::milliseconds write_timeout{10000};  // each write (also each stream chunk)
  std::chrono::milliseconds drain_timeout{5000};   // graceful stop waits this long for in-flight
  std::size_t max_connections = 10000;             // beyond → accept and close at once
  /// Connections one client (common::client_key of its address) may hold; beyond → accept and
  /// close at once. 0: no per-client cap.
  std::size_t max_connections_per_client = 256;
  /// Clients exempt from the per-client cap (e.g. the gateway in front of a node, which holds a
  /// connection per request in flight); the total cap still applies.
  Networks per_client_exempt;
  /// A stream (begin_stream/push) whose client reads slower than it is fed is dropped once this
  /// many bytes wait to be written (beyond the piece being written); counted in
  /// http_streams_dropped_total{reason="slow_reader"}.
  std::size_t stream_queue_limit = 1024 * 1024;
  /// After a failed accept() (out of file descriptors: EMFILE/ENFILE, or out of memory) the
  /// listener pauses this long instead of trying again at once.
  std::chrono::milliseconds accept_backoff{100};
  /// Added to the answers the server makes itself (400/413/431 before any handler ran), e.g.
  /// X-Served-By. (X-Request-Id is always added there, freshly made.)
  std::vector<std::pair<std::string, std::string>> answer_headers;
  /// Added to every answer, the handlers' too (plain, serialized and streamed), e.g. the
  /// gateway's X-Content-Type-Options. A handler must not set these fields itself.
  std::vector<std::pair<std::string, std::string>> every_answer_headers;
  /// Serve HTTPS with this certificate and key (nullptr: plain HTTP). Each connection starts
  /// with a TLS handshake, bounded by read_timeout; a failed one closes the connection and is
  /// counted in http_tls_handshake_failures_total.
  std::shared_ptr<TlsContext> tls;
  /// --tls-cert / --tls-key (both or neither), loaded into `tls` by load_server_tls.
  std::string tls_cert_file, tls_key_file;
  /// --tls-ca: whom this process's client sides trust (empty: the system store).
  std::string tls_ca_file;
  /// --otlp-endpoint, --trace-sample-ratio (set up by run_main).
  TraceOptions trace;
};

/// The defaults in which the servers' shared rows differ.
struct ServerRowDefaults {
  unsigned short port = 0;
  int threads = 0;  // 0: the number of cores
};
/// The option rows every server shares, stored into `o`: --port, --bind, --threads,
/// --idle-timeout-ms, --read-timeout-ms, --max-connections, --max-connections-per-client,
/// --tls-cert, --tls-key, --tls-ca, --otlp-endpoint, --trace-sample-ratio.
std::vector<Option> server_option_rows(ServerOptions& o, ServerRowDefaults defaults);
/// The rule between the TLS rows (both or neither) and, when given, loads them into `o.tls`;
/// sets the client sides' trust (configure_client_tls) from --tls-ca.
/// Throws ConfigError (one line naming the file).
void load_server_tls(ServerOptions& o);
/// Raises the soft limit on open files to the hard one (each connection is one; the default
/// soft limit of 1024 would run out long before --max-connections) and logs a warning when it
/// is still below what `o` allows. Call after logging is set up.
void prepare_fd_limit(const ServerOptions& o);

/// Owns its listeners, its connections and its threads. start() binds (throws
/// std::system_error with a clear message, e.g. port in use); stop() drains and joins.
/// `metrics` may be null.
class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler, Metrics* metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start();
  /// Bound port (after start).
  unsigned short port() const { return port_; }
  /// Stops accepting, closes idle connections, lets in-flight requests finish (up to
  /// drain_timeout), ends streams, then stops the threads. Idempotent; any thread but the I/O ones.
  void stop();
  bool draining() const { return draining_.load(); }
  std::size_t connections() const { return connections_.load(); }
  /// io_context of thread i (0 ≤ i < threads), for components that want to share the loops.
  boost::asio::io_context& context(int i);
  /// Socket timeouts of thread i, swept every 25 ms on that thread (see common/deadlines.hpp);
  /// components sharing the loops may register their own sockets there.
  Deadlines& deadlines(int i);
  int threads() const { return static_cast<int>(workers_.size()); }
  /// Re-reads the TLS certificate and key (TlsContext::reload) for the connections accepted
  /// from now on; open ones keep theirs. False when it failed (logged, the old ones stay) or the
  /// server is plain. Thread-safe (e.g. from the thread that waits for SIGHUP).
  bool reload_tls();

  struct Worker;  // one per I/O thread (implementation detail)
  const ServerOptions& options() const { return options_; }
  const Handler& handler() const { return handler_; }
  Metrics* metrics() const { return metrics_; }
  /// Connections per client key (those not exempt from the per-client cap).
  PerClientCounter& per_client() { return per_client_; }
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> in_flight_{0};

 private:
  ServerOptions options_;
  Handler handler_;
  Metrics* metrics_;
  PerClientCounter per_client_;
  unsigned short port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::function<void()> stop_listener_;
};

}  // namespace status::common
