#include "server/field_requests_service.h"

#include <utility>

#include "server/federation/federation_service.h"
#include "server/inbox_service.h"
#include "server/security/grpc_status.h"

namespace havengate::server {

FieldRequestExchangeService::FieldRequestExchangeService(
    std::set<std::string> peers, const security::Authenticator& authenticator,
    limits::CallerLimits& limits, FieldRequestDesk& desk, store::Store& store)
    : peers_(std::move(peers)),
      authenticator_(authenticator),
      limits_(limits),
      desk_(desk),
      store_(store) {}

void FieldRequestExchangeService::SetPeers(std::set<std::string> peers) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_ = std::move(peers);
}

bool FieldRequestExchangeService::IsPeer(const std::string& organisation) {
  std::lock_guard<std::mutex> lock(mu_);
  return peers_.count(organisation) > 0;
}

grpc::Status FieldRequestExchangeService::Submit(grpc::ServerContext* context,
                                                 const v1::FieldRequestSubmission* request,
                                                 v1::FieldRequestReceipt* response) {
  absl::StatusOr<security::PeerIdentity> peer = AuthoriseConfiguredPeer(
      authenticator_, [this](const std::string& org) { return IsPeer(org); }, store_,
      *context, "FieldRequestExchange.Submit");
  if (!peer.ok()) return security::ToGrpcStatus(peer.status());
  absl::StatusOr<limits::CallerLimits::CallSlot> slot = limits_.StartCall(peer->spiffe_id);
  if (!slot.ok()) return security::ToGrpcStatus(slot.status());
  absl::StatusOr<v1::FieldRequestReceipt> receipt = desk_.Receive(*request, *peer);
  if (!receipt.ok()) return security::ToGrpcStatus(receipt.status());
  *response = *std::move(receipt);
  return grpc::Status::OK;
}

FieldRequestsService::FieldRequestsService(const security::Authenticator& authenticator,
                                           limits::CallerLimits& limits,
                                           FieldRequestDesk& desk, store::Store& store)
    : authenticator_(authenticator),
      limits_(limits),
      desk_(desk),
      officers_("FieldRequests", authenticator, limits, store) {}

grpc::Status FieldRequestsService::Request(grpc::ServerContext* context,
                                           const v1::NewFieldRequest* request,
                                           v1::FieldRequest* response) {
  absl::StatusOr<limits::CallerLimits::CallSlot> admitted =
      AdmitOwnClient(authenticator_, limits_, *context, "FieldRequests");
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  absl::StatusOr<security::PeerIdentity> caller = authenticator_.Identify(*context);
  if (!caller.ok()) return security::ToGrpcStatus(caller.status());
  absl::StatusOr<v1::FieldRequest> asked = desk_.Ask(*request, *caller);
  if (!asked.ok()) return security::ToGrpcStatus(asked.status());
  *response = *std::move(asked);
  return grpc::Status::OK;
}

grpc::Status FieldRequestsService::List(grpc::ServerContext* context,
                                        const v1::ListFieldRequestsRequest* request,
                                        v1::ListFieldRequestsResponse* response) {
  auto list = [&](v1::FieldRequest::Role role) {
    absl::StatusOr<std::vector<v1::FieldRequest>> requests =
        desk_.List(role, request->item_id());
    if (!requests.ok()) return requests.status();
    for (v1::FieldRequest& r : *requests) *response->add_requests() = std::move(r);
    return absl::OkStatus();
  };
  if (request->sent()) {
    absl::StatusOr<limits::CallerLimits::CallSlot> admitted =
        AdmitOwnClient(authenticator_, limits_, *context, "FieldRequests");
    if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
    return security::ToGrpcStatus(list(v1::FieldRequest::SENT));
  }
  return officers_.Serve(*context, "List", [&](const security::PeerIdentity&) {
    return list(v1::FieldRequest::RECEIVED);
  });
}

grpc::Status FieldRequestsService::Show(grpc::ServerContext* context,
                                        const v1::FieldRequestId* request,
                                        v1::FieldRequestView* response) {
  return officers_.Serve(*context, "Show", [&](const security::PeerIdentity&) {
    absl::StatusOr<v1::FieldRequestView> view = desk_.Show(request->request_id());
    if (!view.ok()) return view.status();
    *response = *std::move(view);
    return absl::OkStatus();
  });
}

grpc::Status FieldRequestsService::Approve(grpc::ServerContext* context,
                                           const v1::FieldRequestDecision* request,
                                           v1::FieldRequest* response) {
  return officers_.Serve(*context, "Approve", [&](const security::PeerIdentity& officer) {
    absl::StatusOr<v1::FieldRequest> decided = desk_.Approve(request->request_id(), officer);
    if (!decided.ok()) return decided.status();
    *response = *std::move(decided);
    return absl::OkStatus();
  });
}

grpc::Status FieldRequestsService::Refuse(grpc::ServerContext* context,
                                          const v1::FieldRequestDecision* request,
                                          v1::FieldRequest* response) {
  return officers_.Serve(*context, "Refuse", [&](const security::PeerIdentity& officer) {
    absl::StatusOr<v1::FieldRequest> decided =
        desk_.Refuse(request->request_id(), request->reason(), officer);
    if (!decided.ok()) return decided.status();
    *response = *std::move(decided);
    return absl::OkStatus();
  });
}

}  // namespace havengate::server
