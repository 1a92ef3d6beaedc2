// A small Prometheus metrics registry: counters, gauges and histograms,
// each a family of series told apart by label values, rendered in the text
// exposition format 0.0.4 (what Prometheus scrapes).
//
//   Registry registry;
//   auto& rejected = registry.AddCounter("havengate_calls_rejected_total",
//                                        "Calls refused.", {"method", "code"});
//   rejected.WithLabels({"Push", "INVALID_ARGUMENT"}).Increment();
//   std::string text = registry.Expose();
//
// Label values must come from small, known sets (partner ids, status code
// names, enum names): never item contents, and never anything a caller can
// choose freely. As a guard, a family keeps at most `kMaxSeriesPerFamily`
// series; label sets beyond that are counted in a detached series that is
// not exposed.
//
// Metric and label names are fixed in code; an invalid one, or a label
// count that does not match the family, is a programming error and aborts.
//
// Thread-safety: everything is thread-safe. References returned by Add*
// and WithLabels stay valid for the life of the registry; updating a
// series is lock-free (counters, gauges) or takes a per-series lock
// (histograms).
#ifndef HAVENGATE_SERVER_METRICS_REGISTRY_H_
#define HAVENGATE_SERVER_METRICS_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace havengate::metrics {

inline constexpr size_t kMaxSeriesPerFamily = 10000;

// Only increases. Negative increments are ignored.
class Counter {
 public:
  void Increment(double by = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: upper bounds of the buckets, strictly increasing; +Inf is
  // implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    // Cumulative counts per bound (observations <= bound), then +Inf.
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, last is +Inf; guarded by mu_
  double sum_ = 0;                // guarded by mu_
  uint64_t count_ = 0;            // guarded by mu_
};

// Buckets for latencies in seconds, 5 ms to one hour.
std::vector<double> LatencyBuckets();

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric: a name, a help text, label names and a series per set of
// label values.
template <typename T>
class Family {
 public:
  // The series for these label values (one per label name, in order),
  // created at zero on first use.
  T& WithLabels(const std::vector<std::string>& values);
  // The only series of a family without labels.
  T& Get() { return WithLabels({}); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)),
        bounds_(std::move(bounds)) {}
  std::unique_ptr<T> Make() const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> labels_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_;  // mu_
  std::unique_ptr<T> overflow_;                                    // mu_
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*; labels
  // [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", "le" reserved for
  // histograms). Each name may be registered once.
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> labels = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> labels = {});
  Family<Histogram>& AddHistogram(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> labels,
                                  std::vector<double> bounds);

  // Every family in registration order, in the text exposition format
  // 0.0.4: # HELP and # TYPE lines, then one line per series (sorted by
  // label values), histograms as _bucket{le=...}, _sum and _count.
  std::string Expose() const;

 private:
  void CheckNew(const std::string& name, const std::vector<std::string>& labels,
                bool histogram);
  // Counters and gauges: one line per series.
  template <typename T>
  static void ExposeScalars(const Family<T>& family, absl::string_view type,
                            std::string& out);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;      // mu_
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;          // mu_
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;  // mu_
  // Registration order: (type, index into the vector of that type).
  std::vector<std::pair<MetricType, size_t>> order_;            // mu_
};

// Text-format helpers, exposed for tests.
// A sample value: integers without a fraction, otherwise shortest
// round-trip form; "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);
// A label value inside double quotes: \ " and newline escaped.
std::string EscapeLabelValue(absl::string_view value);
// A HELP text: \ and newline escaped.
std::string EscapeHelp(absl::string_view help);

}  // namespace havengate::metrics

#endif  // HAVENGATE_SERVER_METRICS_REGISTRY_H_
