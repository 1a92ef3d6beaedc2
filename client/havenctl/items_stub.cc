#include "client/havenctl/commands.h"

namespace havengate::havenctl {

// Placeholder until the client library can be built.
void RegisterItemsCommands(CLI::App& app, CommandRunner& run) {
  (void)app;
  (void)run;
}

}  // namespace havengate::havenctl
