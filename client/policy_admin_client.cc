#include "client/policy_admin_client.h"

#include "client/unary_call.h"
#include "grpcpp/channel.h"

namespace havengate::client {

PolicyAdminClient::PolicyAdminClient(const Client& client)
    : timeout_(client.options().timeout),
      stub_(v1::PolicyAdmin::NewStub(client.channel())) {}

template <typename Request, typename Response>
absl::StatusOr<Response> PolicyAdminClient::Call(
    Method<Request, Response> method, const Request& request) {
  return UnaryCall(*stub_, method, request, timeout_);
}

absl::StatusOr<v1::ValidatePolicyResponse> PolicyAdminClient::Validate(
    const v1::PolicyCandidate& candidate) {
  v1::ValidatePolicyRequest request;
  *request.mutable_candidate() = candidate;
  return Call(&v1::PolicyAdmin::Stub::Validate, request);
}

absl::StatusOr<v1::PreviewPolicyResponse> PolicyAdminClient::Preview(
    const v1::PreviewPolicyRequest& request) {
  return Call(&v1::PolicyAdmin::Stub::Preview, request);
}

absl::StatusOr<v1::DiffPolicyResponse> PolicyAdminClient::Diff(
    const v1::DiffPolicyRequest& request) {
  return Call(&v1::PolicyAdmin::Stub::Diff, request);
}

absl::StatusOr<v1::PolicyProposal> PolicyAdminClient::Propose(
    const std::string& policy_text, const std::string& comment) {
  v1::ProposePolicyRequest request;
  request.set_policy_text(policy_text);
  request.set_comment(comment);
  return Call(&v1::PolicyAdmin::Stub::Propose, request);
}

absl::StatusOr<v1::PolicyProposal> PolicyAdminClient::Approve(
    const std::string& proposal_id, const std::string& comment) {
  v1::ApprovePolicyRequest request;
  request.set_proposal_id(proposal_id);
  request.set_comment(comment);
  return Call(&v1::PolicyAdmin::Stub::Approve, request);
}

absl::StatusOr<v1::PolicyProposal> PolicyAdminClient::Activate(
    const std::string& proposal_id) {
  v1::ActivatePolicyRequest request;
  request.set_proposal_id(proposal_id);
  return Call(&v1::PolicyAdmin::Stub::Activate, request);
}

absl::StatusOr<v1::PolicyProposal> PolicyAdminClient::Rollback(
    const std::string& version, const std::string& comment) {
  v1::RollbackPolicyRequest request;
  request.set_version(version);
  request.set_comment(comment);
  return Call(&v1::PolicyAdmin::Stub::Rollback, request);
}

absl::StatusOr<v1::PolicyHistoryResponse> PolicyAdminClient::History(
    bool include_text) {
  v1::PolicyHistoryRequest request;
  request.set_include_text(include_text);
  return Call(&v1::PolicyAdmin::Stub::History, request);
}

}  // namespace havengate::client
