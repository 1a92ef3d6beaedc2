// PolicyAdminClient: the policy officers' side of the PolicyAdmin service
// (policy_admin.proto), for `havenctl policy ... --remote` and for tools of
// an organisation's own. It uses a Client's connection, which must carry an
// officer certificate (spiffe://<org-domain>/officer/<name>); with any
// other certificate every call fails with PERMISSION_DENIED.
//
//   auto client = havengate::client::Client::Connect(officer_options);
//   havengate::client::PolicyAdminClient admin(**client);
//   auto proposal = admin.Propose(text, "customs may see vessel names");
//
// Errors are the gateway's status (code and message). Thread-safe.
#ifndef HAVENGATE_CLIENT_POLICY_ADMIN_CLIENT_H_
#define HAVENGATE_CLIENT_POLICY_ADMIN_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "havengate/v1/policy_admin.grpc.pb.h"

namespace havengate::client {

class PolicyAdminClient {
 public:
  // `client` must outlive this object.
  explicit PolicyAdminClient(const Client& client);

  [[nodiscard]] absl::StatusOr<v1::ValidatePolicyResponse> Validate(
      const v1::PolicyCandidate& candidate);
  [[nodiscard]] absl::StatusOr<v1::PreviewPolicyResponse> Preview(
      const v1::PreviewPolicyRequest& request);
  [[nodiscard]] absl::StatusOr<v1::DiffPolicyResponse> Diff(
      const v1::DiffPolicyRequest& request);
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Propose(
      const std::string& policy_text, const std::string& comment);
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Approve(
      const std::string& proposal_id, const std::string& comment);
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Activate(
      const std::string& proposal_id);
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Rollback(
      const std::string& version, const std::string& comment);
  [[nodiscard]] absl::StatusOr<v1::PolicyHistoryResponse> History(
      bool include_text);

 private:
  template <typename Request, typename Response>
  using Method = grpc::Status (v1::PolicyAdmin::Stub::*)(grpc::ClientContext*,
                                                         const Request&, Response*);
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(Method<Request, Response> method,
                                const Request& request);

  absl::Duration timeout_;
  std::unique_ptr<v1::PolicyAdmin::Stub> stub_;
};

}  // namespace havengate::client

#endif  // HAVENGATE_CLIENT_POLICY_ADMIN_CLIENT_H_
