#include "tests/bench/bare_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/grpcpp.h"
#include "client/client.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "havengate/v1/inbox.grpc.pb.h"
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

// Forwards every item of a PushStream to each receiver on its own
// Exchange stream (opened per PushStream), answering the client at once.
// As a gateway's peer links, each receiver's stream has its own writer
// thread, fed from a bounded queue, and its own acknowledgement reader.
class BareRelay final : public v1::Ingest::Service {
 public:
  explicit BareRelay(std::vector<std::shared_ptr<grpc::Channel>> receivers)
      : receivers_(std::move(receivers)) {}

  grpc::Status PushStream(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::PushResult, v1::PushRequest>* stream)
      override {
    constexpr size_t kQueue = 512;
    struct Link {
      std::unique_ptr<v1::Federation::Stub> stub;
      grpc::ClientContext context;
      std::unique_ptr<grpc::ClientReaderWriter<v1::FederationMessage,
                                               v1::FederationAck>>
          stream;
      std::mutex mu;
      std::condition_variable cv;
      std::deque<v1::Item> queue;  // guarded by mu
      bool done = false;           // guarded by mu
      std::thread writer, acks;
    };
    std::vector<std::unique_ptr<Link>> links;
    for (const auto& channel : receivers_) {
      auto link = std::make_unique<Link>();
      link->stub = v1::Federation::NewStub(channel);
      link->stream = link->stub->Exchange(&link->context);
      Link* raw = link.get();
      link->acks = std::thread([raw] {
        v1::FederationAck ack;
        while (raw->stream->Read(&ack)) {
        }
      });
      link->writer = std::thread([raw] {
        v1::FederationMessage message;
        uint64_t sequence = 0;
        std::unique_lock<std::mutex> lock(raw->mu);
        for (;;) {
          raw->cv.wait(lock, [&] { return raw->done || !raw->queue.empty(); });
          if (raw->queue.empty()) break;
          message.set_sequence(++sequence);
          message.mutable_item()->Swap(&raw->queue.front());
          raw->queue.pop_front();
          lock.unlock();
          raw->cv.notify_all();
          const bool written = raw->stream->Write(message);
          lock.lock();
          if (!written) break;
        }
        raw->done = true;
        raw->queue.clear();
        raw->cv.notify_all();
      });
      links.push_back(std::move(link));
    }
    v1::PushRequest request;
    v1::PushResult result;
    uint64_t index = 0;
    while (stream->Read(&request)) {
      result.set_index(index++);
      result.set_item_id(request.item().item_id());
      if (!stream->Write(result)) break;
      for (size_t i = 0; i < links.size(); ++i) {
        Link& link = *links[i];
        std::unique_lock<std::mutex> lock(link.mu);
        link.cv.wait(lock, [&] { return link.done || link.queue.size() < kQueue; });
        if (link.done) continue;
        if (i + 1 == links.size()) {
          link.queue.emplace_back().Swap(request.mutable_item());
        } else {
          link.queue.push_back(request.item());
        }
        link.cv.notify_all();
      }
    }
    for (auto& link : links) {
      {
        std::lock_guard<std::mutex> lock(link->mu);
        link->done = true;
      }
      link->cv.notify_all();
    }
    for (auto& link : links) {
      link->writer.join();
      link->stream->WritesDone();
      link->acks.join();
      (void)link->stream->Finish();
    }
    return grpc::Status::OK;
  }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> receivers_;
};

// Acknowledges every Exchange message and hands its item to the inbox
// subscribers.
class BareReceiver final : public v1::Federation::Service,
                           public v1::Inbox::Service {
 public:
  grpc::Status Exchange(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::FederationAck, v1::FederationMessage>* stream)
      override {
    v1::FederationMessage message;
    v1::FederationAck ack;
    while (stream->Read(&message)) {
      ack.set_sequence(message.sequence());
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (Subscriber* s : subscribers_) s->items.push_back(message.item());
      }
      cv_.notify_all();
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status Subscribe(grpc::ServerContext* context,
                         const v1::SubscribeRequest* /*request*/,
                         grpc::ServerWriter<v1::InboxEvent>* writer) override {
    Subscriber self;
    {
      std::lock_guard<std::mutex> lock(mu_);
      subscribers_.push_back(&self);
    }
    v1::InboxEvent event;
    uint64_t cursor = 0;
    std::unique_lock<std::mutex> lock(mu_);
    while (!context->IsCancelled()) {
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [&] { return !self.items.empty(); });
      std::deque<v1::Item> items;
      items.swap(self.items);
      lock.unlock();
      bool written = true;
      for (v1::Item& item : items) {
        event.set_cursor(++cursor);
        event.mutable_entry()->mutable_item()->Swap(&item);
        if (!(written = writer->Write(event))) break;
      }
      lock.lock();
      if (!written) break;
    }
    subscribers_.erase(std::find(subscribers_.begin(), subscribers_.end(), &self));
    return grpc::Status::OK;
  }

 private:
  struct Subscriber {
    std::deque<v1::Item> items;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Subscriber*> subscribers_;  // guarded by mu_
};

}  // namespace

int RunBareServer(const BareServerOptions& options) {
  grpc::SslServerCredentialsOptions tls(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = ReadFile(options.ca);
  tls.pem_key_cert_pairs.push_back(
      {ReadFile(options.private_key), ReadFile(options.certificate)});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls),
                           &port);
  BareIngest ingest;
  BareReceiver receiver;
  std::unique_ptr<BareRelay> relay;
  switch (options.mode) {
    case BareMode::kIngest:
      builder.RegisterService(&ingest);
      break;
    case BareMode::kReceiver:
      builder.RegisterService(static_cast<v1::Federation::Service*>(&receiver));
      builder.RegisterService(static_cast<v1::Inbox::Service*>(&receiver));
      break;
    case BareMode::kRelay: {
      std::vector<std::shared_ptr<grpc::Channel>> channels;
      for (int forward_port : options.forward_to) {
        client::ConnectionOptions peer;
        peer.address = absl::StrCat("127.0.0.1:", forward_port);
        peer.certificate = options.certificate;
        peer.private_key = options.private_key;
        peer.ca = options.ca;
        peer.gateway_id = options.receiver_id;
        absl::StatusOr<std::unique_ptr<client::Client>> connected =
            client::Client::Connect(peer);
        if (!connected.ok()) {
          std::cerr << "bare relay: " << connected.status() << "\n";
          return 1;
        }
        channels.push_back((*connected)->channel());
      }
      relay = std::make_unique<BareRelay>(std::move(channels));
      builder.RegisterService(relay.get());
      break;
    }
  }
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
    } else if (flag == "--mode") {
      options.mode = value == "relay"      ? BareMode::kRelay
                     : value == "receiver" ? BareMode::kReceiver
                                           : BareMode::kIngest;
    } else if (flag == "--forward-to") {
      int forward_port = 0;
      if (!absl::SimpleAtoi(value, &forward_port)) {
        std::cerr << "bare server: bad --forward-to " << value << "\n";
        return 2;
      }
      options.forward_to.push_back(forward_port);
    } else if (flag == "--receiver-id") {
      options.receiver_id = value;
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
    std::vector<std::string> args = {
        self,          "--serve-bare",      "--certificate",
        options.certificate, "--private-key", options.private_key,
        "--ca",        options.ca,          "--port-file",
        options.port_file,   "--mode",
        options.mode == BareMode::kRelay      ? "relay"
        : options.mode == BareMode::kReceiver ? "receiver"
                                              : "ingest"};
    for (int forward_port : options.forward_to) {
      args.push_back("--forward-to");
      args.push_back(absl::StrCat(forward_port));
    }
    if (!options.receiver_id.empty()) {
      args.push_back("--receiver-id");
      args.push_back(options.receiver_id);
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
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
