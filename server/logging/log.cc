#include "server/logging/log.h"

#include <atomic>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/json.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace havengate::log {
namespace {

std::atomic<Format> g_format{Format::kText};

// The raw sink: spdlog provides the locking and the flush; lines are
// formatted here so both formats share one writer.
spdlog::logger& Sink() {
  static spdlog::logger* logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto* l = new spdlog::logger("havengate", sink);
    l->set_pattern("%v");
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return *logger;
}

// Text values with spaces or quotes are quoted so a line stays parseable.
void AppendTextValue(std::string& out, absl::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=') plain = false;
  }
  if (plain) {
    out.append(v.data(), v.size());
  } else {
    out += JsonQuote(v);
  }
}

void Write(absl::string_view level, absl::string_view event,
           std::initializer_list<Field> fields) {
  Sink().info(FormatLineForTesting(g_format.load(), level, event, fields));
}

}  // namespace

void Configure(Format format) { g_format.store(format); }

std::string FormatLineForTesting(Format format, absl::string_view level,
                                 absl::string_view event,
                                 std::initializer_list<Field> fields) {
  std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  if (format == Format::kJson) {
    line = absl::StrCat("{\"time\":\"", time, "\",\"level\":\"", level,
                        "\",\"event\":");
    line += JsonQuote(event);
    for (const Field& f : fields) {
      line.push_back(',');
      line += JsonQuote(f.key);
      line.push_back(':');
      line += JsonQuote(f.value);
    }
    line.push_back('}');
  } else {
    line = absl::StrCat(time, " ", absl::AsciiStrToUpper(level), " ", event);
    for (const Field& f : fields) {
      absl::StrAppend(&line, " ", f.key, "=");
      AppendTextValue(line, f.value);
    }
  }
  return line;
}

void Info(absl::string_view event, std::initializer_list<Field> fields) {
  Write("info", event, fields);
}
void Warn(absl::string_view event, std::initializer_list<Field> fields) {
  Write("warn", event, fields);
}
void Error(absl::string_view event, std::initializer_list<Field> fields) {
  Write("error", event, fields);
}

}  // namespace havengate::log
