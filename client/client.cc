#include "client/client.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/channel_credentials.h"
#include "grpcpp/grpcpp.h"
#include "proto/push_batch.h"
#include "proto/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace havengate::client {
namespace {

constexpr int kMaxMessageBytes = 16 << 20;

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

absl::StatusOr<ConnectionOptions> LoadConnectionFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  ConnectionOptions options;
  std::vector<std::string> problems;
  try {
    YAML::Node root = YAML::Load(text.str());
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": must be a mapping of keys to values"));
    }
    static const char* kKeys[] = {"address", "certificate", "private_key", "ca",
                                  "gateway_id", "timeout_seconds"};
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        problems.push_back(absl::StrCat(key, ": unknown key"));
      }
    }
    auto read = [&](const char* key, std::string* out, bool is_path) {
      if (!root[key] || !root[key].IsScalar() ||
          root[key].as<std::string>().empty()) {
        problems.push_back(absl::StrCat(key, ": is required"));
        return;
      }
      *out = root[key].as<std::string>();
      if (is_path && std::filesystem::path(*out).is_relative()) {
        *out = (base / *out).lexically_normal().string();
      }
    };
    read("address", &options.address, false);
    read("certificate", &options.certificate, true);
    read("private_key", &options.private_key, true);
    read("ca", &options.ca, true);
    read("gateway_id", &options.gateway_id, false);
    if (root["timeout_seconds"]) {
      int seconds = root["timeout_seconds"].as<int>(0);
      if (seconds <= 0) {
        problems.push_back("timeout_seconds: must be a positive whole number");
      } else {
        options.timeout = absl::Seconds(seconds);
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", e.mark.line + 1, ":", e.mark.column + 1,
        ": not valid YAML: ", e.msg));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", absl::StrJoin(problems, "; ")));
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(
    const ConnectionOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("address: is required");
  }
  pki::ChannelCredentialsOptions tls;
  tls.certificate_file = options.certificate;
  tls.private_key_file = options.private_key;
  tls.ca_file = options.ca;
  tls.expected_server_id = options.gateway_id;
  HG_ASSIGN_OR_RETURN(auto credentials, pki::MakeChannelCredentials(tls));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  auto channel = grpc::CreateCustomChannel(options.address, credentials, args);
  return std::unique_ptr<Client>(new Client(options, std::move(channel)));
}

Client::Client(ConnectionOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      ingest_(v1::Ingest::NewStub(channel_)),
      inbox_(v1::Inbox::NewStub(channel_)),
      hits_(v1::Hits::NewStub(channel_)),
      hit_questions_(v1::HitQuestions::NewStub(channel_)),
      field_requests_(v1::FieldRequests::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

absl::StatusOr<v1::Receipt> Client::Push(const v1::Item& item) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::PushRequest request;
  *request.mutable_item() = item;
  v1::PushResponse response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(ingest_->Push(&context, request, &response)));
  return response.receipt();
}

absl::Status Client::PushStream(
    const std::function<std::optional<v1::Item>()>& next,
    const std::function<void(const v1::PushResult&)>& on_result, int window) {
  // One item per message, as before batches: callers opt in to batches
  // through PushStreamOptions.
  PushStreamOptions options;
  options.window = window;
  options.batches = false;
  return PushStream(next, on_result, options);
}

absl::Status Client::PushStream(
    const std::function<std::optional<v1::Item>()>& next,
    const std::function<void(const v1::PushResult&)>& on_result,
    const PushStreamOptions& options, PushStreamStats* stats) {
  grpc::ClientContext context;
  if (options.batches) context.AddMetadata(kPushBatchKey, kPushBatchAsk);
  auto stream = ingest_->PushStream(&context);
  std::mutex mu;
  std::condition_variable cv;
  // Items taken from `next` and not yet answered (queued or sent).
  int in_flight = 0;
  // Taken from `next`, not yet sent (batches only).
  std::deque<v1::Item> queued;
  bool next_done = false;
  bool reader_done = false;
  // Items written and messages; read after the threads joined.
  uint64_t sent = 0, messages = 0;
  // Items `next` handed over (queued ones may never have been sent).
  uint64_t taken = 0;
  // The largest batch the gateway takes, in bytes; 0 until it offered
  // batches (its initial metadata, which the reader waits for).
  std::atomic<int> batch_bytes{0};

  // Waits until one more item may be taken from `next`; false once the
  // stream ended.
  auto await_room = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_flight < options.window || reader_done; });
    if (reader_done) return false;
    ++in_flight;
    return true;
  };
  auto give_back_room = [&] {
    std::lock_guard<std::mutex> lock(mu);
    --in_flight;
    cv.notify_all();
  };

  std::thread feeder;
  std::thread writer;
  if (!options.batches) {
    // Items go out from this thread, one per message, while answers come
    // back on the reader below; `window` bounds what is unanswered.
    writer = std::thread([&] {
      v1::PushRequest request;
      while (await_room()) {
        std::optional<v1::Item> item = next();
        if (!item.has_value()) break;
        *request.mutable_item() = std::move(*item);
        ++taken;
        ++sent;
        ++messages;
        if (!stream->Write(request)) break;
      }
      stream->WritesDone();
    });
  } else {
    // `next` is called on a thread of its own, so that the writer knows
    // what is ready without waiting for more: it sends everything queued
    // while it wrote the previous message.
    feeder = std::thread([&] {
      for (;;) {
        if (!await_room()) break;
        std::optional<v1::Item> item = next();
        std::lock_guard<std::mutex> lock(mu);
        if (!item.has_value()) {
          --in_flight;
          break;
        }
        queued.push_back(std::move(*item));
        ++taken;
        cv.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu);
      next_done = true;
      cv.notify_all();
    });
    writer = std::thread([&] {
      v1::PushRequest request;
      for (;;) {
        request.Clear();
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return !queued.empty() || next_done || reader_done; });
          if (reader_done || queued.empty()) break;
          const int limit = batch_bytes;
          if (limit == 0 || queued.size() == 1) {
            *request.mutable_item() = std::move(queued.front());
            queued.pop_front();
          } else {
            size_t bytes = 0;
            while (!queued.empty() &&
                   request.batch_size() < options.batch_max_items) {
              const size_t item_bytes = queued.front().ByteSizeLong() + 8;
              if (request.batch_size() > 0 &&
                  bytes + item_bytes > static_cast<size_t>(limit)) {
                break;
              }
              bytes += item_bytes;
              *request.add_batch()->mutable_item() = std::move(queued.front());
              queued.pop_front();
            }
            if (request.batch_size() == 1) {
              // One alone goes as before.
              v1::Item only = std::move(*request.mutable_batch(0)->mutable_item());
              request.Clear();
              *request.mutable_item() = std::move(only);
            }
          }
        }
        sent += std::max(1, request.batch_size());
        ++messages;
        if (!stream->Write(request)) break;
      }
      stream->WritesDone();
    });
  }

  if (options.batches) {
    stream->WaitForInitialMetadata();
    const auto& initial = context.GetServerInitialMetadata();
    if (auto it = initial.find(kPushBatchKey); it != initial.end()) {
      batch_bytes = BatchBytesFor(absl::string_view(it->second.data(), it->second.size()),
                                  options.batch_max_bytes);
    }
  }
  uint64_t answered = 0;
  v1::PushResult result;
  auto answer = [&](const v1::PushResult& one) {
    ++answered;
    on_result(one);
    give_back_room();
  };
  while (stream->Read(&result)) {
    if (result.batch_size() > 0) {
      for (const v1::PushResult& one : result.batch()) answer(one);
    } else {
      answer(result);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    reader_done = true;
    cv.notify_all();
  }
  writer.join();
  if (feeder.joinable()) feeder.join();
  if (stats != nullptr) {
    stats->batched = batch_bytes > 0;
    stats->items_sent = sent;
    stats->messages_sent = messages;
  }
  HG_RETURN_IF_ERROR(FromGrpcStatus(stream->Finish()));
  // A stream that ends well must have answered every item. It may not have:
  // a message the gateway cannot parse (e.g. a string that is not UTF-8)
  // ends its reading as if this side were done (gRPC 1.51), and the
  // gateway then closes the stream with OK. Items still queued here then
  // were never sent: not acknowledged either.
  if (answered < taken) {
    return absl::AbortedError(absl::StrCat(
        "the gateway ended the stream without answering ", taken - answered,
        " of ", taken, " items (the first unanswered one may be malformed); "
        "they were not acknowledged"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Retraction> Client::Retract(const std::string& item_id,
                                               const std::string& reason) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::RetractRequest request;
  request.set_item_id(item_id);
  request.set_reason(reason);
  v1::RetractResponse response;
  HG_RETURN_IF_ERROR(
      FromGrpcStatus(ingest_->Retract(&context, request, &response)));
  return response.retraction();
}

absl::StatusOr<v1::ListResponse> Client::List(const v1::ListRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::ListResponse response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(inbox_->List(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::ListHitsResponse> Client::ListHits(
    const v1::ListHitsRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::ListHitsResponse response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(hits_->List(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::AskHitsResponse> Client::AskHits(
    const v1::AskHitsRequest& request) {
  grpc::ClientContext context;
  const absl::Duration partners = absl::Milliseconds(
      request.timeout_ms() > 0 ? request.timeout_ms() : 5000);
  context.set_deadline(Deadline(partners + options_.timeout));
  v1::AskHitsResponse response;
  HG_RETURN_IF_ERROR(
      FromGrpcStatus(hit_questions_->Ask(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::FieldRequest> Client::RequestFields(const v1::NewFieldRequest& request) {
  grpc::ClientContext context;
  // The gateway waits up to 10 s for the origin's first answer.
  context.set_deadline(Deadline(absl::Seconds(10) + options_.timeout));
  v1::FieldRequest response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(field_requests_->Request(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::ListFieldRequestsResponse> Client::ListFieldRequests(
    const v1::ListFieldRequestsRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::ListFieldRequestsResponse response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(field_requests_->List(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::FieldRequestView> Client::ShowFieldRequest(const std::string& request_id) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::FieldRequestId request;
  request.set_request_id(request_id);
  v1::FieldRequestView response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(field_requests_->Show(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::FieldRequest> Client::ApproveFieldRequest(const std::string& request_id) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::FieldRequestDecision request;
  request.set_request_id(request_id);
  v1::FieldRequest response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(field_requests_->Approve(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::FieldRequest> Client::RefuseFieldRequest(const std::string& request_id,
                                                             const std::string& reason) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::FieldRequestDecision request;
  request.set_request_id(request_id);
  request.set_reason(reason);
  v1::FieldRequest response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(field_requests_->Refuse(&context, request, &response)));
  return response;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Client::Health(
    const std::string& service) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(health_->Check(&context, request, &response)));
  return response.status();
}

absl::StatusOr<v1::GetStatusResponse> Client::PartnerStatus() {
  grpc::ClientContext context;
  context.set_deadline(Deadline(options_.timeout));
  v1::GetStatusResponse response;
  HG_RETURN_IF_ERROR(FromGrpcStatus(
      v1::GatewayStatus::NewStub(channel_)->GetStatus(&context, v1::GetStatusRequest(), &response)));
  return response;
}

absl::Status Client::Subscribe(
    const v1::SubscribeRequest& request,
    const std::function<bool(const v1::InboxEvent&)>& on_event) {
  grpc::ClientContext context;
  auto reader = inbox_->Subscribe(&context, request);
  v1::InboxEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      context.TryCancel();
      while (reader->Read(&event)) {
      }
      reader->Finish();
      return absl::OkStatus();
    }
  }
  return FromGrpcStatus(reader->Finish());
}

}  // namespace havengate::client
