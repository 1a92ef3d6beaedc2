#include "server/metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"

namespace havengate::metrics {
namespace {

// A broken invariant in code that registers metrics: stop loudly.
[[noreturn]] void Die(absl::string_view what) {
  std::fprintf(stderr, "metrics: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

bool ValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
              (allow_colon && c == ':') ||
              (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

void AtomicAdd(std::atomic<double>& target, double by) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + by,
                                       std::memory_order_relaxed)) {
  }
}

// name{a="x",b="y"} with an optional extra label (histogram `le`).
std::string SeriesName(absl::string_view name,
                       const std::vector<std::string>& labels,
                       const std::vector<std::string>& values,
                       absl::string_view extra_label = "",
                       absl::string_view extra_value = "") {
  std::string out(name);
  if (labels.empty() && extra_label.empty()) return out;
  out.push_back('{');
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, labels[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_label.empty()) {
    if (!labels.empty()) out.push_back(',');
    absl::StrAppend(&out, extra_label, "=\"", extra_value, "\"");
  }
  out.push_back('}');
  return out;
}

void Header(std::string& out, const std::string& name, const std::string& help,
            absl::string_view type) {
  absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n",
                  "# TYPE ", name, " ", type, "\n");
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    if (std::strtod(text.c_str(), nullptr) == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,
          2.5,   5,    10,    30,   60,  300,  900,  3600};
}

void Counter::Increment(double by) {
  if (!(by >= 0)) return;  // negative or NaN
  AtomicAdd(value_, by);
}

void Gauge::Add(double by) { AtomicAdd(value_, by); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // First bucket whose bound is >= value (le is inclusive).
  size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    s.cumulative.push_back(running);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

template <typename T>
std::unique_ptr<T> Family<T>::Make() const {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(bounds_);
  } else {
    return std::make_unique<T>();
  }
}

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != labels_.size()) {
    Die(absl::StrCat(name_, ": ", values.size(), " label values for ",
                     labels_.size(), " labels"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return *it->second;
  if (series_.size() >= kMaxSeriesPerFamily) {
    if (overflow_ == nullptr) overflow_ = Make();
    return *overflow_;
  }
  return *series_.emplace(values, Make()).first->second;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::CheckNew(const std::string& name,
                        const std::vector<std::string>& labels,
                        bool histogram) {
  if (!ValidName(name, /*allow_colon=*/true)) {
    Die(absl::StrCat("invalid metric name \"", name, "\""));
  }
  for (const std::string& label : labels) {
    if (!ValidName(label, /*allow_colon=*/false) ||
        absl::StartsWith(label, "__") || (histogram && label == "le")) {
      Die(absl::StrCat(name, ": invalid label name \"", label, "\""));
    }
  }
  auto taken = [&](const auto& families) {
    for (const auto& f : families) {
      if (f->name_ == name) return true;
    }
    return false;
  };
  if (taken(counters_) || taken(gauges_) || taken(histograms_)) {
    Die(absl::StrCat("metric \"", name, "\" registered twice"));
  }
}

Family<Counter>& Registry::AddCounter(const std::string& name,
                                      const std::string& help,
                                      std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, labels, false);
  counters_.emplace_back(new Family<Counter>(name, help, std::move(labels), {}));
  order_.emplace_back(MetricType::kCounter, counters_.size() - 1);
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, labels, false);
  gauges_.emplace_back(new Family<Gauge>(name, help, std::move(labels), {}));
  order_.emplace_back(MetricType::kGauge, gauges_.size() - 1);
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(const std::string& name,
                                          const std::string& help,
                                          std::vector<std::string> labels,
                                          std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckNew(name, labels, true);
  if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end() ||
      std::isinf(bounds.back())) {
    Die(absl::StrCat(name, ": bucket bounds must be finite and increasing"));
  }
  histograms_.emplace_back(new Family<Histogram>(name, help, std::move(labels),
                                                 std::move(bounds)));
  order_.emplace_back(MetricType::kHistogram, histograms_.size() - 1);
  return *histograms_.back();
}

template <typename T>
void Registry::ExposeScalars(const Family<T>& f, absl::string_view type,
                             std::string& out) {
  Header(out, f.name_, f.help_, type);
  std::lock_guard<std::mutex> series_lock(f.mu_);
  for (const auto& [values, series] : f.series_) {
    absl::StrAppend(&out, SeriesName(f.name_, f.labels_, values), " ",
                    FormatValue(series->value()), "\n");
  }
}

std::string Registry::Expose() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [type, index] : order_) {
    switch (type) {
      case MetricType::kCounter:
        ExposeScalars(*counters_[index], "counter", out);
        break;
      case MetricType::kGauge:
        ExposeScalars(*gauges_[index], "gauge", out);
        break;
      case MetricType::kHistogram: {
        const Family<Histogram>& f = *histograms_[index];
        Header(out, f.name_, f.help_, "histogram");
        std::lock_guard<std::mutex> series_lock(f.mu_);
        const std::string bucket = absl::StrCat(f.name_, "_bucket");
        for (const auto& [values, histogram] : f.series_) {
          Histogram::Snapshot s = histogram->Read();
          for (size_t i = 0; i < s.cumulative.size(); ++i) {
            std::string le =
                i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
            absl::StrAppend(&out, SeriesName(bucket, f.labels_, values, "le", le),
                            " ", s.cumulative[i], "\n");
          }
          absl::StrAppend(
              &out, SeriesName(absl::StrCat(f.name_, "_sum"), f.labels_, values),
              " ", FormatValue(s.sum), "\n",
              SeriesName(absl::StrCat(f.name_, "_count"), f.labels_, values),
              " ", s.count, "\n");
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace havengate::metrics
