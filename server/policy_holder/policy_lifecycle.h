// PolicyLifecycle: every way the gateway's active policy changes, with its
// history and its evidence, in one place — an officer's proposal, approval
// (four eyes), activation and rollback (PolicyAdmin), and an edit of the
// policy file on disk picked up by the gateway. Each step checks, changes
// the policy through PolicyHolder (atomic file write and pointer swap),
// writes the policy history (ProposalStore) and appends its audit record
// (POLICY_PROPOSED / _APPROVED / _ACTIVATED / _ROLLED_BACK, or
// POLICY_REJECTED with the reason) before it answers.
//
// Threads and ownership: thread-safe; steps run one at a time (the checks
// of a step and its effect must not interleave with another's). The
// holder, history and store are borrowed and must outlive it.
#ifndef HAVENGATE_SERVER_POLICY_HOLDER_POLICY_LIFECYCLE_H_
#define HAVENGATE_SERVER_POLICY_HOLDER_POLICY_LIFECYCLE_H_

#include <functional>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/audit.pb.h"
#include "havengate/v1/policy_admin.pb.h"
#include "server/policy_admin/proposal_store.h"
#include "server/policy_holder/policy_holder.h"
#include "server/security/peer_identity.h"
#include "server/store/store.h"

namespace havengate::server {

class PolicyLifecycle {
 public:
  PolicyLifecycle(PolicyHolder& policies, ProposalStore& history, store::Store& store)
      : policies_(policies), history_(history), store_(store) {}

  // At start: the policy loaded from the file enters the history (once per
  // text). FAILED_PRECONDITION/UNAVAILABLE if the history cannot be written.
  [[nodiscard]] absl::Status RecordLoadedPolicy();

  // Replicas sharing a database (and so one history): if the history's
  // ACTIVE entry — activated, rolled back to or picked up through another
  // replica — is not the policy in force here, it is made active here too
  // (file written, pointer swapped). No history entry or audit record is
  // added: the replica that made the change recorded it. Returns whether
  // the policy changed; an error if the history cannot be read or its
  // text does not compile here (the policy in force stays).
  [[nodiscard]] absl::StatusOr<bool> AdoptActiveFromHistory();

  // Maintenance: a policy file edited on disk is checked like any
  // activation; a valid one becomes active (history, POLICY_ACTIVATED), an
  // invalid one is reported (log, POLICY_REJECTED) and the active policy
  // stays. Does nothing if the file did not change.
  void PickUpEditedFile();

  // An officer's proposal of `text` (already compiled by the caller, as
  // version `version`).
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Propose(
      const security::PeerIdentity& officer, const std::string& version,
      const std::string& text, const std::string& comment);
  // Approval by an officer other than the proposer.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Approve(
      const security::PeerIdentity& officer, const std::string& proposal_id,
      const std::string& comment);
  // Activation of an approved proposal.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Activate(
      const security::PeerIdentity& officer, const std::string& proposal_id);
  // Back to a version two officers approved before.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Rollback(
      const security::PeerIdentity& officer, const std::string& version,
      const std::string& comment);

  // Called (on the calling thread, under the lifecycle's lock) when the
  // policy file on disk turns invalid (an edit refused) or valid again (an
  // edit fixed, an officer's activation or rollback, which writes a valid
  // file). The file is valid at start. Set before the gateway starts.
  void OnPolicyFileChecked(std::function<void(bool valid)> observer) {
    file_observer_ = std::move(observer);
  }

  // A step refused before it reached the lifecycle (e.g. a candidate with
  // errors): audited as POLICY_REJECTED, then returned.
  [[nodiscard]] absl::Status Refuse(const security::PeerIdentity& officer,
                                    absl::string_view step, const std::string& version,
                                    const absl::Status& status);

 private:
  // Appends a lifecycle record synchronously: a step is answered only once
  // its evidence is durable.
  absl::Status Record(v1::AuditEventType type, const security::PeerIdentity& officer,
                      const std::string& version, const std::string& detail,
                      const std::string& reason = "");

  PolicyHolder& policies_;
  ProposalStore& history_;
  store::Store& store_;
  // Tells the observer when the file's state changes. Called under mu_.
  void ReportFile(bool valid);

  std::function<void(bool valid)> file_observer_;
  bool file_valid_ = true;  // guarded by mu_
  std::mutex mu_;  // one step at a time
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_POLICY_HOLDER_POLICY_LIFECYCLE_H_
