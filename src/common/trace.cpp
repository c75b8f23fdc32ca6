#include "common/trace.hpp"

#include "common/config.hpp"
#include "common/http_client.hpp"
#include "common/log.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace status::common {

namespace json = boost::json;

namespace {

// Ids need to be unique, not secret: a fast generator per thread, seeded from the system's.
std::uint64_t next_random() {
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<std::uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  }();
  // splitmix64
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& out) {
  for (std::size_t i = 0; i < N; i += 8) {
    std::uint64_t r = next_random();
    for (std::size_t j = 0; j < 8 && i + j < N; ++j) out[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  out[0] |= out[0] == 0 ? 1 : 0;  // never all zeros
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& a) {
  for (auto b : a)
    if (b) return false;
  return true;
}

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& a) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[a[i] >> 4];
    out[2 * i + 1] = kDigits[a[i] & 15];
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

template <std::size_t N>
bool unhex(std::string_view s, std::array<std::uint8_t, N>& out) {
  if (s.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

struct Exporter {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Span> queue;
  TraceOptions options;
  std::optional<BaseUrl> endpoint;
  std::string target;
  std::thread thread;
  bool stopping = false;
  bool failing = false;
  std::atomic<double> ratio{0.0};
  std::atomic<std::uint64_t> exported{0}, dropped{0};

  void run() {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait_for(lock, std::chrono::milliseconds(500),
                  [&] { return stopping || queue.size() >= 256; });
      if (queue.empty()) {
        if (stopping) return;
        continue;
      }
      std::vector<Span> batch;
      while (!queue.empty() && batch.size() < 512) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      lock.unlock();
      send(batch);
      lock.lock();
    }
  }

  void send(const std::vector<Span>& batch) {
    auto body = otlp_json(options.service, batch);
    auto r = http_request(http::verb::post, *endpoint, target, body,
                          {{"Content-Type", "application/json"}}, std::chrono::seconds(2),
                          64 * 1024);
    bool ok = r.ok() && r.res.result_int() >= 200 && r.res.result_int() < 300;
    if (ok) {
      exported += batch.size();
      if (failing) spdlog::info("event=otlp_export_recovered endpoint={}", endpoint->str());
    } else {
      dropped += batch.size();
      if (!failing)
        spdlog::warn("event=otlp_export_failed endpoint={} error=\"{}\" action=drop_and_go_on",
                     endpoint->str(),
                     r.ok() ? "status " + std::to_string(r.res.result_int()) : r.ec.message());
    }
    failing = !ok;
  }
};

Exporter& exporter() {
  static Exporter* e = new Exporter;  // lives to the end of the process (threads may log late)
  return *e;
}

std::string attribute_text(const Span& s) {
  std::string out;
  for (const auto& [k, v] : s.attributes) {
    out += ' ';
    out += k;
    out += '=';
    bool plain = !v.empty() && v.find_first_of(" \"\\\r\n") == std::string::npos;
    if (plain) {
      out += v;
      continue;
    }
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
    out += '"';
  }
  return out;
}

}  // namespace

bool TraceContext::valid() const { return !all_zero(trace_id) && !all_zero(span_id); }
bool TraceContext::has_parent() const { return !all_zero(parent_id); }
std::string TraceContext::trace_hex() const { return hex(trace_id); }
std::string TraceContext::span_hex() const { return hex(span_id); }
std::string TraceContext::parent_hex() const { return hex(parent_id); }

std::string TraceContext::traceparent() const {
  return "00-" + hex(trace_id) + "-" + hex(span_id) + (sampled ? "-01" : "-00");
}

TraceContext TraceContext::child() const {
  TraceContext c;
  c.trace_id = trace_id;
  c.parent_id = span_id;
  c.sampled = sampled;
  fill_random(c.span_id);
  return c;
}

std::optional<TraceContext> parse_traceparent(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" flags; a later version may append "-…".
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  std::array<std::uint8_t, 1> version{}, flags{};
  if (!unhex(v.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 && v.size() != 55) return std::nullopt;
  if (v.size() > 55 && v[55] != '-') return std::nullopt;
  TraceContext t;
  if (!unhex(v.substr(3, 32), t.trace_id) || !unhex(v.substr(36, 16), t.span_id) ||
      !unhex(v.substr(53, 2), flags))
    return std::nullopt;
  if (!t.valid()) return std::nullopt;
  t.sampled = flags[0] & 1;
  return t;
}

TraceContext server_span(std::string_view incoming, bool may_start) {
  if (auto parent = parse_traceparent(incoming)) return parent->child();
  TraceContext t;
  fill_random(t.trace_id);
  fill_random(t.span_id);
  double ratio = may_start ? exporter().ratio.load(std::memory_order_relaxed) : 0.0;
  t.sampled = ratio >= 1.0 ||
              (ratio > 0 && static_cast<double>(next_random() >> 11) * 0x1.0p-53 < ratio);
  return t;
}

std::int64_t unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<Option> trace_option_rows(TraceOptions& o) {
  return {
      Option::text("otlp-endpoint", &o.otlp_endpoint, "",
                   "export sampled spans over OTLP/HTTP (JSON) to this URL, e.g. "
                   "http://127.0.0.1:4318/v1/traces (an OpenTelemetry Collector)")
          .default_shown("no export")
          .valid_if(is_base_url, "an http:// or https:// URL"),
      Option::number("trace-sample-ratio", &o.sample_ratio, 0, 1, "0.01",
                     "share of new traces sampled (logged with trace_id, exported); a caller's "
                     "traceparent decides for its own"),
  };
}

void configure_tracing(const TraceOptions& o) {
  auto& e = exporter();
  std::lock_guard lock(e.mu);
  e.options = o;
  e.ratio = o.sample_ratio;
  if (o.otlp_endpoint.empty() || e.thread.joinable()) return;
  auto base = parse_base_url(o.otlp_endpoint);
  e.target = base.path.empty() ? "/v1/traces" : base.path;
  base.path.clear();
  e.endpoint = base;
  e.stopping = false;
  e.thread = std::thread([&e] { e.run(); });
}

void stop_tracing(std::chrono::milliseconds wait) {
  auto& e = exporter();
  {
    std::unique_lock lock(e.mu);
    if (!e.thread.joinable()) return;
    e.cv.wait_for(lock, wait, [&] { return e.queue.empty(); });
    e.stopping = true;
  }
  e.cv.notify_all();
  e.thread.join();
}

void end_span(Span span) {
  if (!span.ctx.sampled) return;
  spdlog::info("event=span name=\"{}\" trace_id={} span_id={} parent_id={} ms={:.3f}{}",
               span.name, span.ctx.trace_hex(), span.ctx.span_hex(),
               span.ctx.has_parent() ? span.ctx.parent_hex() : "none",
               static_cast<double>(span.end_unix_ns - span.start_unix_ns) / 1e6,
               attribute_text(span));
  auto& e = exporter();
  {
    std::lock_guard lock(e.mu);
    if (!e.endpoint) return;
    if (e.queue.size() >= e.options.queue_limit) {
      ++e.dropped;
      return;
    }
    e.queue.push_back(std::move(span));
    if (e.queue.size() < 256) return;
  }
  e.cv.notify_one();
}

std::string otlp_json(const std::string& service, const std::vector<Span>& spans) {
  auto string_value = [](const std::string& k, const std::string& v) {
    return json::object{{"key", k}, {"value", json::object{{"stringValue", v}}}};
  };
  json::array list;
  for (const auto& s : spans) {
    json::array attrs;
    for (const auto& [k, v] : s.attributes) attrs.push_back(string_value(k, v));
    json::object o{
        {"traceId", s.ctx.trace_hex()},
        {"spanId", s.ctx.span_hex()},
        {"name", s.name},
        {"kind", s.kind},
        {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
        {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
        {"attributes", std::move(attrs)},
        {"status", json::object{{"code", s.error ? 2 : 0}}},
    };
    if (s.ctx.has_parent()) o["parentSpanId"] = s.ctx.parent_hex();
    list.push_back(std::move(o));
  }
  json::object root{
      {"resourceSpans",
       json::array{json::object{
           {"resource",
            json::object{{"attributes", json::array{string_value("service.name", service)}}}},
           {"scopeSpans", json::array{json::object{
                              {"scope", json::object{{"name", "status-server"}}},
                              {"spans", std::move(list)}}}}}}}};
  return json::serialize(root);
}

TraceStats trace_stats() {
  auto& e = exporter();
  return {e.exported.load(), e.dropped.load()};
}

}  // namespace status::common
