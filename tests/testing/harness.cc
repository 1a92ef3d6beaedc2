#include "tests/testing/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proto/json.h"
#include "policy/policy.h"
#include "proto/status_macros.h"

namespace havengate::testing {
namespace fs = std::filesystem;

namespace {

std::string Env(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

// The environment wins so a test binary can run against another tree; the
// directories compiled in are right for ctest and for running a test by hand.
std::string SourceDir() {
  return Env("HAVENGATE_SOURCE_DIR", HAVENGATE_SOURCE_DIR_DEFAULT);
}
std::string BinaryDir() {
  return Env("HAVENGATE_BINARY_DIR", HAVENGATE_BINARY_DIR_DEFAULT);
}
std::string HavengateBinary() { return BinaryDir() + "/server/havengate"; }
std::string HavenctlBinary() { return BinaryDir() + "/client/havenctl"; }

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TEST_TMPDIR");
  path_ = absl::StrCat(base != nullptr ? base : "/tmp", "/havengate-test-",
                       getpid(), "-", counter++);
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  if (std::getenv("HAVENGATE_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

std::string TempDir::Sub(const std::string& name) const {
  std::string p = path_ + "/" + name;
  fs::create_directories(p);
  return p;
}

int PickUnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

absl::StatusOr<pki::CertificateAuthority> TestOrg::OpenCa() const {
  return pki::CertificateAuthority::Open(ca_dir);
}

absl::StatusOr<TestOrg> CreateTestOrg(const std::string& root,
                                      const std::string& id,
                                      const std::string& domain) {
  TestOrg org;
  org.id = id;
  org.domain = domain;
  org.dir = root + "/" + id;
  org.ca_dir = org.dir + "/ca";
  fs::create_directories(org.dir + "/certs");
  pki::CaOptions ca_options;
  ca_options.organisation_id = id;
  ca_options.trust_domain = domain;
  HG_ASSIGN_OR_RETURN(pki::CertificateAuthority ca,
                      pki::CertificateAuthority::Create(org.ca_dir, ca_options));
  org.ca_file = ca.cert_file();
  pki::IssueRequest gateway;
  gateway.role = pki::Role::kGateway;
  gateway.dns_names = {"localhost"};
  HG_ASSIGN_OR_RETURN(auto gw, ca.Issue(gateway, org.dir + "/certs"));
  org.gateway_cert = gw.cert_file;
  org.gateway_key = gw.key_file;
  pki::IssueRequest client;
  client.role = pki::Role::kClient;
  client.name = "integration";
  HG_ASSIGN_OR_RETURN(auto cl, ca.Issue(client, org.dir + "/certs"));
  org.client_cert = cl.cert_file;
  org.client_key = cl.key_file;
  pki::IssueRequest officer;
  officer.role = pki::Role::kOfficer;
  officer.name = "officer-a";
  HG_ASSIGN_OR_RETURN(auto of, ca.Issue(officer, org.dir + "/certs"));
  org.officer_cert = of.cert_file;
  org.officer_key = of.key_file;
  return org;
}

absl::StatusOr<pki::IssuedCertificate> IssueCert(const TestOrg& org,
                                                 pki::Role role,
                                                 const std::string& name,
                                                 const std::string& out_subdir) {
  HG_ASSIGN_OR_RETURN(pki::CertificateAuthority ca, org.OpenCa());
  pki::IssueRequest request;
  request.role = role;
  request.name = name;
  std::string out = org.dir + "/" + out_subdir;
  fs::create_directories(out);
  return ca.Issue(request, out);
}

std::string GatewayProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::StatusOr<std::unique_ptr<GatewayProcess>> GatewayProcess::Start(
    const GatewaySpec& spec) {
  auto process = std::unique_ptr<GatewayProcess>(new GatewayProcess());
  const TestOrg& org = *spec.org;
  process->port_ = spec.port != 0 ? spec.port : PickUnusedPort();
  const std::string name =
      spec.instance.empty() ? "gateway" : absl::StrCat("gateway-", spec.instance);
  process->config_file_ = absl::StrCat(org.dir, "/", name, ".yaml");
  process->port_file_ = absl::StrCat(org.dir, "/", name, ".port");
  process->log_file_ = absl::StrCat(org.dir, "/", name, ".log");
  process->store_file_ = org.dir + "/data/gateway.db";
  process->launcher_ = spec.launcher;
  std::string yaml = absl::StrCat(
      "organisation: {id: ", org.id, ", domain: ", org.domain, "}\n",
      "listen: 127.0.0.1:", process->port_, "\n",
      "port_file: ", process->port_file_, "\n",
      "tls:\n  certificate: ", org.gateway_cert, "\n  private_key: ",
      org.gateway_key, "\n  ca: ", org.ca_file, "\n",
      org.crl_file.empty() ? "" : absl::StrCat("  crl: ", org.crl_file, "\n"),
      "  reload_interval_seconds: 1\n",
      spec.store_dsn.empty()
          ? absl::StrCat("store: {path: ", process->store_file_, "}\n")
          : absl::StrCat("  state_dir: ", org.dir, "/", name, ".tls\n",
                         "store: {backend: postgresql, dsn: '", spec.store_dsn,
                         "'}\n"));
  if (!spec.policy_file.empty()) {
    absl::StrAppend(&yaml, "policy: ", spec.policy_file, "\n");
  }
  if (!spec.peers.empty()) {
    absl::StrAppend(&yaml, "peers:\n");
    for (const PeerSpec& peer : spec.peers) {
      absl::StrAppend(&yaml, "  - {id: ", peer.org->id, ", domain: ",
                      peer.org->domain, ", address: localhost:", peer.port,
                      ", ca: ", peer.org->ca_file,
                      peer.org->crl_file.empty() ? "" : ", crl: ",
                      peer.org->crl_file,
                      peer.crl_refresh_seconds > 0
                          ? absl::StrCat(", crl_refresh_seconds: ", peer.crl_refresh_seconds)
                          : "",
                      "}\n");
    }
  }
  absl::StrAppend(&yaml, spec.extra_yaml);
  std::ofstream(process->config_file_) << yaml;
  HG_RETURN_IF_ERROR(process->Launch());
  return process;
}

absl::StatusOr<std::string> InstallDeployPolicy(const TestOrg& org,
                                                const std::string& deploy_org) {
  std::string from = absl::StrCat(SourceDir(), "/deploy/policies/",
                                  deploy_org.empty() ? org.id : deploy_org,
                                  "/policy.yaml");
  std::string dir = org.dir + "/policy";
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string to = dir + "/policy.yaml";
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("cannot copy ", from, ": ", ec.message()));
  HG_RETURN_IF_ERROR(policy::CreateMissingKeyFiles(to).status());
  return to;
}

absl::Status GatewayProcess::Launch() {
  fs::remove(port_file_);
  // Built before fork: the child only execs.
  std::vector<std::string> args = launcher_;
  if (args.empty()) args.push_back(HavengateBinary());
  args.push_back("--config");
  args.push_back(config_file_);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int log = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  bool ready = WaitFor([&] {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return fs::exists(port_file_);
  }, absl::Seconds(30));
  if (!ready || pid_ < 0) {
    pid_ = -1;
    return absl::InternalError(absl::StrCat(
        "havengate did not start; its log:\n", ReadLog()));
  }
  return absl::OkStatus();
}

std::string GatewayProcess::ReadLog() const { return ReadAll(log_file_); }

void GatewayProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

absl::StatusOr<int> GatewayProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGTERM);
  int status = 0;
  bool exited = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
                        timeout);
  if (!exited) {
    Kill9();
    return absl::DeadlineExceededError("havengate did not stop on SIGTERM");
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

absl::Status GatewayProcess::Restart() {
  if (pid_ > 0) return absl::FailedPreconditionError("still running");
  return Launch();
}

GatewayProcess::~GatewayProcess() { Kill9(); }

client::ConnectionOptions ClientOptions(const TestOrg& org, int port) {
  client::ConnectionOptions options;
  options.address = absl::StrCat("127.0.0.1:", port);
  options.certificate = org.client_cert;
  options.private_key = org.client_key;
  options.ca = org.ca_file;
  options.gateway_id = org.gateway_id();
  options.timeout = absl::Seconds(20);
  return options;
}

absl::StatusOr<std::unique_ptr<client::Client>> ConnectClient(
    const TestOrg& org, int port, const std::string& cert,
    const std::string& key) {
  client::ConnectionOptions options = ClientOptions(org, port);
  if (!cert.empty()) options.certificate = cert;
  if (!key.empty()) options.private_key = key;
  return client::Client::Connect(options);
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(5);
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(100));
  }
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::string& stdin_text) {
  TempDir dir;
  std::string in_file = dir.path() + "/in", out_file = dir.path() + "/out",
              err_file = dir.path() + "/err";
  std::ofstream(in_file) << stdin_text;
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_file.c_str(), O_RDONLY);
    int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadAll(out_file);
  result.err = ReadAll(err_file);
  return result;
}

int CountOccurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

absl::StatusOr<v1::Item> LoadSample(const std::string& name) {
  std::string path = SourceDir() + "/deploy/samples/" + name;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseJsonAs<v1::Item>(text.str());
}

v1::Item MakeAlert(const std::string& item_id, const std::string& title) {
  v1::Item item;
  item.set_item_id(item_id);
  item.mutable_classification()->set_tlp(v1::Classification::AMBER);
  v1::Alert* alert = item.mutable_alert();
  alert->set_category(v1::Alert::PIN_CODE_FRAUD);
  alert->set_severity(v1::Alert::HIGH);
  alert->set_title(title);
  alert->mutable_location()->set_unlocode("NLRTM");
  alert->mutable_location()->set_terminal("ECT Delta");
  v1::Container* container = alert->add_containers();
  container->set_number("CSQU3054383");
  container->set_port_of_loading("ECGYE");
  v1::Person* person = alert->add_persons();
  person->set_name("Jan de Vries");
  person->set_badge_id("RTM-48213");
  person->set_role(v1::Person::EMPLOYEE);
  return item;
}

}  // namespace havengate::testing
