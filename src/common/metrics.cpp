#include "common/metrics.hpp"

#include <cstdio>
#include <sstream>
#include <string_view>

namespace status::common {

namespace {

// Appends name="value" (value escaped for the exposition format), comma-separated.
void append_label(std::string& k, std::string_view name, std::string_view value) {
  if (!k.empty()) k += ',';
  k += name;
  k += "=\"";
  for (char c : value) {
    if (c == '"' || c == '\\') k += '\\';
    if (c == '\n') {
      k += "\\n";
      continue;
    }
    k += c;
  }
  k += '"';
}

}  // namespace

std::string format_labels(const Labels& labels) {
  std::string k;
  for (const auto& [n, v] : labels) append_label(k, n, v);
  return k;
}

std::string Metrics::key(const Labels& labels) { return format_labels(labels); }

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mutex_);
  meta_[name] = {type, help};
}

void Metrics::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  meta_[name] = {"counter", help};
  scalars_[name].try_emplace("", 0.0);
}

void Metrics::inc(const std::string& name, const Labels& labels, double by) {
  std::string k = key(labels);
  std::lock_guard lock(mutex_);
  scalars_[name][k] += by;
}

void Metrics::set(const std::string& name, const Labels& labels, double value) {
  std::string k = key(labels);
  std::lock_guard lock(mutex_);
  scalars_[name][k] = value;
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  std::string k = key(labels);
  std::lock_guard lock(mutex_);
  histograms_[name][k].add(value);
}

// Called for every HTTP exchange, so without the general path's allocations: the label keys are
// built in per-thread buffers and the two families are found once.
void Metrics::observe_request(const std::string& route, const std::string& method, int status,
                              double seconds) {
  thread_local std::string hist_key, count_key;
  hist_key.clear();
  append_label(hist_key, "route", route);
  append_label(hist_key, "method", method);
  count_key = hist_key;
  char digits[12];
  int n = std::snprintf(digits, sizeof digits, "%d", status);
  append_label(count_key, "status", std::string_view(digits, n));
  std::lock_guard lock(mutex_);
  if (!requests_total_) {
    requests_total_ = &scalars_["http_requests_total"];
    request_seconds_ = &histograms_["http_request_duration_seconds"];
  }
  (*requests_total_)[count_key] += 1;  // copies the key only when the series is new
  (*request_seconds_)[hist_key].add(seconds);
}

void Metrics::add_collector(std::function<std::string()> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mutex_);
  auto it = scalars_.find(name);
  if (it == scalars_.end()) return 0;
  auto jt = it->second.find(key(labels));
  return jt == it->second.end() ? 0 : jt->second;
}

std::string Metrics::render() const {
  std::vector<std::function<std::string()>> collectors;
  std::ostringstream out;
  {
    std::lock_guard lock(mutex_);
    auto header = [&](const std::string& name, const char* fallback_type) {
      auto m = meta_.find(name);
      if (m != meta_.end()) {
        out << "# HELP " << name << ' ' << m->second.second << '\n';
        out << "# TYPE " << name << ' ' << m->second.first << '\n';
      } else {
        out << "# TYPE " << name << ' ' << fallback_type << '\n';
      }
    };
    for (const auto& [name, series] : scalars_) {
      header(name, name.size() > 6 && name.substr(name.size() - 6) == "_total" ? "counter" : "gauge");
      for (const auto& [k, v] : series)
        out << name << (k.empty() ? "" : "{" + k + "}") << ' ' << v << '\n';
    }
    for (const auto& [name, series] : histograms_) {
      header(name, "histogram");
      for (const auto& [k, h] : series) {
        std::string sep = k.empty() ? "" : ",";
        unsigned long cumulative = 0;
        for (size_t i = 0; i < kBuckets.size(); ++i) {
          cumulative = h.counts[i];
          out << name << "_bucket{" << k << sep << "le=\"" << kBuckets[i] << "\"} " << cumulative
              << '\n';
        }
        out << name << "_bucket{" << k << sep << "le=\"+Inf\"} " << h.count << '\n';
        out << name << "_sum" << (k.empty() ? "" : "{" + k + "}") << ' ' << h.sum << '\n';
        out << name << "_count" << (k.empty() ? "" : "{" + k + "}") << ' ' << h.count << '\n';
      }
    }
    collectors = collectors_;
  }
  for (const auto& c : collectors) out << c();
  return out.str();
}

}  // namespace status::common
