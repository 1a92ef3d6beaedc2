// havenctl: the command-line tool for operators, integration developers and
// policy officers. Parses the command line and runs the selected command.
#include <iostream>

#include "CLI/CLI.hpp"
#include "havengate/version.h"
#include "client/havenctl/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "havenctl: work with a havengate gateway, its sharing policy and its "
      "certificates"};
  app.set_version_flag("--version", havengate::VersionText("havenctl"),
                       "print the version and the library versions, then exit");
  app.require_subcommand(1);
  havengate::havenctl::CommandRunner run;
  havengate::havenctl::RegisterItemsCommands(app, run);
  havengate::havenctl::RegisterPolicyCommands(app, run);
  havengate::havenctl::RegisterPkiCommands(app, run);
  havengate::havenctl::RegisterAuditCommands(app, run);
  havengate::havenctl::RegisterHealthCommand(app, run);
  havengate::havenctl::RegisterStoreCommands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!run) {
    std::cerr << "havenctl: choose a command; see --help\n";
    return 2;
  }
  return run();
}
