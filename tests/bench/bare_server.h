// The ceiling the ingest benchmark compares the gateway with: a bare gRPC
// server of havengate.v1.Ingest behind the same mutual TLS (server
// certificate from the organisation's CA, client certificate required and
// verified) that answers every Push and every PushStream item with OK and
// does nothing else - no validation, no storage, no logging.
//
// It runs in its own process (the benchmark binary re-executed with
// --serve-bare), so that, like the gateway, it has its own gRPC runtime and
// its costs are not mixed with the client's.
//
// The same child also plays the two parts of the bare relay, the
// federation benchmark's second ceiling (transport alone in the topology
// A -> {B, C}, nothing stored, decided or audited):
// - a relay (BareMode::kRelay): serves Ingest.PushStream, answers each item
//   at once and forwards it on one Federation.Exchange stream to each of
//   `forward_to` (mutual TLS, as a gateway's peer link), reading their
//   acknowledgements;
// - a receiver (BareMode::kReceiver): serves Federation.Exchange,
//   acknowledging each message at once, and Inbox.Subscribe, streaming
//   every item received to its subscribers as an inbox entry.
#ifndef HAVENGATE_TESTS_BENCH_BARE_SERVER_H_
#define HAVENGATE_TESTS_BENCH_BARE_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace havengate::bench {

enum class BareMode { kIngest, kRelay, kReceiver };

struct BareServerOptions {
  BareMode mode = BareMode::kIngest;
  // kRelay: the receivers' ports on 127.0.0.1 and the identity their
  // certificate carries (the relay presents `certificate` as its own).
  std::vector<int> forward_to;
  std::string receiver_id;
  std::string certificate;  // PEM file of the server certificate
  std::string private_key;  // its key
  std::string ca;           // CA that client certificates must chain to
  // Written (atomically) with the bound port once the server listens.
  std::string port_file;
};

// Serves on 127.0.0.1 (a free port) until the process is terminated.
// Returns a process exit code (non-zero if the server could not start).
int RunBareServer(const BareServerOptions& options);

// For a benchmark's main(), before it parses its own flags: if `argv` is
// the command line BareServerProcess::Start runs (`--serve-bare ...`),
// serves and returns the exit code; otherwise returns nullopt.
std::optional<int> RunBareServerIfAsked(int argc, char** argv);

// A bare server in a child process: `self` re-executed with --serve-bare.
class BareServerProcess {
 public:
  // Starts the child and waits until it listens (at most 30 s).
  static absl::StatusOr<std::unique_ptr<BareServerProcess>> Start(
      const std::string& self, const BareServerOptions& options);
  // Terminates and reaps the child.
  ~BareServerProcess();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  BareServerProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace havengate::bench

#endif  // HAVENGATE_TESTS_BENCH_BARE_SERVER_H_
