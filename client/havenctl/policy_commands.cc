#include "client/havenctl/commands.h"

namespace havengate::havenctl {

// Placeholder until the policy commands land.
void RegisterPolicyCommands(CLI::App& app, CommandRunner& run) {
  (void)app;
  (void)run;
}

}  // namespace havengate::havenctl
