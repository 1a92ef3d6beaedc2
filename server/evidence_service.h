// EvidenceService: the gRPC Evidence service (evidence.proto) — the
// oversight questions asked of the running gateway by its own policy
// officers: what was shared with a partner (about a container, vessel,
// person pseudonym or item), what a partner received, which rule and whose proposal and
// approval released a field, the chain's state, and a signed extract.
//
// It answers with the same queries `havenctl audit` runs offline
// (evidence/), on the gateway's live store file opened read-only per call
// (SQLite WAL lets readers run beside the writer). Only officers of this
// organisation may call (OfficerCalls); each answered question is first
// recorded as EVIDENCE_QUERIED with the officer's identity, and nothing is
// answered if that record cannot be written.
//
// Threads: gRPC calls the handlers on its own threads; each call opens its
// own read-only connection. Borrowed references must outlive the service.
#ifndef HAVENGATE_SERVER_EVIDENCE_SERVICE_H_
#define HAVENGATE_SERVER_EVIDENCE_SERVICE_H_

#include <memory>
#include <string>

#include "evidence/audit_store.h"
#include "havengate/v1/evidence.grpc.pb.h"
#include "server/officer_calls.h"
#include "evidence/queries.h"
#include "policy/policy.h"
#include "server/policy_admin/proposal_store.h"
#include "server/policy_holder/policy_holder.h"

namespace havengate::server {

struct EvidenceServiceOptions {
  // The gateway's store file (read-only here).
  std::string store_path;
  // The checkpoint file beside it.
  std::string checkpoint_file;
  // The gateway's certificate: checkpoint signatures are checked with it.
  std::string gateway_certificate;
};

class EvidenceService final : public v1::Evidence::Service {
 public:
  EvidenceService(EvidenceServiceOptions options,
                  const security::Authenticator& authenticator,
                  limits::CallerLimits& limits, const PolicyHolder& policies,
                  ProposalStore& proposals, store::Store& store);

  grpc::Status Shared(grpc::ServerContext* context, const v1::SharedRequest* request,
                      v1::EvidenceRecords* response) override;
  grpc::Status Received(grpc::ServerContext* context, const v1::ReceivedRequest* request,
                        v1::EvidenceRecords* response) override;
  grpc::Status FieldReleases(grpc::ServerContext* context,
                             const v1::FieldReleasesRequest* request,
                             v1::FieldReleasesResponse* response) override;
  grpc::Status ChainStatus(grpc::ServerContext* context,
                           const v1::ChainStatusRequest* request,
                           v1::ChainStatusResponse* response) override;
  grpc::Status Extract(grpc::ServerContext* context, const v1::ExtractRequest* request,
                       v1::ExtractResponse* response) override;
  grpc::Status Activity(grpc::ServerContext* context, const v1::ActivityRequest* request,
                        v1::ActivityResponse* response) override;
  grpc::Status FindItems(grpc::ServerContext* context, const v1::FindItemsRequest* request,
                         v1::FindItemsResponse* response) override;
  grpc::Status RecentHits(grpc::ServerContext* context, const v1::RecentHitsRequest* request,
                          v1::RecentHitsResponse* response) override;

 private:
  // Records the officer's question (EVIDENCE_QUERIED), synchronously.
  absl::Status Record(const security::PeerIdentity& officer, const std::string& question);
  // Records the officer's question, then opens the store read-only.
  absl::StatusOr<std::unique_ptr<evidence::AuditStore>> Open(
      const security::PeerIdentity& officer, const std::string& question);
  // Tells whether a stored item holds a person that the deciding policy
  // version pseudonymises to `code`; each version is compiled once per call.
  evidence::PersonPseudonymTest PersonTest(const std::string& code) const;
  // The policy version `version` with its keys: the active policy if it is
  // that version, else its text from the history compiled afresh (key
  // files resolve beside the policy file, as for the active one).
  absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> CompileVersion(
      const std::string& version) const;
  absl::Status DoChainStatus(v1::ChainStatusResponse* response) const;
  absl::Status DoExtract(evidence::AuditStore& audit, const v1::ExtractRequest& request,
                         v1::ExtractResponse* response) const;

  const EvidenceServiceOptions options_;
  const PolicyHolder& policies_;
  ProposalStore& proposals_;
  store::Store& store_;
  const OfficerCalls officers_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_EVIDENCE_SERVICE_H_
