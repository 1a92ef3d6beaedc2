// The havengate client library: what an integration (a port community
// system, a customs risk engine, a police case system) links against to
// push items into its organisation's gateway and read what partners shared.
//
//   auto options = havengate::client::LoadConnectionFile("havenctl.yaml");
//   auto client = havengate::client::Client::Connect(*options);
//   auto receipt = (*client)->Push(item);   // durable at the gateway when OK
//
// Every call is mutual TLS with the client's own certificate; the gateway
// must present exactly the expected SPIFFE id. Errors are absl::Status with
// the gateway's code and message (e.g. INVALID_ARGUMENT
// "alert.containers[0].number: check digit is 7, expected 3").
// A Client is thread-safe and should be shared: it holds one connection.
#ifndef HAVENGATE_CLIENT_CLIENT_H_
#define HAVENGATE_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "havengate/v1/cooperation.grpc.pb.h"
#include "havengate/v1/hits.grpc.pb.h"
#include "havengate/v1/requests.grpc.pb.h"
#include "havengate/v1/gateway_status.grpc.pb.h"
#include "havengate/v1/inbox.grpc.pb.h"
#include "havengate/v1/ingest.grpc.pb.h"

namespace havengate::client {

struct ConnectionOptions {
  // host:port of the gateway.
  std::string address;
  // This client's certificate and private key (PEM files).
  std::string certificate;
  std::string private_key;
  // The organisation's CA certificate (PEM file).
  std::string ca;
  // The SPIFFE id the gateway must present, e.g.
  // spiffe://police.nl.example/gateway.
  std::string gateway_id;
  // Deadline of each unary call.
  absl::Duration timeout = absl::Seconds(30);
};

// Reads connection settings from a small YAML file:
//   address: gateway.police.nl.example:7443
//   certificate: client.crt
//   private_key: client.key
//   ca: ca.crt
//   gateway_id: spiffe://police.nl.example/gateway
// Relative paths resolve against the file's directory. Errors name the key.
[[nodiscard]] absl::StatusOr<ConnectionOptions> LoadConnectionFile(
    const std::string& path);

class Client {
 public:
  // Creates the channel (connecting lazily). INVALID_ARGUMENT or NOT_FOUND
  // if a setting or file is wrong.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const ConnectionOptions& options);

  // Pushes one item; returns once it is durable at the gateway. Safe to
  // retry with the same item: the retry returns the original receipt with
  // `duplicate` set.
  [[nodiscard]] absl::StatusOr<v1::Receipt> Push(const v1::Item& item);

  // Streams items from `next` (which returns nullopt at the end) on one
  // PushStream, keeping up to `window` unanswered items in flight, and
  // calls `on_result` for every answer, in order. Items the gateway refuses
  // are reported through `on_result` and do not stop the stream. Returns
  // the stream's final status; ABORTED if it ended without answering
  // every item sent (those items were not acknowledged). `next` is called
  // on a thread of its own while `on_result` is called on the calling
  // thread, at the same time: state the two share needs a lock.
  [[nodiscard]] absl::Status PushStream(
      const std::function<std::optional<v1::Item>()>& next,
      const std::function<void(const v1::PushResult&)>& on_result,
      int window = 256);

  // The same, with batches unless `options.batches` is false (the
  // overload above never batches) (ingest.proto, "Batches"): the items `next`
  // has handed over and not yet sent go out together, several per gRPC
  // message, up to `batch_max_items` and `batch_max_bytes` (and below the
  // gateway's message limit). Nothing waits to fill a batch: at a low rate
  // each item goes out alone at once; under load, items gather while the
  // previous message is written. Each item still gets its own PushResult
  // through `on_result`, in order. A gateway that does not offer batches
  // (an earlier release) is sent one item per message. An item the gateway
  // cannot even parse (a string that is not UTF-8) ends the stream as
  // above; with batches, the items sharing its message are left unanswered
  // with it (not acknowledged: resend them). `stats`, if set, is filled in
  // when the stream ends.
  struct PushStreamOptions {
    // Items handed over by `next` and not yet answered.
    int window = 256;
    // Ask the gateway for batches; false keeps one item per message.
    bool batches = true;
    int batch_max_items = 256;
    int batch_max_bytes = 1 << 20;
  };
  struct PushStreamStats {
    // The gateway offered batches (and the client asked).
    bool batched = false;
    uint64_t items_sent = 0;
    uint64_t messages_sent = 0;
  };
  [[nodiscard]] absl::Status PushStream(
      const std::function<std::optional<v1::Item>()>& next,
      const std::function<void(const v1::PushResult&)>& on_result,
      const PushStreamOptions& options, PushStreamStats* stats = nullptr);

  // Withdraws one of this organisation's items everywhere it was shared.
  [[nodiscard]] absl::StatusOr<v1::Retraction> Retract(
      const std::string& item_id, const std::string& reason);

  // One page of the inbox (newest first).
  [[nodiscard]] absl::StatusOr<v1::ListResponse> List(
      const v1::ListRequest& request);

  // Follows the inbox: calls `on_event` for every event after
  // `request.after_cursor`, then for new ones as they arrive, until
  // `on_event` returns false (returns OK) or the stream fails.
  [[nodiscard]] absl::Status Subscribe(
      const v1::SubscribeRequest& request,
      const std::function<bool(const v1::InboxEvent&)>& on_event);

  // One page of the hits the gateway recorded (oldest first). Follow new
  // ones with Subscribe and `include_hits` or `hits_only`.
  [[nodiscard]] absl::StatusOr<v1::ListHitsResponse> ListHits(
      const v1::ListHitsRequest& request);

  // Asks the partners whether they hold anything under a key (hit/no-hit,
  // cooperation.proto): one answer per partner, never contents. The call's
  // deadline covers the partners' (request.timeout_ms) and a margin.
  [[nodiscard]] absl::StatusOr<v1::AskHitsResponse> AskHits(
      const v1::AskHitsRequest& request);

  // Requests for withheld fields (requests.proto). An integration client
  // asks the origin of a received item for fields (the gateway forwards
  // the request and waits for the origin's first answer: pending, or its
  // refusal as the status) and lists what its organisation asked
  // (`sent`). The other calls are for policy officers (officer
  // certificate): the requests partners sent, and their decisions.
  [[nodiscard]] absl::StatusOr<v1::FieldRequest> RequestFields(
      const v1::NewFieldRequest& request);
  [[nodiscard]] absl::StatusOr<v1::ListFieldRequestsResponse> ListFieldRequests(
      const v1::ListFieldRequestsRequest& request);
  [[nodiscard]] absl::StatusOr<v1::FieldRequestView> ShowFieldRequest(
      const std::string& request_id);
  [[nodiscard]] absl::StatusOr<v1::FieldRequest> ApproveFieldRequest(
      const std::string& request_id);
  [[nodiscard]] absl::StatusOr<v1::FieldRequest> RefuseFieldRequest(
      const std::string& request_id, const std::string& reason);

  // The gateway's health (grpc.health.v1 Check) for `service`: "" for the
  // gateway as a whole (its store), "havengate.v1.Federation" for its
  // partners' links. Any client, gateway or officer certificate of the
  // organisation may ask.
  [[nodiscard]] absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(
      const std::string& service = "");

  // Each partner's link, outbox (depth, oldest entry) and CRL copy
  // (GatewayStatus.GetStatus). The organisation's clients and officers may
  // ask; a partner's gateway gets PERMISSION_DENIED.
  [[nodiscard]] absl::StatusOr<v1::GetStatusResponse> PartnerStatus();

  // The underlying channel, for services this library does not wrap.
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  const ConnectionOptions& options() const { return options_; }

 private:
  Client(ConnectionOptions options, std::shared_ptr<grpc::Channel> channel);

  ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Inbox::Stub> inbox_;
  std::unique_ptr<v1::Hits::Stub> hits_;
  std::unique_ptr<v1::HitQuestions::Stub> hit_questions_;
  std::unique_ptr<v1::FieldRequests::Stub> field_requests_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// Converts a gRPC status to absl::Status (same code and message).
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace havengate::client

#endif  // HAVENGATE_CLIENT_CLIENT_H_
