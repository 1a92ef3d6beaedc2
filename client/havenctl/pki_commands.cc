#include "client/havenctl/commands.h"

namespace havengate::havenctl {

// Placeholder until the pki commands land.
void RegisterPkiCommands(CLI::App& app, CommandRunner& run) {
  (void)app;
  (void)run;
}

}  // namespace havengate::havenctl
