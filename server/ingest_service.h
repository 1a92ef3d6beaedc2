// The Ingest service: integration clients push items (one at a time or as a
// stream) and retract them. Every accepted item is durable before it is
// acknowledged; every refusal names the field and the reason and is
// audited. Each caller is held to its limits (CallerLimits): calls and
// items per second and calls open at once; a unary Push over its item rate
// is refused with RESOURCE_EXHAUSTED, a PushStream is slowed down.
//
// Threads and ownership: gRPC calls the handlers on its own threads, many
// at once; a PushStream reads on the handler's thread and answers in order
// from the store's completions. Thread-safe. The authenticator, limits,
// sharing and store are borrowed and must outlive the service (the Gateway
// owns them all).
#ifndef HAVENGATE_SERVER_INGEST_SERVICE_H_
#define HAVENGATE_SERVER_INGEST_SERVICE_H_

#include <functional>
#include <mutex>

#include "havengate/v1/ingest.grpc.pb.h"
#include "proto/item_validation.h"
#include "server/security/authenticator.h"
#include "server/limits/caller_limits.h"
#include "server/sharing/sharing.h"
#include "server/store/store.h"

namespace havengate::server {

struct IngestOptions {
  ItemLimits limits;
  // Items of one PushStream read but not yet answered; reading pauses when
  // the window is full (flow control towards the client).
  int stream_window = 1024;
  // Whether PushStream offers batches to a client that asks (ingest.proto,
  // "Batches"); off only to stand in for an earlier release in tests and
  // benchmarks.
  bool offer_batches = true;
  // The largest message the gateway reads, announced to batching clients.
  int max_message_bytes = 4 << 20;
};

class IngestService final : public v1::Ingest::Service {
 public:
  // `limits` is shared with the other client services and must outlive
  // this service.
  IngestService(IngestOptions options, const security::Authenticator& authenticator,
                limits::CallerLimits& limits, const Sharing& sharing,
                store::Store& store);

  // Limits for calls started from now on (a configuration reload).
  void SetOptions(const IngestOptions& options);

  grpc::Status Push(grpc::ServerContext* context,
                    const v1::PushRequest* request,
                    v1::PushResponse* response) override;
  grpc::Status PushStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::PushResult, v1::PushRequest>* stream)
      override;
  grpc::Status Retract(grpc::ServerContext* context,
                       const v1::RetractRequest* request,
                       v1::RetractResponse* response) override;

 private:
  // A caller allowed to push, admitted under its limits, for the length
  // of one call.
  struct AdmittedCall {
    security::PeerIdentity caller;
    limits::CallerLimits::CallSlot slot;
  };
  // Checks the caller may push and admits the call; audits and returns the
  // refusal otherwise.
  absl::StatusOr<AdmittedCall> Authorise(const grpc::ServerContext& context,
                                         absl::string_view method);
  // Takes an item token for a unary call; audits a refusal (at most one
  // per caller and report interval).
  absl::Status TakeItem(const security::PeerIdentity& caller, absl::string_view method);
  // Logs and audits a refusal by the caller's limits, unless one was
  // reported recently (CallerLimits::NoteRefusal).
  void ReportLimitRefusal(const std::string& caller, absl::string_view method,
                          const absl::Status& refusal);
  // Waits until the caller may push one more item on a stream. False if
  // the call was cancelled meanwhile. `before_waiting`, if set, runs once
  // before the first pause.
  bool AwaitItem(const grpc::ServerContext& context, const security::PeerIdentity& caller,
                 const std::function<void()>& before_waiting = nullptr);
  // Validates and normalises one pushed item and prepares its write.
  absl::StatusOr<store::ItemWrite> Prepare(const v1::PushRequest& request,
                                           const security::PeerIdentity& caller);
  // Records a refused call in the audit chain (without waiting).
  void AuditRejection(const std::string& actor, absl::string_view method,
                      const absl::Status& status, const v1::Item* item);

  // The options in force (replaced by SetOptions); each call reads them once.
  IngestOptions options() const;

  mutable std::mutex options_mu_;
  IngestOptions options_;  // guarded by options_mu_
  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  const Sharing& sharing_;
  store::Store& store_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_INGEST_SERVICE_H_
