// A strict parser of the Prometheus text exposition format 0.0.4, for tests
// (and tools) that scrape a gateway: it refuses what Prometheus would
// refuse (a sample before its # TYPE, a malformed label or value, a bad
// escape) and checks histogram consistency (cumulative buckets, +Inf ==
// _count), so a test asserting on values also asserts the format.
//
// Pure functions; thread-safe.
#ifndef HAVENGATE_SERVER_METRICS_EXPOSITION_PARSER_H_
#define HAVENGATE_SERVER_METRICS_EXPOSITION_PARSER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace havengate::metrics {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family name -> type
  std::map<std::string, std::string> help;   // family name -> unescaped help
  std::vector<Sample> samples;

  // The value of the sample with exactly these labels, if present.
  std::optional<double> Find(
      const std::string& name,
      const std::map<std::string, std::string>& labels = {}) const;
  // Sum over samples of `name` whose labels include `labels`.
  double Sum(const std::string& name,
             const std::map<std::string, std::string>& labels = {}) const;
};

// INVALID_ARGUMENT "line N: problem" for anything malformed.
[[nodiscard]] absl::StatusOr<Exposition> ParseExposition(absl::string_view text);

}  // namespace havengate::metrics

#endif  // HAVENGATE_SERVER_METRICS_EXPOSITION_PARSER_H_
