// havenctl command groups. Each group registers its subcommands on the CLI11
// app; main() only assembles them. A command returns its process exit code
// (0 success, 1 failure, 2 usage error) and prints plain errors to stderr.
#ifndef HAVENGATE_CLIENT_HAVENCTL_COMMANDS_H_
#define HAVENGATE_CLIENT_HAVENCTL_COMMANDS_H_

#include <functional>

#include "CLI/CLI.hpp"

namespace havengate::havenctl {

// Where a selected subcommand stores the work to run once parsing is done.
// Exactly one callback is set by the subcommand CLI11 selected.
using CommandRunner = std::function<int()>;

// `havenctl items ...`: push, list, watch, retract (talks to a gateway).
void RegisterItemsCommands(CLI::App& app, CommandRunner& run);
// `havenctl hits list|watch`: hits the gateway recorded.
void RegisterHitsCommands(CLI::App& app, CommandRunner& run);
// `items request` (under the `items` command) and `requests ...`.
void RegisterItemsRequestCommand(CLI::App& items, CommandRunner& run);
void RegisterRequestsCommands(CLI::App& app, CommandRunner& run);
// `audit requests` (under the `audit` command).
void RegisterAuditRequestsCommand(CLI::App& audit, CommandRunner& run);
// `havenctl policy ...`: check, validate, preview, test, diff (offline, or
// at the gateway with --remote), and the officers' commands at the gateway
// (RegisterPolicyAdminCommands).
void RegisterPolicyCommands(CLI::App& app, CommandRunner& run);

// `havenctl policy propose|approve|activate|rollback|history`: the
// gateway's PolicyAdmin service, with an officer certificate.
void RegisterPolicyAdminCommands(CLI::App& policy_cmd, CommandRunner& run);
// `havenctl pki ...`: CAs, certificates, CRLs.
void RegisterPkiCommands(CLI::App& app, CommandRunner& run);
// `havenctl audit ...`: verify, export, shared, received, rule (offline, on
// a gateway's store file).
void RegisterAuditCommands(CLI::App& app, CommandRunner& run);
// `havenctl health`: the gateway's and its federation's health, for probes.
void RegisterHealthCommand(CLI::App& app, CommandRunner& run);
// `havenctl peer bundle export|add`: onboarding a partner (peer_bundle.h).
void RegisterPeerCommands(CLI::App& app, CommandRunner& run);
// `havenctl console`: the policy officers' console (client/console).
void RegisterConsoleCommand(CLI::App& app, CommandRunner& run);
// `havenctl store backup|restore`: a gateway's state (store_backup.h).
void RegisterStoreCommands(CLI::App& app, CommandRunner& run);

}  // namespace havengate::havenctl

#endif  // HAVENGATE_CLIENT_HAVENCTL_COMMANDS_H_
