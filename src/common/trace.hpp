#pragma once
// Distributed tracing: W3C Trace Context (`traceparent`) and spans exported over OTLP/HTTP
// (JSON) to an OpenTelemetry Collector. One trace follows a write from the gateway through the
// node that takes it, its publish to the broker, and its apply on every replica.
//
// Every HTTP request a server handles gets a span context (HttpServer, http_session.hpp): the
// caller's trace if it sent a valid `traceparent`, else a new one, sampled with
// --trace-sample-ratio. Only sampled spans cost anything beyond the ids: a log line (with
// trace_id and span_id) and, with --otlp-endpoint, an exported span.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace status::common {

struct Option;

/// The ids of one span and its place in a trace.
struct TraceContext {
  std::array<std::uint8_t, 16> trace_id{};  // all zero: none
  std::array<std::uint8_t, 8> span_id{};
  std::array<std::uint8_t, 8> parent_id{};  // all zero: a root span
  bool sampled = false;

  bool valid() const;
  bool has_parent() const;
  std::string trace_hex() const;
  std::string span_hex() const;
  std::string parent_hex() const;
  /// `00-<trace>-<this span>-<flags>`: the header for calls made from this span.
  std::string traceparent() const;
  /// A new span of the same trace, a child of this one.
  TraceContext child() const;
};

/// The parent a `traceparent` value names (version 00 or a later one read as 00, per the W3C
/// rules); nullopt when it is malformed, or its trace or span id is all zeros.
std::optional<TraceContext> parse_traceparent(std::string_view value);

/// A server span for a request: a child of `incoming` (a `traceparent` header, may be empty or
/// malformed: then a new trace, sampled by the ratio unless `may_start` is false — probes and
/// internal calls do not start sampled traces of their own).
TraceContext server_span(std::string_view incoming, bool may_start = true);

/// How a span ended, for export.
struct Span {
  TraceContext ctx;
  std::string name;
  int kind = 1;  // OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;
  std::vector<std::pair<std::string, std::string>> attributes;  // string values
  bool error = false;
};

/// Nanoseconds since the epoch, now.
std::int64_t unix_ns();

struct TraceOptions {
  std::string otlp_endpoint;     // http[s]://collector:4318/v1/traces; empty: no export
  double sample_ratio = 0.01;    // of new traces (a caller's sampled flag is followed)
  std::string service = "status-server";
  std::size_t queue_limit = 4096;  // spans waiting for export; beyond, dropped (counted)
};

/// --otlp-endpoint and --trace-sample-ratio, into `o`.
std::vector<Option> trace_option_rows(TraceOptions& o);

/// Sets the process's tracing (call once at start, before serving; starts the exporter thread
/// when an endpoint is given). Without a call, nothing is sampled unless a caller's
/// `traceparent` asks for it, and nothing is exported.
void configure_tracing(const TraceOptions& o);
/// Flushes what waits (at most `wait`) and stops the exporter.
void stop_tracing(std::chrono::milliseconds wait = std::chrono::milliseconds(2000));

/// A sampled span ended: logs `event=span name=… trace_id=… span_id=… parent_id=… ms=…` (plus
/// its attributes) and queues it for export. Unsampled spans are ignored. Thread-safe.
void end_span(Span span);

/// OTLP/JSON `ExportTraceServiceRequest` for these spans (ids as hex, as OTLP/JSON wants).
std::string otlp_json(const std::string& service, const std::vector<Span>& spans);

/// Counters for /metrics: spans exported, dropped (queue full or the collector failing).
struct TraceStats {
  std::uint64_t exported = 0, dropped = 0;
};
TraceStats trace_stats();

}  // namespace status::common
