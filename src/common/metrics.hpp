#pragma once
// Prometheus metrics: counters, gauges and latency histograms, rendered in text format 0.0.4.

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace status::common {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// `name="value",…` with each value escaped for the exposition format (\\, \", \n), for
/// collectors that write their own lines: a value from outside (e.g. an instance id from the
/// registry) can then neither end its label set nor forge a line.
std::string format_labels(const Labels& labels);

/// Thread-safe: any thread may record; render() takes a consistent snapshot.
class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  /// Describes a metric family (HELP and TYPE lines). Optional; undocumented families render too.
  void describe(const std::string& name, const std::string& type, const std::string& help);
  /// An unlabeled counter: described, and exported as 0 until first counted (a dashboard's
  /// rate() then finds the series from the start).
  void counter(const std::string& name, const std::string& help);
  void inc(const std::string& name, const Labels& labels = {}, double by = 1);
  void set(const std::string& name, const Labels& labels, double value);
  void observe(const std::string& name, const Labels& labels, double value);
  /// One HTTP exchange: http_requests_total and http_request_duration_seconds by route and status.
  void observe_request(const std::string& route, const std::string& method, int status,
                       double seconds);
  /// A function called at render time that appends ready-made exposition lines.
  void add_collector(std::function<std::string()> collector);

  std::string render() const;
  double value(const std::string& name, const Labels& labels = {}) const;  // for tests

 private:
  struct Histogram {
    std::array<unsigned long, kBuckets.size()> counts{};
    unsigned long count = 0;
    double sum = 0;
    void add(double value) {
      for (size_t i = 0; i < kBuckets.size(); ++i)
        if (value <= kBuckets[i]) ++counts[i];
      ++count;
      sum += value;
    }
  };
  static std::string key(const Labels& labels);
  mutable std::mutex mutex_;
  std::map<std::string, std::pair<std::string, std::string>> meta_;  // name -> type, help
  std::map<std::string, std::map<std::string, double>> scalars_;      // name -> labels -> value
  std::map<std::string, std::map<std::string, Histogram>> histograms_;
  std::vector<std::function<std::string()>> collectors_;
  // The two families observe_request() feeds (std::map nodes do not move).
  std::map<std::string, double>* requests_total_ = nullptr;
  std::map<std::string, Histogram>* request_seconds_ = nullptr;
};

}  // namespace status::common
