// Test harness for end-to-end tests: temporary directories, organisations
// with real CAs and certificates, real `havengate` processes on 127.0.0.1,
// real clients over mutual TLS, and waiting on conditions with deadlines
// instead of sleeping.
//
// Not thread-safe: one test drives its harness objects from one thread.
#ifndef HAVENGATE_TESTS_TESTING_HARNESS_H_
#define HAVENGATE_TESTS_TESTING_HARNESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certs/ca.h"
#include "client/client.h"

namespace havengate::testing {

// $HAVENGATE_SOURCE_DIR / $HAVENGATE_BINARY_DIR (set by ctest).
std::string SourceDir();
std::string BinaryDir();
std::string HavengateBinary();
std::string HavenctlBinary();

// A directory removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const;

 private:
  std::string path_;
};

// A port on 127.0.0.1 that was free a moment ago. Federation tests need
// each gateway's port before its peers' configs are written.
int PickUnusedPort();

// One organisation of a test federation: its CA and the certificates of
// its gateway, one integration client and one policy officer.
struct TestOrg {
  std::string id;      // e.g. police-nl
  std::string domain;  // e.g. police.nl.example
  std::string dir;     // everything of this org lives here
  std::string ca_dir;
  std::string ca_file;
  std::string crl_file;  // empty until WriteCrl
  std::string gateway_cert, gateway_key;
  std::string client_cert, client_key;
  std::string officer_cert, officer_key;
  std::string gateway_id() const { return "spiffe://" + domain + "/gateway"; }
  absl::StatusOr<pki::CertificateAuthority> OpenCa() const;
};

// Creates `<root>/<id>` with a CA and gateway/client/officer certificates.
absl::StatusOr<TestOrg> CreateTestOrg(const std::string& root,
                                      const std::string& id,
                                      const std::string& domain);

// Issues another certificate from `org`'s CA into `<org.dir>/<out_subdir>`.
absl::StatusOr<pki::IssuedCertificate> IssueCert(
    const TestOrg& org, pki::Role role, const std::string& name,
    const std::string& out_subdir);

// Copies deploy/policies/<deploy_org or org.id>/policy.yaml into
// `<org.dir>/policy/` and creates its key files; returns the copy's path.
absl::StatusOr<std::string> InstallDeployPolicy(const TestOrg& org,
                                                const std::string& deploy_org = "");

// A peer entry of a gateway config.
struct PeerSpec {
  const TestOrg* org;
  int port;
  // peers[].crl_refresh_seconds if > 0 (needs org->crl_file).
  int crl_refresh_seconds = 0;
};

struct GatewaySpec {
  const TestOrg* org = nullptr;
  int port = 0;  // 0: pick one
  std::vector<PeerSpec> peers;
  std::string policy_file;  // optional
  // Extra top-level YAML appended to the config (e.g. "limits: {...}").
  std::string extra_yaml;
  // If not empty: the command that runs the gateway instead of the
  // havengate binary (argv; `--config FILE` is appended). The benchmarks
  // run a gateway assembled in their own binary this way.
  std::vector<std::string> launcher;  // Replicas of one organisation (sharing a PostgreSQL database): each
  // instance has its own config, port, log and TLS state files, named
  // with this suffix ("": the organisation's only gateway).
  std::string instance;
  // If not empty: the store is this PostgreSQL database (libpq DSN)
  // instead of a file.
  std::string store_dsn;
};

// A running havengate process. Its stderr goes to `<org.dir>/gateway.log`.
class GatewayProcess {
 public:
  // Writes the config and starts the process; returns once it listens
  // (its port file appears) or fails with its log.
  static absl::StatusOr<std::unique_ptr<GatewayProcess>> Start(
      const GatewaySpec& spec);
  ~GatewayProcess();

  int port() const { return port_; }
  std::string address() const;
  const std::string& config_file() const { return config_file_; }
  const std::string& store_file() const { return store_file_; }
  std::string ReadLog() const;

  // SIGKILL and reap: no chance to flush anything.
  void Kill9();
  // SIGTERM and wait; returns the exit status.
  absl::StatusOr<int> Terminate(absl::Duration timeout = absl::Seconds(30));
  // Starts the same config again after Kill9/Terminate.
  absl::Status Restart();
  bool running() const { return pid_ > 0; }
  // Its process id while it runs (-1 otherwise).
  pid_t pid() const { return pid_; }

 private:
  GatewayProcess() = default;
  absl::Status Launch();

  std::vector<std::string> launcher_;
  std::string config_file_, port_file_, log_file_, store_file_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A client of `org`'s gateway at `port`, with the org's client certificate
// (or the given one).
absl::StatusOr<std::unique_ptr<client::Client>> ConnectClient(
    const TestOrg& org, int port, const std::string& cert = "",
    const std::string& key = "");
client::ConnectionOptions ClientOptions(const TestOrg& org, int port);

// Polls `condition` until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(30));

// Runs a command (argv[0] resolved by PATH), capturing stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& stdin_text = "");

// How often `what` occurs in `text` (overlapping occurrences too), e.g.
// how many times a gateway logged an event.
int CountOccurrences(const std::string& text, const std::string& what);

// Reads a sample item from deploy/samples/<name>.
absl::StatusOr<v1::Item> LoadSample(const std::string& name);

// A minimal valid alert with the given id.
v1::Item MakeAlert(const std::string& item_id, const std::string& title = "Stolen release PIN used");

}  // namespace havengate::testing

#endif  // HAVENGATE_TESTS_TESTING_HARNESS_H_
