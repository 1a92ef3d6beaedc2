// `havenctl health`: is the gateway serving, and are its partners' links?
// For scripts and probes: exit 0 when both are SERVING, 1 when either is
// not, 2 when the gateway cannot be asked (the reason on stderr).
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "proto/json.h"

namespace havengate::havenctl {
namespace {

using Status = grpc::health::v1::HealthCheckResponse;

int RunHealth(const ConnectionFlags& connection, bool json) {
  absl::StatusOr<std::unique_ptr<client::Client>> client = connection.Connect();
  if (!client.ok()) {
    std::cerr << "havenctl health: " << client.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<Status::ServingStatus> overall = (*client)->Health("");
  if (!overall.ok()) {
    std::cerr << "havenctl health: cannot ask " << (*client)->options().address << ": "
              << overall.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<Status::ServingStatus> federation = (*client)->Health("havengate.v1.Federation");
  if (!federation.ok()) {
    std::cerr << "havenctl health: cannot ask " << (*client)->options().address
              << " about its partners: " << federation.status().message() << "\n";
    return 2;
  }
  // The policy file on disk: informational (the gateway serves with its
  // last good policy), so it does not change the exit status.
  absl::StatusOr<Status::ServingStatus> policy_file = (*client)->Health("havengate.v1.PolicyFile");
  const std::string policy_file_name =
      policy_file.ok() ? Status::ServingStatus_Name(*policy_file) : "UNKNOWN";
  // The last configuration reload (SIGHUP): informational too.
  absl::StatusOr<Status::ServingStatus> config = (*client)->Health("havengate.v1.Config");
  const std::string config_name =
      config.ok() ? Status::ServingStatus_Name(*config) : "UNKNOWN";
  const bool serving = *overall == Status::SERVING && *federation == Status::SERVING;
  const std::string& address = (*client)->options().address;
  if (json) {
    std::cout << "{\"address\":" << JsonQuote(address)
              << ",\"gateway\":" << JsonQuote(Status::ServingStatus_Name(*overall))
              << ",\"federation\":" << JsonQuote(Status::ServingStatus_Name(*federation))
              << ",\"policy_file\":" << JsonQuote(policy_file_name)
              << ",\"config\":" << JsonQuote(config_name)
              << ",\"serving\":" << (serving ? "true" : "false") << "}\n";
  } else {
    std::cout << "gateway     " << Status::ServingStatus_Name(*overall) << "   (" << address
              << "; NOT_SERVING: its store is unavailable)\n"
              << "federation  " << Status::ServingStatus_Name(*federation)
              << "   (NOT_SERVING: a partner is unreachable with items waiting for it)\n"
              << "policy file " << policy_file_name
              << "   (NOT_SERVING: an edit on disk was refused; the last good policy stays "
                 "active and the next start would refuse the file)\n"
              << "config      " << config_name
              << "   (NOT_SERVING: the last reload of the configuration file was refused; "
                 "the running configuration stays, see the log)\n";
  }
  return serving ? 0 : 1;
}

}  // namespace

void RegisterHealthCommand(CLI::App& app, CommandRunner& run) {
  auto* cmd = app.add_subcommand(
      "health",
      "ask the gateway whether it serves and whether its partners' links work; "
      "exit 0 if both, 1 if not, 2 if it cannot be asked");
  auto connection = std::make_shared<ConnectionFlags>();
  auto json = std::make_shared<bool>(false);
  connection->AddTo(*cmd);
  cmd->add_flag("--json", *json, "one JSON object");
  cmd->callback([&run, connection, json] {
    run = [connection, json] { return RunHealth(*connection, *json); };
  });
}

}  // namespace havengate::havenctl
