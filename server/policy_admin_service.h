// PolicyAdminService: the gRPC PolicyAdmin service (policy_admin.proto) —
// how this organisation's policy officers check, propose, approve (four
// eyes), activate and roll back the gateway's sharing policy.
//
// Only officers of this organisation may call; the officer is the SPIFFE id
// of the certificate. Candidates go through exactly the checks an
// activation makes (PolicyHolder::CompileCandidate), so what validates here
// activates, and what does not never becomes active. The active policy
// changes only through PolicyHolder::Activate: the file is written
// atomically, then one pointer swap; each item is decided under one
// version. Every lifecycle step, refused or done, is an audit record with
// the officer's identity.
//
// Threads and ownership: gRPC calls the handlers on its own threads; the
// lifecycle steps (propose, approve, activate, rollback) are serialised by
// PolicyLifecycle, reads run concurrently. The authenticator, limits, policy
// holder, proposal store and store are borrowed and must outlive the
// service (the Gateway owns them all).
#ifndef HAVENGATE_SERVER_POLICY_ADMIN_SERVICE_H_
#define HAVENGATE_SERVER_POLICY_ADMIN_SERVICE_H_

#include <functional>
#include <mutex>
#include <string>

#include "havengate/v1/policy_admin.grpc.pb.h"
#include "server/officer_calls.h"
#include "server/security/authenticator.h"
#include "server/limits/caller_limits.h"
#include "server/policy_admin/proposal_store.h"
#include "server/policy_holder/policy_holder.h"
#include "server/policy_holder/policy_lifecycle.h"
#include "server/store/store.h"

namespace havengate::server {

class PolicyAdminService final : public v1::PolicyAdmin::Service {
 public:
  // All references must outlive the service. The steps that change the
  // policy (propose, approve, activate, rollback) are `lifecycle`'s; this
  // service authorises, checks requests and reads.
  PolicyAdminService(std::string organisation, const security::Authenticator& authenticator,
                     limits::CallerLimits& limits, PolicyHolder& policies,
                     ProposalStore& proposals, PolicyLifecycle& lifecycle,
                     store::Store& store);

  grpc::Status Validate(grpc::ServerContext* context,
                        const v1::ValidatePolicyRequest* request,
                        v1::ValidatePolicyResponse* response) override;
  grpc::Status Preview(grpc::ServerContext* context,
                       const v1::PreviewPolicyRequest* request,
                       v1::PreviewPolicyResponse* response) override;
  grpc::Status Diff(grpc::ServerContext* context,
                    const v1::DiffPolicyRequest* request,
                    v1::DiffPolicyResponse* response) override;
  grpc::Status Propose(grpc::ServerContext* context,
                       const v1::ProposePolicyRequest* request,
                       v1::PolicyProposal* response) override;
  grpc::Status Approve(grpc::ServerContext* context,
                       const v1::ApprovePolicyRequest* request,
                       v1::PolicyProposal* response) override;
  grpc::Status Activate(grpc::ServerContext* context,
                        const v1::ActivatePolicyRequest* request,
                        v1::PolicyProposal* response) override;
  grpc::Status Rollback(grpc::ServerContext* context,
                        const v1::RollbackPolicyRequest* request,
                        v1::PolicyProposal* response) override;
  grpc::Status History(grpc::ServerContext* context,
                       const v1::PolicyHistoryRequest* request,
                       v1::PolicyHistoryResponse* response) override;

 private:
  absl::Status DoValidate(const v1::ValidatePolicyRequest& request,
                          v1::ValidatePolicyResponse* response);
  absl::Status DoPreview(const v1::PreviewPolicyRequest& request,
                         v1::PreviewPolicyResponse* response);
  absl::Status DoDiff(const v1::DiffPolicyRequest& request,
                      v1::DiffPolicyResponse* response);
  absl::Status DoPropose(const security::PeerIdentity& who, const v1::ProposePolicyRequest& request,
                         v1::PolicyProposal* response);
  absl::Status DoApprove(const security::PeerIdentity& who, const v1::ApprovePolicyRequest& request,
                         v1::PolicyProposal* response);
  absl::Status DoActivate(const security::PeerIdentity& who, const v1::ActivatePolicyRequest& request,
                          v1::PolicyProposal* response);
  absl::Status DoRollback(const security::PeerIdentity& who, const v1::RollbackPolicyRequest& request,
                          v1::PolicyProposal* response);
  absl::Status DoHistory(const v1::PolicyHistoryRequest& request,
                         v1::PolicyHistoryResponse* response);
  // The candidate's text and its name in diagnostics.
  absl::StatusOr<std::pair<std::string, std::string>> CandidateText(
      const v1::PolicyCandidate& candidate) const;
  absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> Compile(
      const v1::PolicyCandidate& candidate,
      v1::ValidatePolicyResponse* report) const;
  // `candidate` compiled, or the active policy if it is null;
  // FAILED_PRECONDITION if there is none. Errors are prefixed with `field`.
  absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> CompiledOrActive(
      const v1::PolicyCandidate* candidate, absl::string_view field) const;

  const std::string organisation_;
  PolicyHolder& policies_;
  ProposalStore& proposals_;
  PolicyLifecycle& lifecycle_;
  store::Store& store_;
  const OfficerCalls officers_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_POLICY_ADMIN_SERVICE_H_
