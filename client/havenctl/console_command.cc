// `havenctl console`: the policy officers' console (client/console) on
// 127.0.0.1, talking to the gateway with the officer's certificate from the
// connection settings like every other command. Prints the one-time URL
// (and opens it with --open), then serves until interrupted.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "client/console/console_server.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"

namespace havengate::havenctl {
namespace {

struct ConsoleFlags {
  ConnectionFlags connection;
  int port = 0;
  bool open = false;
};

int RunConsole(const ConsoleFlags& f) {
  absl::StatusOr<client::ConnectionOptions> options = f.connection.Resolve();
  if (!options.ok()) {
    std::cerr << "havenctl console: " << options.status().message() << "\n";
    return 1;
  }
  // Wait for SIGINT/SIGTERM in this thread; block them before any thread
  // starts so that none of the server's threads takes them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  console::ConsoleOptions console_options;
  console_options.connection = *options;
  console_options.port = f.port;
  absl::StatusOr<std::unique_ptr<console::ConsoleServer>> server =
      console::ConsoleServer::Start(console_options);
  if (!server.ok()) {
    std::cerr << "havenctl console: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << "havengate console for " << options->address << " as " << options->certificate
            << "\nOpen this URL in your browser (it works once):\n  " << (*server)->url()
            << "\nStop with Ctrl-C." << std::endl;
  if (f.open) {
    // xdg-open gets the URL as one argument, never through a shell. The
    // child only calls exec: nothing allocates after fork.
    const std::string url = (*server)->url();
    pid_t child = fork();
    if (child == 0) {
      execlp("xdg-open", "xdg-open", url.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  int signal_number = 0;
  sigwait(&stop, &signal_number);
  (*server)->Stop();
  return 0;
}

}  // namespace

void RegisterConsoleCommand(CLI::App& app, CommandRunner& run) {
  auto* cmd = app.add_subcommand(
      "console",
      "the policy officers' console: a web page on 127.0.0.1 for the gateway's policy, "
      "proposals, previews and evidence, with your officer certificate");
  auto f = std::make_shared<ConsoleFlags>();
  f->connection.AddTo(*cmd);
  cmd->add_option("--port", f->port, "port on 127.0.0.1 (default: a free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--open", f->open, "open the URL in the desktop's browser (xdg-open)");
  cmd->callback([&run, f] { run = [f] { return RunConsole(*f); }; });
}

}  // namespace havengate::havenctl
