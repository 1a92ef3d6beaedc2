#include "proto/json.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

namespace havengate {
namespace {

// Rewrites protobuf's parser messages into "path: problem" form, e.g.
// "(alert) categry: Cannot find field." -> "alert: unknown field \"categry\"".
std::string Reword(absl::string_view message) {
  absl::string_view path;
  if (absl::ConsumePrefix(&message, "(")) {
    size_t close = message.find(')');
    if (close != absl::string_view::npos) {
      path = message.substr(0, close);
      message.remove_prefix(close + 1);
      absl::ConsumePrefix(&message, ":");
      absl::ConsumePrefix(&message, " ");
    }
  }
  std::string where = path.empty() ? "item" : std::string(path);
  if (absl::EndsWith(message, ": Cannot find field.")) {
    absl::string_view field = message.substr(0, message.size() - 20);
    return absl::StrCat(where, ": unknown field \"", field, "\"");
  }
  if (absl::StartsWith(message, "invalid value ")) {
    // Protobuf appends the internal type URL; keep only the offending part.
    size_t for_type = message.rfind(" for type ");
    absl::string_view what = message.substr(0, for_type);
    std::string type(for_type == absl::string_view::npos
                         ? ""
                         : message.substr(for_type + 10));
    if (absl::StartsWith(type, "type.googleapis.com/")) type = type.substr(20);
    if (absl::StrContains(what, "Invalid time format")) {
      return absl::StrCat(where,
                          ": is not a time in RFC 3339 form, e.g. "
                          "2026-11-28T14:05:00Z");
    }
    return absl::StrCat(where, ": ", what, type.empty() ? "" : " (expected ",
                        type, type.empty() ? "" : ")");
  }
  return absl::StrCat(path.empty() ? "" : absl::StrCat(where, ": "),
                      "malformed JSON: ", absl::StripAsciiWhitespace(message));
}

}  // namespace

absl::Status ParseJson(absl::string_view json,
                       google::protobuf::Message* message) {
  message->Clear();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message,
      options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(Reword(status.message().as_string()));
}

std::string ToJson(const google::protobuf::Message& message, JsonStyle style) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = style.pretty;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &out, options);
  // Printing only fails for Any fields with unresolvable types, which the
  // havengate messages do not use.
  if (!status.ok()) return absl::StrCat("{\"error\": \"", status.message().as_string(), "\"}");
  if (style.pretty && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace havengate
