// havenctl's --json output for results that have no proto message: one JSON
// object per result, on one line of stdout, built key by key. Keys keep the
// order they were added in; their names are part of havenctl's interface
// (documented in each command's --help), so change them only with care.
#ifndef HAVENGATE_CLIENT_HAVENCTL_JSON_OUTPUT_H_
#define HAVENGATE_CLIENT_HAVENCTL_JSON_OUTPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/json.h"

namespace havengate::havenctl {

class JsonObject {
 public:
  JsonObject& String(absl::string_view key, absl::string_view value) {
    return Raw(key, JsonQuote(value));
  }
  JsonObject& Int(absl::string_view key, int64_t value) {
    return Raw(key, absl::StrCat(value));
  }
  JsonObject& Bool(absl::string_view key, bool value) {
    return Raw(key, value ? "true" : "false");
  }
  // RFC 3339 in UTC, e.g. "2026-11-28T14:05:00Z".
  JsonObject& Time(absl::string_view key, absl::Time value) {
    return String(key, absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", value,
                                        absl::UTCTimeZone()));
  }
  JsonObject& Strings(absl::string_view key,
                      const std::vector<std::string>& values) {
    std::vector<std::string> quoted;
    quoted.reserve(values.size());
    for (const std::string& v : values) quoted.push_back(JsonQuote(v));
    return Raw(key, absl::StrCat("[", absl::StrJoin(quoted, ","), "]"));
  }
  // `json` must already be valid JSON (an object from ToJson or another
  // JsonObject, a number, ...).
  JsonObject& Raw(absl::string_view key, absl::string_view json) {
    absl::StrAppend(&body_, body_.empty() ? "" : ",", JsonQuote(key), ":", json);
    return *this;
  }

  std::string str() const { return absl::StrCat("{", body_, "}"); }

 private:
  std::string body_;
};

}  // namespace havengate::havenctl

#endif  // HAVENGATE_CLIENT_HAVENCTL_JSON_OUTPUT_H_
