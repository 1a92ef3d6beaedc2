// `havenctl store backup|restore`: an online copy of a gateway's state and
// putting it back into a stopped gateway's location (store_backup.h). The
// location comes from the gateway's config file (--config) or from the
// store path (--store, with the default names beside it).
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/store_backup.h"

namespace havengate::havenctl {
namespace {

struct LocationFlags {
  std::string config;
  std::string store;

  void AddTo(CLI::App& cmd) {
    auto* c = cmd.add_option("--config", config,
                             "the gateway's config file (store.path, "
                             "audit.checkpoint_file, tls.state_dir)");
    auto* s = cmd.add_option("--store", store,
                             "the store file, with the policy history, "
                             "checkpoints and TLS state at their default "
                             "names beside it");
    c->excludes(s);
    s->excludes(c);
  }
  absl::StatusOr<StateLocation> Build() const {
    if (!config.empty()) return StateLocationFromConfig(config);
    if (!store.empty()) return StateLocationOfStore(store);
    return absl::InvalidArgumentError("pass --config or --store");
  }
};

int Fail(absl::string_view command, const absl::Status& status) {
  std::cerr << "havenctl store " << command << ": " << status.message() << "\n";
  return absl::IsInvalidArgument(status) ? 2 : 1;
}

void PrintManifest(const Manifest& m) {
  for (const ManifestFile& f : m.files) {
    std::cout << "  " << f.name << "  " << f.size << " bytes  sha256:" << f.sha256 << "\n";
  }
  std::cout << "audit head: sequence " << m.audit_head_sequence << "\n";
}

}  // namespace

void RegisterStoreCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* store = app.add_subcommand(
      "store", "back up a running gateway's state, restore it into a stopped one");
  store->require_subcommand(1);

  auto backup_location = std::make_shared<LocationFlags>();
  auto out = std::make_shared<std::string>();
  CLI::App* backup = store->add_subcommand(
      "backup",
      "copy the store, policy history, audit checkpoints and TLS state into a "
      "new directory, consistently, while the gateway runs");
  backup_location->AddTo(*backup);
  backup->add_option("--out", *out, "the backup directory (new or empty)")->required();
  backup->callback([&run, backup_location, out] {
    run = [backup_location, out] {
      absl::StatusOr<StateLocation> from = backup_location->Build();
      if (!from.ok()) return Fail("backup", from.status());
      absl::StatusOr<Manifest> m = BackupState(*from, *out);
      if (!m.ok()) return Fail("backup", m.status());
      std::cout << "backed up " << from->store << " into " << *out << ":\n";
      PrintManifest(*m);
      return 0;
    };
  });

  auto restore_location = std::make_shared<LocationFlags>();
  auto from_dir = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  CLI::App* restore = store->add_subcommand(
      "restore",
      "check a backup against its manifest and put it into a stopped "
      "gateway's state location");
  restore_location->AddTo(*restore);
  restore->add_option("--from", *from_dir, "the backup directory")->required();
  restore->add_flag("--force", *force, "replace the state that is there");
  restore->callback([&run, restore_location, from_dir, force] {
    run = [restore_location, from_dir, force] {
      absl::StatusOr<StateLocation> to = restore_location->Build();
      if (!to.ok()) return Fail("restore", to.status());
      absl::StatusOr<Manifest> m = RestoreState(*from_dir, *to, *force);
      if (!m.ok()) return Fail("restore", m.status());
      std::cout << "restored " << *from_dir << " (taken " << m->created_at
                << ") into " << to->store << ":\n";
      PrintManifest(*m);
      return 0;
    };
  });
}

}  // namespace havengate::havenctl
