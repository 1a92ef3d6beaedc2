// `havenctl peer bundle export` and `havenctl peer add`: onboarding a
// partner organisation with one file each way (peer_bundle.h).
#include <fstream>
#include <iostream>
#include <memory>

#include "certs/file_util.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/peer_bundle.h"

namespace havengate::havenctl {
namespace {

int RunExport(const std::string& config, const std::string& address, const std::string& crl_url,
              const std::string& out) {
  absl::StatusOr<PartnerBundle> bundle = ExportBundle(config, address, crl_url);
  if (!bundle.ok()) {
    std::cerr << "havenctl peer bundle export: " << bundle.status().message() << "\n";
    return 1;
  }
  const std::string text = BundleToYaml(*bundle);
  if (out.empty() || out == "-") {
    std::cout << text;
  } else if (absl::Status s = pki::WriteNewFile(out, text, 0644); !s.ok()) {
    std::cerr << "havenctl peer bundle export: " << s.message() << "\n";
    return 1;
  } else {
    std::cerr << "wrote " << out << " for " << bundle->organisation_id
              << "; CA fingerprint (SHA-256) " << bundle->ca_sha256 << "\n";
  }
  return 0;
}

int RunAdd(const std::string& file, const std::string& config) {
  absl::StatusOr<std::string> text = pki::ReadFileToString(file);
  if (!text.ok()) {
    std::cerr << "havenctl peer add: " << text.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<PartnerBundle> bundle = ParseBundle(*text, file);
  if (!bundle.ok()) {
    std::cerr << "havenctl peer add: " << bundle.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::string> entry = AddPeerToConfig(config, *bundle);
  if (!entry.ok()) {
    std::cerr << "havenctl peer add: " << entry.status().message() << "\n";
    return 1;
  }
  std::cout << "added " << bundle->organisation_id << " to " << config << ":\n  - " << *entry
            << "\nCA fingerprint (SHA-256) " << bundle->ca_sha256
            << " - confirm it with the partner by another channel.\n"
            << "Next: name the partner in your policy (partners, rules, inbound), check with\n"
            << "  havengate --config " << config << " --check-config\n"
            << "and restart the gateway.\n";
  return 0;
}

}  // namespace

void RegisterPeerCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* peer = app.add_subcommand("peer", "onboard partner organisations");
  peer->require_subcommand(1);
  {
    CLI::App* bundle = peer->add_subcommand("bundle", "partner bundles");
    bundle->require_subcommand(1);
    auto* cmd = bundle->add_subcommand(
        "export", "write this organisation's partner bundle (CA, CRL, gateway address and "
                  "identity) for a partner to `peer add`");
    auto config = std::make_shared<std::string>();
    auto address = std::make_shared<std::string>();
    auto crl_url = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    cmd->add_option("--config", *config, "this gateway's configuration file")->required();
    cmd->add_option("--address", *address,
                    "host:port where partners reach this gateway")->required();
    cmd->add_option("--crl-url", *crl_url, "where partners can fetch newer CRLs (optional)");
    cmd->add_option("--out", *out, "the bundle file to write (default: standard output)");
    cmd->callback([&run, config, address, crl_url, out] {
      run = [=] { return RunExport(*config, *address, *crl_url, *out); };
    });
  }
  {
    auto* cmd = peer->add_subcommand(
        "add", "check a partner's bundle and add the partner to this gateway's configuration "
               "(its CA and CRL under peers/<id>/, an entry under peers:)");
    auto file = std::make_shared<std::string>();
    auto config = std::make_shared<std::string>();
    cmd->add_option("bundle", *file, "the partner's bundle file")->required();
    cmd->add_option("--config", *config, "this gateway's configuration file")->required();
    cmd->callback([&run, file, config] { run = [=] { return RunAdd(*file, *config); }; });
  }
}

}  // namespace havengate::havenctl
