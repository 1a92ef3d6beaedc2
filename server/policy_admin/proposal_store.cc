#include "server/policy_admin/proposal_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/digest.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"

namespace havengate::server {
namespace {

using v1::PolicyProposal;

std::string StateName(PolicyProposal::State state) {
  return PolicyProposal::State_Name(state);
}

}  // namespace

ProposalStore::ProposalStore(std::unique_ptr<store::PolicyHistory> history)
    : history_(std::move(history)) {}

absl::StatusOr<PolicyProposal> ProposalStore::GetLocked(const std::string& id,
                                                        bool include_text) const {
  store::PolicyHistoryQuery query;
  query.id = id;
  query.include_text = include_text;
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> found, history_->Find(query));
  if (found.empty()) {
    return absl::NotFoundError(
        absl::StrCat("there is no proposal ", id, " (see `havenctl policy history`)"));
  }
  return found.front();
}

absl::StatusOr<PolicyProposal> ProposalStore::Get(const std::string& id,
                                                  bool include_text) const {
  std::lock_guard<std::mutex> lock(mu_);
  return GetLocked(id, include_text);
}

absl::StatusOr<PolicyProposal> ProposalStore::Propose(
    const std::string& version, const std::string& text,
    const std::string& officer, const std::string& comment, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  store::PolicyHistoryQuery same_version;
  same_version.version = version;
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> same,
                      history_->Find(same_version));
  if (!same.empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "version \"", version, "\" was used before (entry ", same.front().id(),
        "); give the new policy a new version label"));
  }
  PolicyProposal entry;
  entry.set_version(version);
  entry.set_state(PolicyProposal::PROPOSED);
  entry.set_digest(Sha256Hex(text));
  entry.set_policy_text(text);
  entry.set_proposed_by(officer);
  *entry.mutable_proposed_at() = ToTimestamp(now);
  entry.set_comment(comment);
  HG_ASSIGN_OR_RETURN(std::string id, history_->Add(entry));
  return GetLocked(id, false);
}

absl::StatusOr<PolicyProposal> ProposalStore::Approve(const std::string& id,
                                                      const std::string& officer,
                                                      const std::string& comment,
                                                      absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  HG_ASSIGN_OR_RETURN(PolicyProposal proposal, GetLocked(id, false));
  if (proposal.state() != PolicyProposal::PROPOSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("proposal ", id, " is ", StateName(proposal.state()),
                     ", not waiting for approval"));
  }
  if (proposal.proposed_by() == officer) {
    return absl::PermissionDeniedError(absl::StrCat(
        "four eyes: ", officer, " proposed ", id,
        " and cannot approve it; another officer must"));
  }
  proposal.set_state(PolicyProposal::APPROVED);
  proposal.set_approved_by(officer);
  *proposal.mutable_approved_at() = ToTimestamp(now);
  proposal.set_approval_comment(comment);
  HG_RETURN_IF_ERROR(history_->Update({proposal}));
  return GetLocked(id, false);
}

absl::StatusOr<PolicyProposal> ProposalStore::MarkActive(const std::string& id,
                                                         const std::string& officer,
                                                         absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return MarkActiveLocked(id, officer, now);
}

absl::StatusOr<PolicyProposal> ProposalStore::MarkActiveLocked(
    const std::string& id, const std::string& officer, absl::Time now) {
  HG_ASSIGN_OR_RETURN(PolicyProposal target, GetLocked(id, false));
  // One write: the entry that was ACTIVE is SUPERSEDED, `id` is ACTIVE.
  store::PolicyHistoryQuery active;
  active.states = {PolicyProposal::ACTIVE};
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> changes, history_->Find(active));
  for (PolicyProposal& entry : changes) {
    entry.set_state(PolicyProposal::SUPERSEDED);
  }
  target.set_state(PolicyProposal::ACTIVE);
  target.set_activated_by(officer);
  *target.mutable_activated_at() = ToTimestamp(now);
  changes.push_back(std::move(target));
  HG_RETURN_IF_ERROR(history_->Update(changes));
  return GetLocked(id, false);
}

absl::StatusOr<PolicyProposal> ProposalStore::RecordPolicyFile(
    const std::string& version, const std::string& text, absl::Time now) {
  const std::string digest = Sha256Hex(text);
  std::lock_guard<std::mutex> lock(mu_);
  store::PolicyHistoryQuery active;
  active.states = {PolicyProposal::ACTIVE};
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> current, history_->Find(active));
  if (!current.empty() && current.front().digest() == digest) {
    return current.front();
  }
  store::PolicyHistoryQuery same_text;
  same_text.version = version;
  same_text.digest = digest;
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> same, history_->Find(same_text));
  std::string id;
  if (!same.empty()) {
    id = same.front().id();
  } else {
    PolicyProposal entry;
    entry.set_version(version);
    entry.set_state(PolicyProposal::SUPERSEDED);
    entry.set_digest(digest);
    entry.set_policy_text(text);
    entry.set_proposed_by(kPolicyFileAuthor);
    *entry.mutable_proposed_at() = ToTimestamp(now);
    HG_ASSIGN_OR_RETURN(id, history_->Add(entry));
  }
  return MarkActiveLocked(id, kPolicyFileAuthor, now);
}

absl::StatusOr<PolicyProposal> ProposalStore::FindVersion(
    const std::string& version, bool include_text) const {
  std::lock_guard<std::mutex> lock(mu_);
  store::PolicyHistoryQuery query;
  query.version = version;
  query.include_text = include_text;
  query.limit = 1;
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> same, history_->Find(query));
  if (same.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "there is no version \"", version, "\" (see `havenctl policy history`)"));
  }
  return same.front();
}

absl::StatusOr<PolicyProposal> ProposalStore::FindRollbackTarget(
    const std::string& version) const {
  std::lock_guard<std::mutex> lock(mu_);
  store::PolicyHistoryQuery query;
  query.version = version;
  query.states = {PolicyProposal::ACTIVE, PolicyProposal::SUPERSEDED};
  query.include_text = true;
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> same, history_->Find(query));
  if (!same.empty() && same.front().state() == PolicyProposal::ACTIVE) {
    return absl::FailedPreconditionError(
        absl::StrCat("version \"", version, "\" is the active policy"));
  }
  if (same.empty()) {
    store::PolicyHistoryQuery earlier_query;
    earlier_query.states = {PolicyProposal::SUPERSEDED};
    HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> earlier,
                        history_->Find(earlier_query));
    std::vector<std::string> versions;
    for (const PolicyProposal& p : earlier) versions.push_back(p.version());
    return absl::NotFoundError(absl::StrCat(
        "version \"", version, "\" was never active here; versions that were: ",
        versions.empty() ? "none" : absl::StrJoin(versions, ", ")));
  }
  if (same.front().approved_by().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "four eyes: version \"", version,
        "\" was never approved by an officer (it came from the policy file on "
        "disk), so a rollback cannot bring it back without approval; propose "
        "its text under a new version label and have another officer approve it"));
  }
  return same.front();
}

absl::StatusOr<std::vector<PolicyProposal>> ProposalStore::List(
    bool include_text) const {
  std::lock_guard<std::mutex> lock(mu_);
  store::PolicyHistoryQuery all;
  all.include_text = include_text;
  return history_->Find(all);
}

absl::StatusOr<std::optional<PolicyProposal>> ProposalStore::Active() const {
  std::lock_guard<std::mutex> lock(mu_);
  store::PolicyHistoryQuery active;
  active.states = {PolicyProposal::ACTIVE};
  active.include_text = true;
  active.limit = 1;
  HG_ASSIGN_OR_RETURN(std::vector<PolicyProposal> found, history_->Find(active));
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

}  // namespace havengate::server
