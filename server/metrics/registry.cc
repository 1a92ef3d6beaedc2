#include "server/metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "prometheus/check_names.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace havengate::metrics {
namespace {

// A broken invariant in code that registers metrics: stop loudly.
[[noreturn]] void Die(absl::string_view what) {
  std::fprintf(stderr, "metrics: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

}  // namespace

std::vector<double> LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,
          2.5,   5,    10,    30,   60,  300,  900,  3600};
}

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != labels_.size()) {
    Die(absl::StrCat(family_.GetName(), ": ", values.size(),
                     " label values for ", labels_.size(), " labels"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return *it->second;
  if (series_.size() >= kMaxSeriesPerFamily) {
    if (overflow_ == nullptr) {
      if constexpr (std::is_same_v<T, Histogram>) {
        overflow_ = std::make_unique<Histogram>(bounds_);
      } else {
        overflow_ = std::make_unique<T>();
      }
    }
    return *overflow_;
  }
  prometheus::Labels labels;
  for (size_t i = 0; i < labels_.size(); ++i) labels.emplace(labels_[i], values[i]);
  T* series;
  if constexpr (std::is_same_v<T, Histogram>) {
    series = &family_.Add(labels, bounds_);
  } else {
    series = &family_.Add(labels);
  }
  series_.emplace(values, series);
  return *series;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::CheckNew(const std::string& name, const std::string& help,
                        const std::vector<std::string>& labels,
                        prometheus::MetricType type) {
  const bool histogram = type == prometheus::MetricType::Histogram;
  if (!prometheus::CheckMetricName(name)) {
    Die(absl::StrCat("invalid metric name \"", name, "\""));
  }
  for (const std::string& label : labels) {
    if (!prometheus::CheckLabelName(label) || absl::StartsWith(label, "__") ||
        (histogram && label == "le")) {
      Die(absl::StrCat(name, ": invalid label name \"", label, "\""));
    }
  }
  if (absl::StrContains(help, '\n') || absl::StrContains(help, '\\')) {
    Die(absl::StrCat(name, ": the help text must be one line without backslashes"));
  }
  if (!order_.emplace(name, registered_.size()).second) {
    Die(absl::StrCat("metric \"", name, "\" registered twice"));
  }
  prometheus::MetricFamily announced;
  announced.name = name;
  announced.help = help;
  announced.type = type;
  registered_.push_back(std::move(announced));
}

Family<Counter>& Registry::AddCounter(const std::string& name,
                                      const std::string& help,
                                      std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, help, labels, prometheus::MetricType::Counter);
  auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(registry_);
  counters_.emplace_back(new Family<Counter>(family, std::move(labels), {}));
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, help, labels, prometheus::MetricType::Gauge);
  auto& family = prometheus::BuildGauge().Name(name).Help(help).Register(registry_);
  gauges_.emplace_back(new Family<Gauge>(family, std::move(labels), {}));
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(const std::string& name,
                                          const std::string& help,
                                          std::vector<std::string> labels,
                                          std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end() ||
      !std::isfinite(bounds.front()) || !std::isfinite(bounds.back())) {
    Die(absl::StrCat(name, ": bucket bounds must be finite and increasing"));
  }
  CheckNew(name, help, labels, prometheus::MetricType::Histogram);
  auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(registry_);
  histograms_.emplace_back(
      new Family<Histogram>(family, std::move(labels), std::move(bounds)));
  return *histograms_.back();
}

std::string Registry::Expose() const {
  std::vector<prometheus::MetricFamily> collected = registry_.Collect();
  // prometheus-cpp groups families by type, leaves out those without a
  // series and keeps series in hash order: lay them out as registered, with
  // series sorted, so the page reads the same every time.
  std::vector<prometheus::MetricFamily> families;
  std::lock_guard<std::mutex> lock(mu_);
  families = registered_;
  for (prometheus::MetricFamily& family : collected) {
    auto it = order_.find(family.name);
    if (it == order_.end() || it->second >= families.size()) continue;
    std::sort(family.metric.begin(), family.metric.end(),
              [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
                return a.label < b.label;
              });
    families[it->second].metric = std::move(family.metric);
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace havengate::metrics
