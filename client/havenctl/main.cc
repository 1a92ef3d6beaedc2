// havenctl: the command-line tool for operators, integration developers and
// policy officers. Parses the command line and runs the selected command.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "havengate/version.h"
#include "client/havenctl/commands.h"

namespace {

// The words left over below the deepest command given, e.g. {"chekc"} for
// `havenctl policy chekc`.
std::vector<std::string> UnknownWords(const CLI::App& app) {
  const CLI::App* deepest = &app;
  for (;;) {
    std::vector<CLI::App*> selected = deepest->get_subcommands();
    if (selected.empty()) break;
    deepest = selected.front();
  }
  // CLI11 keeps them last word first.
  std::vector<std::string> words = deepest->remaining();
  std::reverse(words.begin(), words.end());
  return words;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "havenctl: work with a havengate gateway, its sharing policy and its "
      "certificates"};
  app.set_version_flag("--version", havengate::VersionText("havenctl"),
                       "print the version and the library versions, then exit");
  app.require_subcommand(1);
  havengate::havenctl::CommandRunner run;
  havengate::havenctl::RegisterItemsCommands(app, run);
  havengate::havenctl::RegisterHitsCommands(app, run);
  havengate::havenctl::RegisterRequestsCommands(app, run);
  havengate::havenctl::RegisterPolicyCommands(app, run);
  havengate::havenctl::RegisterPkiCommands(app, run);
  havengate::havenctl::RegisterAuditCommands(app, run);
  havengate::havenctl::RegisterHealthCommand(app, run);
  havengate::havenctl::RegisterPeerCommands(app, run);
  havengate::havenctl::RegisterStoreCommands(app, run);
  havengate::havenctl::RegisterConsoleCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RequiredError& e) {
    // CLI11 checks that a subcommand was chosen before it complains about
    // words it did not know: say which word was not a command.
    std::vector<std::string> unknown = UnknownWords(app);
    if (!unknown.empty()) {
      app.exit(CLI::ExtrasError(unknown));
      return 2;
    }
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!run) {
    std::cerr << "havenctl: choose a command; see --help\n";
    return 2;
  }
  return run();
}
