// FieldRequestDesk: both sides of requests for withheld fields
// (requests.proto).
//
// The requesting side (Ask) sends a request about an item received from a
// partner to that partner's gateway over mutual TLS, stores it (SENT) with
// the first answer, and takes the final outcome from the federation link
// (TakeOutcome): the one-off release, a refusal or an expiry. A release is
// kept with the request, never as an item: it is never shared onwards and
// does not touch what the policy decides about the item.
//
// The origin's side (Receive) stores a partner's request (RECEIVED) once
// the policy's `requests` section allows that partner those fields and the
// item was released to it; officers approve (N distinct officers) or
// refuse (one, with a reason); requests not decided in time expire
// (ExpireDue). The outcome — with the approved fields only on approval —
// is queued in the requester's federation outbox in the same transaction
// that stores the decision, so it survives restarts and broken links.
//
// Everything is audited at both ends, with field names only. Thread-safe;
// borrows the policy holder and the store, which must outlive it.
#ifndef HAVENGATE_SERVER_REQUESTS_FIELD_REQUEST_DESK_H_
#define HAVENGATE_SERVER_REQUESTS_FIELD_REQUEST_DESK_H_

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/requests.grpc.pb.h"
#include "server/policy_holder/policy_holder.h"
#include "server/security/peer_identity.h"
#include "server/store/store.h"

namespace havengate::server {

struct FieldRequestDeskOptions {
  // This organisation's id and its gateway's SPIFFE id.
  std::string organisation;
  std::string gateway_spiffe_id;
  // How long the requester waits for the origin's first answer.
  absl::Duration submit_timeout = absl::Seconds(10);
};

class FieldRequestDesk {
 public:
  FieldRequestDesk(FieldRequestDeskOptions options, const PolicyHolder& policies,
                   store::Store& store);

  // A partner's gateway at `address`, reached with `credentials`.
  void AddPeer(const std::string& partner, const std::string& address,
               std::shared_ptr<grpc::ChannelCredentials> credentials);
  void RemovePeer(const std::string& partner);

  // --- Requesting side ---

  // Asks the item's origin; the stored request. A refusal by the origin
  // is stored and audited, then returned as its status (PERMISSION_DENIED,
  // FAILED_PRECONDITION, ...); an origin that cannot be reached is
  // UNAVAILABLE (audited, nothing stored).
  [[nodiscard]] absl::StatusOr<v1::FieldRequest> Ask(const v1::NewFieldRequest& request,
                                                     const security::PeerIdentity& client);
  // The outcome `peer` sent for a request this organisation sent to it.
  [[nodiscard]] absl::Status TakeOutcome(const v1::FieldRequestOutcome& outcome,
                                         const security::PeerIdentity& peer);

  // --- Origin's side ---

  [[nodiscard]] absl::StatusOr<v1::FieldRequestReceipt> Receive(
      const v1::FieldRequestSubmission& submission, const security::PeerIdentity& peer);
  [[nodiscard]] absl::StatusOr<v1::FieldRequestView> Show(const std::string& request_id);
  [[nodiscard]] absl::StatusOr<v1::FieldRequest> Approve(const std::string& request_id,
                                                         const security::PeerIdentity& officer);
  [[nodiscard]] absl::StatusOr<v1::FieldRequest> Refuse(const std::string& request_id,
                                                        const std::string& reason,
                                                        const security::PeerIdentity& officer);
  // Expires every received request still pending past its expiry.
  [[nodiscard]] absl::Status ExpireDue();

  // Both sides: the requests of `role` (only `item_id`'s if not empty).
  [[nodiscard]] absl::StatusOr<std::vector<v1::FieldRequest>> List(
      v1::FieldRequest::Role role, const std::string& item_id);

 private:
  // Stores `request` (changed from revision `read_revision`) with the
  // outcome queued for the requester, if it is final.
  absl::Status Decide(v1::FieldRequest request, uint64_t read_revision,
                      std::vector<v1::AuditRecord> audit);
  absl::StatusOr<v1::FieldRequest> PendingReceived(const std::string& request_id);
  v1::AuditRecord Record(v1::AuditEventType type, const std::string& actor,
                         const v1::FieldRequest& request, const std::string& partner) const;
  absl::Status AuditRefusal(const v1::FieldRequestSubmission& submission,
                            const security::PeerIdentity& peer, const absl::Status& refusal);

  const FieldRequestDeskOptions options_;
  const PolicyHolder& policies_;
  store::Store& store_;
  // Decisions on received requests one at a time (read, decide, store).
  std::mutex decide_mu_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // guarded by mu_
};

// Checks a request as the requester's client or the requesting gateway
// sent it. INVALID_ARGUMENT names the field, never a value.
[[nodiscard]] absl::Status ValidateFieldRequestTerms(
    const google::protobuf::RepeatedPtrField<std::string>& fields,
    const std::string& reason, const std::string& case_reference);

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_REQUESTS_FIELD_REQUEST_DESK_H_
