#include "tests/bench/bench_util.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "tests/bench/bench_alert.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace havengate::bench {

namespace fs = std::filesystem;

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  if (n == 0) return 0;
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

absl::Duration Percentile(const std::vector<absl::Duration>& sorted,
                          double q) {
  if (sorted.empty()) return absl::ZeroDuration();
  size_t rank = static_cast<size_t>(std::ceil(q * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

absl::Duration Since(Clock::time_point start, Clock::time_point end) {
  return absl::FromChrono(end - start);
}

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name; utime and stime are the
  // 14th and 15th fields of the line, i.e. the 12th and 13th after it.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields =
      absl::StrSplit(text.substr(close + 2), ' ', absl::SkipEmpty());
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

void LocateBuildTree() {
  if (std::getenv("HAVENGATE_BINARY_DIR") != nullptr) return;
  std::error_code ec;
  fs::path exe = fs::canonical("/proc/self/exe", ec);
  if (ec) return;
  fs::path build = exe.parent_path().parent_path().parent_path();
  setenv("HAVENGATE_BINARY_DIR", build.c_str(), 1);
}

std::string SelfPath() {
  std::error_code ec;
  fs::path exe = fs::canonical("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : exe.string();
}

void CommonFlags::AddTo(CLI::App& app, const std::string& item_help) {
  app.add_flag("--quick", quick,
               "Smoke run: 500 items, 1 round, 1 s of Push latency");
  app.add_option("--rounds", rounds, "Rounds (medians are reported)")
      ->check(CLI::PositiveNumber);
  app.add_option("--items", items, "Items per stream per round")
      ->check(CLI::PositiveNumber);
  app.add_option("--window", window, "Unanswered items in flight")
      ->check(CLI::PositiveNumber);
  app.add_option("--rate", rate, "Push calls per second (open loop)")
      ->check(CLI::PositiveNumber);
  app.add_option("--latency-seconds,--seconds", latency_seconds,
                 "Duration of each Push latency run")
      ->check(CLI::PositiveNumber);
  app.add_flag("!--no-client-batches", client_batches,
               "The client library's PushStream sends one item per message "
               "(no batches): the baseline");
  app.add_flag("--distinct-keys", distinct_keys,
               "Every pushed copy gets container numbers, an IMO number and "
               "an MMSI of its own, so that no copy is a hit on another");
  app.add_option("--json-out", json_out,
                 "Also write the figures as JSON to this file");
  app.add_option("--item", item_file, item_help)->check(CLI::ExistingFile);
}

void CommonFlags::ApplyQuick() {
  SetDistinctKeys(distinct_keys);
  if (!quick) return;
  rounds = 1;
  items = 500;
  latency_seconds = 1;
}

int ParseAndRun(CLI::App& app, int argc, char** argv, const std::string& name,
                const std::function<void()>& prepare,
                const std::function<absl::Status()>& run) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  prepare();
  LocateBuildTree();
  absl::Status status = run();
  if (!status.ok()) {
    std::cerr << name << ": " << status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace havengate::bench
