#include "tests/bench/bare_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/ingest.grpc.pb.h"
#include "tests/testing/harness.h"

namespace havengate::bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class BareIngest final : public v1::Ingest::Service {
 public:
  grpc::Status Push(grpc::ServerContext* /*context*/,
                    const v1::PushRequest* /*request*/,
                    v1::PushResponse* /*response*/) override {
    return grpc::Status::OK;
  }

  grpc::Status PushStream(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::PushResult, v1::PushRequest>* stream)
      override {
    v1::PushRequest request;
    v1::PushResult result;
    uint64_t index = 0;
    while (stream->Read(&request)) {
      result.set_index(index++);
      result.set_item_id(request.item().item_id());
      if (!stream->Write(result)) break;
    }
    return grpc::Status::OK;
  }
};

}  // namespace

int RunBareServer(const BareServerOptions& options) {
  grpc::SslServerCredentialsOptions tls(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = ReadFile(options.ca);
  tls.pem_key_cert_pairs.push_back(
      {ReadFile(options.private_key), ReadFile(options.certificate)});
  BareIngest service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "bare server: cannot listen\n";
    return 1;
  }
  std::string tmp = options.port_file + ".tmp";
  std::ofstream(tmp) << port << "\n";
  if (std::rename(tmp.c_str(), options.port_file.c_str()) != 0) {
    std::cerr << "bare server: cannot write " << options.port_file << "\n";
    return 1;
  }
  server->Wait();  // until SIGTERM ends the process
  return 0;
}

std::optional<int> RunBareServerIfAsked(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "--serve-bare") return std::nullopt;
  BareServerOptions options;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--certificate") {
      options.certificate = value;
    } else if (flag == "--private-key") {
      options.private_key = value;
    } else if (flag == "--ca") {
      options.ca = value;
    } else if (flag == "--port-file") {
      options.port_file = value;
    } else {
      std::cerr << "bare server: unknown flag " << flag << "\n";
      return 2;
    }
  }
  return RunBareServer(options);
}

absl::StatusOr<std::unique_ptr<BareServerProcess>> BareServerProcess::Start(
    const std::string& self, const BareServerOptions& options) {
  std::remove(options.port_file.c_str());
  auto process = std::unique_ptr<BareServerProcess>(new BareServerProcess());
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // gRPC's own diagnostics go to a log beside the port file.
    std::string log_file = options.port_file + ".log";
    int log = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    execl(self.c_str(), self.c_str(), "--serve-bare", "--certificate",
          options.certificate.c_str(), "--private-key",
          options.private_key.c_str(), "--ca", options.ca.c_str(),
          "--port-file", options.port_file.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  process->pid_ = pid;
  bool ready = testing::WaitFor([&] {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      process->pid_ = -1;
      return true;
    }
    std::string text(absl::StripAsciiWhitespace(ReadFile(options.port_file)));
    return absl::SimpleAtoi(text, &process->port_) && process->port_ > 0;
  });
  if (!ready || process->pid_ < 0) {
    return absl::InternalError("the bare server did not start");
  }
  return process;
}

BareServerProcess::~BareServerProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

}  // namespace havengate::bench
