// `havenctl health`: is the gateway serving, and are its partners' links?
// For scripts and probes: exit 0 when both are SERVING, 1 when either is
// not, 2 when the gateway cannot be asked (the reason on stderr). It also
// shows each partner's link and this gateway's copy of the partner's CRL
// (GatewayStatus): informational, like the policy file, so the exit status
// does not depend on it.
#include <iostream>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/gateway_status.grpc.pb.h"
#include "proto/json.h"
#include "proto/timestamp.h"

namespace havengate::havenctl {
namespace {

using Status = grpc::health::v1::HealthCheckResponse;

// The peers' status, or nullopt (reason on stderr) if the gateway does not
// give it: an older gateway, or a caller that may not ask.
std::optional<v1::GetStatusResponse> AskPeerStatus(client::Client& client) {
  auto stub = v1::GatewayStatus::NewStub(client.channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetStatusResponse response;
  grpc::Status status = stub->GetStatus(&context, v1::GetStatusRequest(), &response);
  if (!status.ok()) {
    std::cerr << "havenctl health: the gateway did not report its partners: "
              << status.error_message() << "\n";
    return std::nullopt;
  }
  return response;
}

// fresh, stale (past nextUpdate), never_fetched, not_configured.
std::string CrlStateWord(v1::PeerCrlState state) {
  switch (state) {
    case v1::PEER_CRL_FRESH:
      return "fresh";
    case v1::PEER_CRL_STALE:
      return "stale";
    case v1::PEER_CRL_NEVER_FETCHED:
      return "never_fetched";
    case v1::PEER_CRL_NOT_CONFIGURED:
      return "not_configured";
    default:
      return "unknown";
  }
}

// RFC 3339 in UTC, or "" for an unset time.
std::string When(bool set, const google::protobuf::Timestamp& ts) {
  return set ? absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", FromTimestamp(ts), absl::UTCTimeZone())
             : "";
}

std::string PeersJson(const std::optional<v1::GetStatusResponse>& status) {
  if (!status.has_value()) return "null";
  std::string out = "[";
  for (const v1::PeerStatus& p : status->peers()) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, "{\"partner\":", JsonQuote(p.partner()),
                    ",\"connected\":", p.connected() ? "true" : "false",
                    ",\"link_break_reason\":", JsonQuote(p.link_break_reason()),
                    ",\"crl\":", JsonQuote(CrlStateWord(p.crl_state())),
                    ",\"crl_number\":", p.crl_number(),
                    ",\"crl_next_update\":",
                    JsonQuote(When(p.has_crl_next_update(), p.crl_next_update())),
                    ",\"crl_last_fetched\":",
                    JsonQuote(When(p.has_crl_last_fetched(), p.crl_last_fetched())), "}");
  }
  return out + "]";
}

void PrintPeers(const std::optional<v1::GetStatusResponse>& status) {
  if (!status.has_value()) {
    std::cout << "partners    not reported by this gateway\n";
    return;
  }
  std::cout << "partners    " << status->peers_size()
            << "   (crl: fresh, stale = past its nextUpdate, never_fetched since the "
               "gateway started)\n";
  for (const v1::PeerStatus& p : status->peers()) {
    std::cout << "  " << p.partner() << "  link "
              << (p.connected()                        ? "up"
                  : p.link_break_reason().empty() ? "not connected"
                                                  : absl::StrCat("broken (", p.link_break_reason(), ")"))
              << "  crl " << CrlStateWord(p.crl_state());
    if (p.crl_state() != v1::PEER_CRL_NOT_CONFIGURED) {
      std::cout << " (number " << p.crl_number() << ", next update "
                << When(p.has_crl_next_update(), p.crl_next_update()) << ", fetched "
                << (p.has_crl_last_fetched() ? When(true, p.crl_last_fetched()) : "never")
                << ")";
    }
    std::cout << "\n";
  }
}

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
  const std::optional<v1::GetStatusResponse> peers = AskPeerStatus(**client);
  if (json) {
    std::cout << "{\"address\":" << JsonQuote(address)
              << ",\"gateway\":" << JsonQuote(Status::ServingStatus_Name(*overall))
              << ",\"federation\":" << JsonQuote(Status::ServingStatus_Name(*federation))
              << ",\"policy_file\":" << JsonQuote(policy_file_name)
              << ",\"config\":" << JsonQuote(config_name)
              << ",\"serving\":" << (serving ? "true" : "false")
              << ",\"peers\":" << PeersJson(peers) << "}\n";
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
    PrintPeers(peers);
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
