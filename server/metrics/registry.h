// The gateway's metrics registry: counters, gauges and histograms from
// prometheus-cpp (Debian's prometheus-cpp-dev, core library), each a family
// of series told apart by label values, rendered by prometheus-cpp's
// TextSerializer in the text exposition format 0.0.4 (what Prometheus
// scrapes).
//
//   Registry registry;
//   auto& rejected = registry.AddCounter("havengate_calls_rejected_total",
//                                        "Calls refused.", {"method", "code"});
//   rejected.WithLabels({"Push", "INVALID_ARGUMENT"}).Increment();
//   std::string text = registry.Expose();
//
// This is a thin layer over prometheus::Registry that adds what the gateway
// relies on and prometheus-cpp does not give:
// - A cap on series: label values must come from small, known sets (partner
//   ids, status code names, enum names), never item contents or anything a
//   caller chooses freely. As a guard, a family keeps at most
//   `kMaxSeriesPerFamily` series; label sets beyond that are counted in a
//   detached series that is not exposed, so a flood of labels cannot grow
//   memory without bound.
// - Label values by position (the label names are fixed at registration).
// - Stable output: families in registration order (also those without a
//   series yet), series sorted by label.
// - Programming errors abort: an invalid metric or label name, a label count
//   that does not match the family, a name registered twice, or a help text
//   with a newline or backslash (prometheus-cpp 1.0.1 writes HELP unescaped).
//
// Thread-safety: everything is thread-safe. References returned by Add*
// and WithLabels stay valid for the life of the registry; updating a
// series is lock-free (counters, gauges) or takes a per-series lock
// (histograms), as prometheus-cpp does it.
#ifndef HAVENGATE_SERVER_METRICS_REGISTRY_H_
#define HAVENGATE_SERVER_METRICS_REGISTRY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace havengate::metrics {

inline constexpr size_t kMaxSeriesPerFamily = 10000;

// Increment(by) ignores negative increments.
using Counter = prometheus::Counter;
// Set(value), Increment(by), Decrement(by).
using Gauge = prometheus::Gauge;
// Observe(value); buckets fixed at registration (le is inclusive).
using Histogram = prometheus::Histogram;

// Buckets for latencies in seconds, 5 ms to one hour.
std::vector<double> LatencyBuckets();

// One metric: a name, label names and a series per set of label values.
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
  Family(prometheus::Family<T>& family, std::vector<std::string> labels,
         std::vector<double> bounds)
      : family_(family), labels_(std::move(labels)), bounds_(std::move(bounds)) {}

  prometheus::Family<T>& family_;
  const std::vector<std::string> labels_;
  const std::vector<double> bounds_;  // histograms only
  std::mutex mu_;
  std::map<std::vector<std::string>, T*> series_;  // mu_; owned by family_
  std::unique_ptr<T> overflow_;                    // mu_; never exposed
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
  // `bounds`: upper bounds of the buckets, finite and strictly increasing;
  // +Inf is implied.
  Family<Histogram>& AddHistogram(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> labels,
                                  std::vector<double> bounds);

  // Every family in registration order, in the text exposition format
  // 0.0.4 (prometheus::TextSerializer over the registry's Collect()).
  std::string Expose() const;

 private:
  void CheckNew(const std::string& name, const std::string& help,
                const std::vector<std::string>& labels, prometheus::MetricType type);

  prometheus::Registry registry_;
  mutable std::mutex mu_;
  // Every family as registered, in that order, so that one without series
  // is still announced (# HELP, # TYPE), as prometheus-cpp would skip it.
  std::vector<prometheus::MetricFamily> registered_;  // mu_; no series
  std::map<std::string, size_t> order_;  // mu_; name -> index in registered_
  std::vector<std::unique_ptr<Family<Counter>>> counters_;      // mu_
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;          // mu_
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;  // mu_
};

}  // namespace havengate::metrics

#endif  // HAVENGATE_SERVER_METRICS_REGISTRY_H_
