// havengate: the gateway daemon. Reads its config, starts the gateway and
// runs until SIGTERM or SIGINT, then drains in-flight calls and closes the
// store cleanly. SIGHUP (systemctl reload) reads the configuration file
// again and applies it, or refuses it as a whole (Gateway::Reload); it
// never stops the gateway.
#include <sys/stat.h>

#include <csignal>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "havengate/version.h"
#include "server/config/config.h"
#include "server/gateway.h"
#include "server/logging/grpc_log.h"
#include "server/logging/log.h"
#include "server/preflight/preflight.h"

int main(int argc, char** argv) {
  CLI::App app{"havengate: secure information-sharing gateway"};
  app.set_version_flag("--version", havengate::VersionText("havengate"),
                       "print the version and the library versions, then exit");
  std::string config_path;
  bool check_only = false;
  int grace_seconds = 10;
  app.add_option("-c,--config", config_path, "gateway configuration file (YAML)")
      ->required();
  app.add_flag("--check-config", check_only,
               "validate the configuration and exit");
  app.add_option("--shutdown-grace-seconds", grace_seconds,
                 "how long in-flight calls may finish on SIGTERM")
      ->check(CLI::Range(0, 300));
  CLI11_PARSE(app, argc, argv);

  // Everything the gateway creates (store, audit checkpoints, TLS state,
  // policy history) holds data or evidence meant for this organisation
  // only: owner-only, whatever umask the gateway was started with.
  umask(0077);

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto config = havengate::config::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "havengate: " << config.status().message() << "\n";
    return 2;
  }
  // Everything a start checks (the policy, certificates and keys, files,
  // the store's location, free ports), before anything is created.
  absl::Status ready = havengate::preflight::CheckBeforeStart(*config);
  if (!ready.ok()) {
    std::cerr << "havengate: " << config_path << ": the gateway cannot start:\n"
              << ready.message() << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << config_path << ": configuration is valid; the gateway can start\n";
    return 0;
  }
  havengate::log::Configure(config->log_format == "json"
                                ? havengate::log::Format::kJson
                                : havengate::log::Format::kText);
  havengate::log::RouteGrpcLogs();
  auto gateway = havengate::server::Gateway::Start(*config);
  if (!gateway.ok()) {
    havengate::log::Error("gateway_start_failed",
                          {{"reason", gateway.status().message()}});
    std::cerr << "havengate: cannot start: " << gateway.status().message()
              << "\n";
    return 1;
  }
  int signal = 0;
  for (;;) {
    sigwait(&stop_signals, &signal);
    if (signal != SIGHUP) break;
    (void)(*gateway)->Reload(config_path);  // logged, counted and audited there
  }
  havengate::log::Info("shutdown_requested",
                       {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*gateway)->Shutdown(absl::Seconds(grace_seconds));
  return 0;
}
