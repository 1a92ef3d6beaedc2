// ProposalStore: the gateway's policy history — every proposed policy and
// every version that was active — and the four-eyes rules of its
// lifecycle. The entries are kept by the store's backend
// (store::PolicyHistory, opened with the store: server/store/open_store.h;
// with SQLite a small file beside the store, `<store>.policies`) so
// proposals and approvals survive restarts; the rules are all here.
//
// States: PROPOSED -> APPROVED -> ACTIVE -> SUPERSEDED (-> ACTIVE again by a
// rollback). Exactly one entry is ACTIVE while the gateway has a policy.
// The store only records; the caller changes the active policy (through
// PolicyHolder) and then records that it did. Every write is one
// transaction, synced before it returns.
//
// Thread-safe: lifecycle steps are serialised here, so a rule checked
// against the history still holds when its write lands. Owns its
// PolicyHistory.
#ifndef HAVENGATE_SERVER_POLICY_ADMIN_PROPOSAL_STORE_H_
#define HAVENGATE_SERVER_POLICY_ADMIN_PROPOSAL_STORE_H_

#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "havengate/v1/policy_admin.pb.h"
#include "server/store/policy_history.h"

namespace havengate::server {

// `proposed_by` of a version the gateway found in its policy file.
inline constexpr char kPolicyFileAuthor[] = "policy file on disk";

class ProposalStore {
 public:
  explicit ProposalStore(std::unique_ptr<store::PolicyHistory> history);

  // Stores a PROPOSED candidate. ALREADY_EXISTS if `version` was used by any
  // entry before (every decision records the version that made it, so a
  // label must name one text).
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Propose(
      const std::string& version, const std::string& text,
      const std::string& officer, const std::string& comment, absl::Time now);

  // Approves a PROPOSED entry. PERMISSION_DENIED if `officer` proposed it
  // (four eyes); FAILED_PRECONDITION if it is not PROPOSED; NOT_FOUND.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Approve(
      const std::string& id, const std::string& officer,
      const std::string& comment, absl::Time now);

  // Records that entry `id` became the active policy: it turns ACTIVE, the
  // previous ACTIVE entry SUPERSEDED.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> MarkActive(
      const std::string& id, const std::string& officer, absl::Time now);

  // Records the policy the gateway found in its policy file (at start, or
  // after an operator edited it). If the ACTIVE entry already has this
  // text, nothing changes; if another entry has the same version and text
  // (an activation the gateway did not get to record), that one becomes
  // ACTIVE; otherwise a new ACTIVE entry by kPolicyFileAuthor is added.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> RecordPolicyFile(
      const std::string& version, const std::string& text, absl::Time now);

  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> Get(
      const std::string& id, bool include_text) const;

  // The newest entry with `version` label; NOT_FOUND.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> FindVersion(
      const std::string& version, bool include_text) const;

  // The newest entry with `version` that was active before (SUPERSEDED).
  // NOT_FOUND says which versions can be rolled back to;
  // FAILED_PRECONDITION if `version` is the active one, or if it was never
  // approved by an officer (it only came from the policy file on disk):
  // four eyes — a rollback needs no new approval only because the version
  // had one before.
  [[nodiscard]] absl::StatusOr<v1::PolicyProposal> FindRollbackTarget(
      const std::string& version) const;

  // Every entry, newest first.
  [[nodiscard]] absl::StatusOr<std::vector<v1::PolicyProposal>> List(
      bool include_text) const;

  // The ACTIVE entry with its text, if there is one.
  [[nodiscard]] absl::StatusOr<std::optional<v1::PolicyProposal>> Active() const;

 private:
  absl::StatusOr<v1::PolicyProposal> GetLocked(const std::string& id,
                                               bool include_text) const;
  absl::StatusOr<v1::PolicyProposal> MarkActiveLocked(const std::string& id,
                                                      const std::string& officer,
                                                      absl::Time now);

  mutable std::mutex mu_;  // serialises lifecycle steps
  std::unique_ptr<store::PolicyHistory> history_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_POLICY_ADMIN_PROPOSAL_STORE_H_
