#include "common/metrics.hpp"

#include <sstream>

namespace status::common {

std::string Metrics::key(const Labels& labels) {
  std::string k;
  for (const auto& [n, v] : labels) {
    if (!k.empty()) k += ',';
    k += n + "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') k += '\\';
      if (c == '\n') { k += "\\n"; continue; }
      k += c;
    }
    k += '"';
  }
  return k;
}

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mutex_);
  meta_[name] = {type, help};
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
  auto& h = histograms_[name][k];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (value <= kBuckets[i]) ++h.counts[i];
  ++h.count;
  h.sum += value;
}

void Metrics::observe_request(const std::string& route, const std::string& method, int status,
                              double seconds) {
  Labels l{{"route", route}, {"method", method}, {"status", std::to_string(status)}};
  inc("http_requests_total", l);
  observe("http_request_duration_seconds", {{"route", route}, {"method", method}}, seconds);
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
