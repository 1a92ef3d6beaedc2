#include "server/metrics/exposition_parser.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace havengate::metrics {
namespace {

bool NameChar(char c, bool first, bool colon) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (colon && c == ':') ||
         (!first && absl::ascii_isdigit(static_cast<unsigned char>(c)));
}

// Consumes a name from the front of `s`.
std::string TakeName(absl::string_view& s, bool colon) {
  size_t n = 0;
  while (n < s.size() && NameChar(s[n], n == 0, colon)) ++n;
  std::string name(s.substr(0, n));
  s.remove_prefix(n);
  return name;
}

std::optional<double> ParseValue(absl::string_view text) {
  if (text == "+Inf" || text == "Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  if (text.empty()) return std::nullopt;
  std::string copy(text);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

std::string Problem(size_t line, absl::string_view what) {
  return absl::StrCat("line ", line, ": ", what);
}

// The family a sample belongs to: histograms add suffixes.
std::string FamilyOf(const std::string& name,
                     const std::map<std::string, std::string>& types) {
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

}  // namespace

std::optional<double> Exposition::Find(
    const std::string& name,
    const std::map<std::string, std::string>& labels) const {
  for (const Sample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

double Exposition::Sum(const std::string& name,
                       const std::map<std::string, std::string>& labels) const {
  double sum = 0;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) sum += s.value;
  }
  return sum;
}

absl::StatusOr<Exposition> ParseExposition(absl::string_view text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') {
    return absl::InvalidArgumentError("the last line has no newline");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // after the final newline
  std::set<std::string> sampled;  // families that already have samples
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t n = i + 1;
    absl::string_view line = lines[i];
    if (line.empty()) {
      return absl::InvalidArgumentError(Problem(n, "empty line"));
    }
    if (absl::ConsumePrefix(&line, "#")) {
      absl::ConsumePrefix(&line, " ");
      bool is_help = absl::ConsumePrefix(&line, "HELP ");
      bool is_type = !is_help && absl::ConsumePrefix(&line, "TYPE ");
      if (!is_help && !is_type) continue;  // a plain comment
      std::string name = TakeName(line, true);
      if (name.empty() || !absl::ConsumePrefix(&line, " ")) {
        return absl::InvalidArgumentError(Problem(n, "malformed # line"));
      }
      if (is_type) {
        static const std::set<std::string> kTypes = {
            "counter", "gauge", "histogram", "summary", "untyped"};
        if (kTypes.count(std::string(line)) == 0) {
          return absl::InvalidArgumentError(Problem(n, "unknown type"));
        }
        if (out.types.count(name) != 0 || sampled.count(name) != 0) {
          return absl::InvalidArgumentError(
              Problem(n, absl::StrCat("TYPE of ", name, " too late or twice")));
        }
        out.types[name] = std::string(line);
      } else {
        std::string help;
        for (size_t k = 0; k < line.size(); ++k) {
          if (line[k] == '\\' && k + 1 < line.size()) {
            char e = line[++k];
            if (e == 'n') {
              help.push_back('\n');
            } else if (e == '\\') {
              help.push_back('\\');
            } else {
              return absl::InvalidArgumentError(Problem(n, "bad escape in HELP"));
            }
          } else {
            help.push_back(line[k]);
          }
        }
        out.help[name] = help;
      }
      continue;
    }
    Sample sample;
    sample.name = TakeName(line, true);
    if (sample.name.empty()) {
      return absl::InvalidArgumentError(Problem(n, "no metric name"));
    }
    if (absl::ConsumePrefix(&line, "{")) {
      while (!absl::ConsumePrefix(&line, "}")) {
        std::string label = TakeName(line, false);
        if (label.empty() || !absl::ConsumePrefix(&line, "=\"")) {
          return absl::InvalidArgumentError(Problem(n, "malformed label"));
        }
        std::string value;
        bool closed = false;
        while (!line.empty()) {
          char c = line.front();
          line.remove_prefix(1);
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (line.empty()) break;
            char e = line.front();
            line.remove_prefix(1);
            if (e == 'n') {
              value.push_back('\n');
            } else if (e == '\\' || e == '"') {
              value.push_back(e);
            } else {
              return absl::InvalidArgumentError(
                  Problem(n, "bad escape in a label value"));
            }
          } else if (c == '\n') {
            break;
          } else {
            value.push_back(c);
          }
        }
        if (!closed) {
          return absl::InvalidArgumentError(Problem(n, "unterminated label value"));
        }
        if (!sample.labels.emplace(label, value).second) {
          return absl::InvalidArgumentError(Problem(n, "label given twice"));
        }
        absl::ConsumePrefix(&line, ",");
      }
    }
    if (!absl::ConsumePrefix(&line, " ")) {
      return absl::InvalidArgumentError(Problem(n, "no space before the value"));
    }
    std::vector<absl::string_view> rest = absl::StrSplit(line, ' ');
    if (rest.size() > 2) {
      return absl::InvalidArgumentError(Problem(n, "trailing text"));
    }
    std::optional<double> value = ParseValue(rest[0]);
    if (!value.has_value()) {
      return absl::InvalidArgumentError(Problem(n, "malformed value"));
    }
    sample.value = *value;
    std::string family = FamilyOf(sample.name, out.types);
    if (out.types.count(family) == 0) {
      return absl::InvalidArgumentError(
          Problem(n, absl::StrCat(sample.name, " has no # TYPE before it")));
    }
    sampled.insert(family);
    out.samples.push_back(std::move(sample));
  }

  // Histograms: buckets cumulative, ending at +Inf == _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<const Sample*>>
        series;
    for (const Sample& s : out.samples) {
      if (s.name != family + "_bucket") continue;
      std::map<std::string, std::string> key = s.labels;
      key.erase("le");
      series[key].push_back(&s);
    }
    for (const auto& [labels, buckets] : series) {
      double previous = 0;
      for (const Sample* b : buckets) {
        if (b->labels.count("le") == 0 || b->value < previous) {
          return absl::InvalidArgumentError(absl::StrCat(
              family, ": buckets must carry le and be cumulative"));
        }
        previous = b->value;
      }
      if (buckets.back()->labels.at("le") != "+Inf") {
        return absl::InvalidArgumentError(
            absl::StrCat(family, ": the last bucket must be le=\"+Inf\""));
      }
      std::optional<double> count = out.Find(family + "_count", labels);
      if (!count.has_value() || *count != buckets.back()->value) {
        return absl::InvalidArgumentError(
            absl::StrCat(family, ": _count must equal the +Inf bucket"));
      }
      if (!out.Find(family + "_sum", labels).has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(family, ": no _sum"));
      }
    }
  }
  return out;
}

}  // namespace havengate::metrics
