#include "server/policy_holder/policy_lifecycle.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/status_macros.h"
#include "server/audit/audit_record.h"
#include "server/logging/log.h"

namespace havengate::server {
namespace {

// The actor of what an operator's edit on disk did: no certificate is
// behind it.
constexpr char kFileActor[] = "policy file edited on disk";

}  // namespace

absl::Status PolicyLifecycle::RecordLoadedPolicy() {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current();
  if (policy == nullptr) return absl::OkStatus();
  return history_.RecordPolicyFile(policy->version(), policies_.current_text(), absl::Now())
      .status();
}

absl::StatusOr<bool> PolicyLifecycle::AdoptActiveFromHistory() {
  std::lock_guard<std::mutex> lock(mu_);
  HG_ASSIGN_OR_RETURN(std::optional<v1::PolicyProposal> active, history_.Active());
  if (!active.has_value() || active->policy_text() == policies_.current_text()) {
    return false;
  }
  HG_RETURN_IF_ERROR(policies_.Activate(active->policy_text()).status());
  log::Info("policy_adopted", {{"version", active->version()},
                               {"by", active->activated_by()}});
  ReportFile(true);
  return true;
}

void PolicyLifecycle::PickUpEditedFile() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<bool> reloaded = policies_.ReloadIfChanged();
  if (!reloaded.ok()) {
    log::Error("policy_file_rejected",
               {{"file", policies_.path()}, {"reason", reloaded.status().message()}});
    v1::AuditRecord record = audit::MakeAuditRecord(v1::POLICY_REJECTED, kFileActor);
    record.set_reason(std::string(reloaded.status().message()));
    if (auto policy = policies_.current()) {
      record.set_detail(absl::StrCat("policy ", policy->version(), " stays active"));
    }
    (void)store_.AppendAudit({std::move(record)});
    ReportFile(false);
    return;
  }
  // Valid again, whether or not it differs from the active policy.
  ReportFile(true);
  if (!*reloaded) return;
  std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current();
  absl::Status recorded =
      history_.RecordPolicyFile(policy->version(), policies_.current_text(), absl::Now())
          .status();
  if (!recorded.ok()) {
    log::Error("policy_history_write_failed", {{"reason", recorded.message()}});
  }
  log::Info("policy_activated", {{"file", policies_.path()}, {"version", policy->version()}});
  v1::AuditRecord record = audit::MakeAuditRecord(v1::POLICY_ACTIVATED, kFileActor);
  record.set_policy_version(policy->version());
  (void)store_.AppendAudit({std::move(record)});
}

absl::StatusOr<v1::PolicyProposal> PolicyLifecycle::Propose(
    const security::PeerIdentity& officer, const std::string& version,
    const std::string& text, const std::string& comment) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<v1::PolicyProposal> proposal =
      history_.Propose(version, text, officer.spiffe_id, comment, absl::Now());
  if (!proposal.ok()) return Refuse(officer, "proposal", version, proposal.status());
  HG_RETURN_IF_ERROR(Record(v1::POLICY_PROPOSED, officer, proposal->version(),
                            absl::StrCat("proposal ", proposal->id(), " (", proposal->digest(),
                                         "): ", comment)));
  return proposal;
}

absl::StatusOr<v1::PolicyProposal> PolicyLifecycle::Approve(
    const security::PeerIdentity& officer, const std::string& proposal_id,
    const std::string& comment) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<v1::PolicyProposal> existing = history_.Get(proposal_id, false);
  if (!existing.ok()) return existing.status();
  absl::StatusOr<v1::PolicyProposal> approved =
      history_.Approve(proposal_id, officer.spiffe_id, comment, absl::Now());
  if (!approved.ok()) {
    return Refuse(officer, absl::StrCat("approval of proposal ", existing->id()),
                  existing->version(), approved.status());
  }
  HG_RETURN_IF_ERROR(Record(
      v1::POLICY_APPROVED, officer, approved->version(),
      absl::StrCat("proposal ", approved->id(), " (", approved->digest(), ") proposed by ",
                   approved->proposed_by(), comment.empty() ? "" : ": ", comment)));
  return approved;
}

absl::StatusOr<v1::PolicyProposal> PolicyLifecycle::Activate(
    const security::PeerIdentity& officer, const std::string& proposal_id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<v1::PolicyProposal> proposal = history_.Get(proposal_id, true);
  if (!proposal.ok()) return proposal.status();
  const std::string step = absl::StrCat("activation of proposal ", proposal->id());
  switch (proposal->state()) {
    case v1::PolicyProposal::APPROVED:
      break;
    case v1::PolicyProposal::PROPOSED:
      return Refuse(officer, step, proposal->version(),
                    absl::FailedPreconditionError(absl::StrCat(
                        "proposal ", proposal->id(),
                        " is not approved: another officer than its proposer "
                        "must approve it first")));
    case v1::PolicyProposal::ACTIVE:
      return Refuse(officer, step, proposal->version(),
                    absl::FailedPreconditionError(
                        absl::StrCat("proposal ", proposal->id(), " is already active")));
    default:
      return Refuse(officer, step, proposal->version(),
                    absl::FailedPreconditionError(absl::StrCat(
                        "proposal ", proposal->id(),
                        " was active before; use rollback to make it active again")));
  }
  std::shared_ptr<const policy::CompiledPolicy> before = policies_.current();
  auto activated = policies_.Activate(proposal->policy_text());
  if (!activated.ok()) {
    return Refuse(officer, step, proposal->version(),
                  absl::FailedPreconditionError(absl::StrCat(
                      "proposal ", proposal->id(),
                      " cannot be activated on this gateway (the active policy stays): ",
                      activated.status().message())));
  }
  ReportFile(true);  // Activate wrote a valid file
  absl::StatusOr<v1::PolicyProposal> active =
      history_.MarkActive(proposal->id(), officer.spiffe_id, absl::Now());
  if (!active.ok()) return active.status();
  HG_RETURN_IF_ERROR(Record(
      v1::POLICY_ACTIVATED, officer, active->version(),
      absl::StrCat("proposal ", active->id(), " (", active->digest(), ") proposed by ",
                   active->proposed_by(), ", approved by ", active->approved_by(),
                   "; replaces ", before == nullptr ? "no policy" : before->version())));
  return active;
}

absl::StatusOr<v1::PolicyProposal> PolicyLifecycle::Rollback(
    const security::PeerIdentity& officer, const std::string& version,
    const std::string& comment) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string step = absl::StrCat("rollback to ", version);
  // Four eyes for rollbacks (a choice): a version two officers approved
  // before comes back without a new approval — it is the text (same
  // digest) they approved, and it passes the same checks as any
  // activation below. A version that only ever came from the policy file
  // on disk was never approved and is refused (FindRollbackTarget); it
  // comes back through propose and approve under a new label.
  absl::StatusOr<v1::PolicyProposal> target = history_.FindRollbackTarget(version);
  if (!target.ok()) return Refuse(officer, step, version, target.status());
  std::shared_ptr<const policy::CompiledPolicy> before = policies_.current();
  auto activated = policies_.Activate(target->policy_text());
  if (!activated.ok()) {
    return Refuse(officer, step, version,
                  absl::FailedPreconditionError(absl::StrCat(
                      "version ", version,
                      " no longer passes the checks of this gateway (the active policy "
                      "stays): ",
                      activated.status().message())));
  }
  ReportFile(true);  // Activate wrote a valid file
  absl::StatusOr<v1::PolicyProposal> active =
      history_.MarkActive(target->id(), officer.spiffe_id, absl::Now());
  if (!active.ok()) return active.status();
  HG_RETURN_IF_ERROR(Record(
      v1::POLICY_ROLLED_BACK, officer, active->version(),
      absl::StrCat("back to entry ", active->id(), " (", active->digest(), ") from ",
                   before == nullptr ? "no policy" : before->version(), ": ", comment)));
  return active;
}

void PolicyLifecycle::ReportFile(bool valid) {
  if (valid == file_valid_) return;
  file_valid_ = valid;
  if (file_observer_) file_observer_(valid);
}

absl::Status PolicyLifecycle::Refuse(const security::PeerIdentity& officer,
                                     absl::string_view step, const std::string& version,
                                     const absl::Status& status) {
  absl::Status recorded = Record(v1::POLICY_REJECTED, officer, version, "",
                                 absl::StrCat(step, " refused: ", status.message()));
  return recorded.ok() ? status : recorded;
}

absl::Status PolicyLifecycle::Record(v1::AuditEventType type,
                                     const security::PeerIdentity& officer,
                                     const std::string& version, const std::string& detail,
                                     const std::string& reason) {
  v1::AuditRecord record = audit::MakeAuditRecord(type, officer.spiffe_id);
  record.set_policy_version(version);
  record.set_detail(detail);
  record.set_reason(reason);
  log::Info(absl::AsciiStrToLower(v1::AuditEventType_Name(type)),
            {{"officer", officer.spiffe_id},
             {"version", version},
             {"detail", reason.empty() ? detail : reason}});
  return store_.AppendAudit({std::move(record)});
}

}  // namespace havengate::server
