// Reading and writing messages in the proto3 JSON mapping, as integration
// clients, policy officers and havenctl see them, and quoting a string as a
// JSON string literal for the JSON written by hand (log lines, YAML read as
// JSON, havenctl's JSON output).
//
// Parsing is strict: unknown fields and unknown enum names are errors, and
// the error names the field path. Output uses the protobuf field names
// (`date_of_birth`, not `dateOfBirth`), the spelling policies use; both
// spellings are accepted on input. Thread-safe.
#ifndef HAVENGATE_PROTO_JSON_H_
#define HAVENGATE_PROTO_JSON_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace havengate {

// Parses `json` into `message` (cleared first). On failure returns
// INVALID_ARGUMENT naming the field and the problem, e.g.
// `alert.containers[0]: unknown field "colour"`, and leaves `message`
// unspecified.
[[nodiscard]] absl::Status ParseJson(absl::string_view json,
                                     google::protobuf::Message* message);

template <typename T>
[[nodiscard]] absl::StatusOr<T> ParseJsonAs(absl::string_view json) {
  T message;
  absl::Status status = ParseJson(json, &message);
  if (!status.ok()) return status;
  return message;
}

struct JsonStyle {
  // Indented over several lines (for people) or one line (for JSON lines).
  bool pretty = true;
};

// Prints `message` as proto3 JSON. Never fails for messages built by this
// program.
std::string ToJson(const google::protobuf::Message& message,
                   JsonStyle style = {});

// `s` as a JSON string literal, quotes included: `"`, `\` and control
// characters escaped (\n, \r, \t, else \u00XX); other bytes, UTF-8
// included, as they are.
std::string JsonQuote(absl::string_view s);

}  // namespace havengate

#endif  // HAVENGATE_PROTO_JSON_H_
