// The Inbox service: integration clients read what their gateway holds —
// their organisation's own items and what partners shared with it — as
// pages (List) or as a live, resumable stream (Subscribe). Each caller is
// held to its limits (CallerLimits): calls per second and calls open at
// once, a Subscribe counting until it ends.
//
// Threads and ownership: gRPC calls the handlers on its own threads, many
// at once; the service keeps no per-call state of its own and is
// thread-safe. The authenticator, limits and store are borrowed and must
// outlive the service (the Gateway owns them all). Stop() ends every
// open Subscribe.
#ifndef HAVENGATE_SERVER_INBOX_SERVICE_H_
#define HAVENGATE_SERVER_INBOX_SERVICE_H_

#include <atomic>

#include "havengate/v1/inbox.grpc.pb.h"
#include "server/security/authenticator.h"
#include "server/limits/caller_limits.h"
#include "server/store/store.h"

namespace havengate::server {

class InboxService final : public v1::Inbox::Service {
 public:
  // `limits` is shared with the other client services and must outlive
  // this service.
  InboxService(const security::Authenticator& authenticator, limits::CallerLimits& limits,
               store::Store& store);

  grpc::Status List(grpc::ServerContext* context,
                    const v1::ListRequest* request,
                    v1::ListResponse* response) override;
  grpc::Status Subscribe(grpc::ServerContext* context,
                         const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::InboxEvent>* writer) override;

  // Ends open Subscribe streams (with OK) so shutdown does not wait for
  // clients to leave.
  void Stop() { stopping_ = true; }

 private:
  // Checks the caller may read the inbox and admits the call for as long
  // as the returned slot lives.
  absl::StatusOr<limits::CallerLimits::CallSlot> Authorise(
      const grpc::ServerContext& context);

  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  store::Store& store_;
  std::atomic<bool> stopping_{false};
};

// Checks that the caller is an integration client of this organisation and
// admits the call under its limits for as long as the slot lives (refusals
// are logged under `service`). Shared by the client-facing services.
[[nodiscard]] absl::StatusOr<limits::CallerLimits::CallSlot> AdmitOwnClient(
    const security::Authenticator& authenticator, limits::CallerLimits& limits,
    const grpc::ServerContext& context, const char* service);

// Checks a filter sent by a client. INVALID_ARGUMENT names the field.
[[nodiscard]] absl::Status ValidateFilter(const v1::ItemFilter& filter);

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_INBOX_SERVICE_H_
