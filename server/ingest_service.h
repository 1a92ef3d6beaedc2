// The Ingest service: integration clients push items (one at a time or as a
// stream) and retract them. Every accepted item is durable before it is
// acknowledged; every refusal names the field and the reason and is
// audited.
#ifndef HAVENGATE_SERVER_INGEST_SERVICE_H_
#define HAVENGATE_SERVER_INGEST_SERVICE_H_

#include "havengate/v1/ingest.grpc.pb.h"
#include "proto/item_validation.h"
#include "server/caller.h"
#include "server/sharing.h"
#include "server/store/store.h"

namespace havengate::server {

struct IngestOptions {
  ItemLimits limits;
  // Items of one PushStream read but not yet answered; reading pauses when
  // the window is full (flow control towards the client).
  int stream_window = 1024;
};

class IngestService final : public v1::Ingest::Service {
 public:
  IngestService(IngestOptions options, const Authenticator& authenticator,
                const Sharing& sharing, store::Store& store);

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
  // Checks the caller may push; audits and returns the refusal otherwise.
  absl::StatusOr<Caller> Authorise(const grpc::ServerContext& context,
                                   absl::string_view method);
  // Validates and normalises one pushed item and prepares its write.
  absl::StatusOr<store::ItemWrite> Prepare(const v1::PushRequest& request,
                                           const Caller& caller);
  // Records a refused call in the audit chain (without waiting).
  void AuditRejection(const std::string& actor, absl::string_view method,
                      const absl::Status& status, const v1::Item* item);

  IngestOptions options_;
  const Authenticator& authenticator_;
  const Sharing& sharing_;
  store::Store& store_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_INGEST_SERVICE_H_
