// Small helpers the benchmarks share: medians and percentiles, the CPU
// time of a process, the machine's load average, and finding the build
// tree (so the harness starts the `havengate` built beside the benchmark).
#ifndef HAVENGATE_TESTS_BENCH_BENCH_UTIL_H_
#define HAVENGATE_TESTS_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace havengate::bench {

using Clock = std::chrono::steady_clock;

// Median of `values` (the mean of the middle two for an even count); 0 if
// empty.
double Median(std::vector<double> values);

// The median of `field(round)` over `rounds`.
template <typename Round, typename F>
double MedianOf(const std::vector<Round>& rounds, F field) {
  std::vector<double> values;
  for (const Round& r : rounds) values.push_back(field(r));
  return Median(values);
}

// Nearest-rank percentile (q in (0, 1]) of ascending `sorted`; zero if
// empty.
absl::Duration Percentile(const std::vector<absl::Duration>& sorted, double q);

// Milliseconds, for printing.
double Ms(absl::Duration d);

// `end - start` as an absl::Duration.
absl::Duration Since(Clock::time_point start, Clock::time_point end);

// CPU seconds (user + system) process `pid` has used so far (10 ms
// ticks); 0 if it cannot be read.
double ProcessCpuSeconds(pid_t pid);

// "1 min / 5 min / 15 min" load averages from /proc/loadavg: how busy the
// machine was. Other work skews every figure; ratios measured in the same
// rounds less so.
std::string LoadAverage();

// Sets HAVENGATE_BINARY_DIR to the build tree this binary lives in
// (<build>/tests/bench/<binary>) unless it is set already: the harness
// starts <build>/server/havengate.
void LocateBuildTree();

// The path of the running binary (to re-execute it in a child mode).
std::string SelfPath();

// A benchmark's main() after its child modes: parses `argv` into `app`,
// then calls `prepare` (e.g. to apply --quick), finds the build tree and
// runs `run`. Returns the process exit code: 0, 2 for bad flags, 1 if
// `run` failed (its status on stderr after "`name`: ").
int ParseAndRun(CLI::App& app, int argc, char** argv, const std::string& name,
                const std::function<void()>& prepare,
                const std::function<absl::Status()>& run);

// The options the benchmarks of one or three gateways take.
struct CommonFlags {
  explicit CommonFlags(int default_items) : items(default_items) {}
  // Adds --quick, --rounds, --items, --window, --rate, --latency-seconds,
  // --json-out and --item (described by `item_help`).
  void AddTo(CLI::App& app, const std::string& item_help);
  // After parsing: applies --distinct-keys; --quick means 500 items, 1
  // round, 1 s of Push latency.
  void ApplyQuick();

  bool quick = false;
  int rounds = 5;
  int items;
  int window = 1024;
  double rate = 1000;
  double latency_seconds = 5;
  // --no-client-batches: the client library's PushStream sends one item
  // per message (Client::PushStreamOptions::batches), the baseline.
  bool client_batches = true;
  // --distinct-keys: SetDistinctKeys(true) (bench_alert.h).
  bool distinct_keys = false;
  std::string json_out;
  // Proto3 JSON of the item to push instead of the built-in alert.
  std::string item_file;
};

}  // namespace havengate::bench

#endif  // HAVENGATE_TESTS_BENCH_BENCH_UTIL_H_
