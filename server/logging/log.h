// Structured event log of the gateway: one line per event, as text
// (`2026-11-28T14:05:00.123Z INFO item_ingested origin=police-nl item_id=A1`)
// or as JSON lines for a SIEM (`{"time":...,"level":"info","event":...}`).
//
// Log lines carry identifiers, counts, reasons and peer ids only — never
// item contents or withheld values. Callers pass only such fields.
// Thread-safe.
#ifndef HAVENGATE_SERVER_LOGGING_LOG_H_
#define HAVENGATE_SERVER_LOGGING_LOG_H_

#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace havengate::log {

enum class Format { kText, kJson };

// Sets the output format; until called, text. Call once at start-up.
void Configure(Format format);

// One key=value pair of an event. Build with {"key", value}.
struct Field {
  Field(absl::string_view k, absl::string_view v) : key(k), value(v) {}
  Field(absl::string_view k, const std::string& v) : key(k), value(v) {}
  Field(absl::string_view k, const char* v) : key(k), value(v) {}
  template <typename Number,
            typename = std::enable_if_t<std::is_arithmetic_v<Number>>>
  Field(absl::string_view k, Number v) : key(k), value(absl::StrCat(v)) {}
  absl::string_view key;
  std::string value;
};

void Info(absl::string_view event, std::initializer_list<Field> fields = {});
void Warn(absl::string_view event, std::initializer_list<Field> fields = {});
void Error(absl::string_view event, std::initializer_list<Field> fields = {});

// Renders one line without writing it (for tests).
std::string FormatLineForTesting(Format format, absl::string_view level,
                                 absl::string_view event,
                                 std::initializer_list<Field> fields);

}  // namespace havengate::log

#endif  // HAVENGATE_SERVER_LOGGING_LOG_H_
