#include "tests/bench/bench_gateway.h"

#include <pthread.h>

#include <csignal>
#include <iostream>

#include "absl/time/time.h"
#include "server/config/config.h"
#include "server/gateway.h"
#include "server/logging/log.h"
#include "tests/bench/bench_util.h"

namespace havengate::bench {
namespace {

constexpr char kServeGateway[] = "--serve-gateway";
constexpr char kDiscardAudit[] = "--discard-audit";
constexpr char kUnbatched[] = "--unbatched";
constexpr char kOldPushStreams[] = "--old-push-streams";

}  // namespace

std::vector<std::string> BenchGatewayLauncher(bool discard_audit, bool unbatched,
                                              bool old_push_streams) {
  std::vector<std::string> command = {SelfPath(), kServeGateway};
  if (discard_audit) command.push_back(kDiscardAudit);
  if (unbatched) command.push_back(kUnbatched);
  if (old_push_streams) command.push_back(kOldPushStreams);
  return command;
}

std::optional<int> RunBenchGatewayIfAsked(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != kServeGateway) return std::nullopt;
  bool discard_audit = false;
  bool unbatched = false;
  bool old_push_streams = false;
  std::string config_path;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == kDiscardAudit) {
      discard_audit = true;
    } else if (arg == kUnbatched) {
      unbatched = true;
    } else if (arg == kOldPushStreams) {
      old_push_streams = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else {
      std::cerr << "bench gateway: unexpected argument " << arg << "\n";
      return 2;
    }
  }
  // As server/main.cc: the stop signals are blocked in every thread and
  // received by sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<config::GatewayConfig> config =
      config::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "bench gateway: " << config.status().message() << "\n";
    return 2;
  }
  config->discard_audit_for_benchmark = discard_audit;
  config->unbatched_links_for_benchmark = unbatched;
  config->unbatched_push_streams_for_testing = old_push_streams;
  log::Configure(config->log_format == "json" ? log::Format::kJson
                                              : log::Format::kText);
  auto gateway = server::Gateway::Start(*config);
  if (!gateway.ok()) {
    std::cerr << "bench gateway: cannot start: " << gateway.status().message()
              << "\n";
    return 1;
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  (*gateway)->Shutdown(absl::Seconds(10));
  return 0;
}

}  // namespace havengate::bench
