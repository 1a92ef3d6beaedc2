// PolicyHistory: what a storage backend keeps of the gateway's policy
// history — entries (v1::PolicyProposal with their policy text), written
// and found, and no rules. The lifecycle and its four-eyes rules (which
// state follows which, who may approve, which version may be rolled back
// to) are ProposalStore's (server/policy_admin/proposal_store.h), the one
// caller.
//
// Thread-safe: every method may be called from any thread; each write is
// one transaction, durable (synced) when it returns. The caller owns the
// object; it owns its connection.
#ifndef HAVENGATE_SERVER_STORE_POLICY_HISTORY_H_
#define HAVENGATE_SERVER_STORE_POLICY_HISTORY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "havengate/v1/policy_admin.pb.h"

namespace havengate::store {

// Which entries Find returns; an unset field (or no states) matches every
// entry.
struct PolicyHistoryQuery {
  std::optional<std::string> id;
  std::optional<std::string> version;
  std::optional<std::string> digest;
  std::vector<v1::PolicyProposal::State> states;
  // Fill in `policy_text`.
  bool include_text = false;
  // At most this many (0: all).
  int limit = 0;
};

class PolicyHistory {
 public:
  virtual ~PolicyHistory() = default;

  // Adds `entry` (every field, `policy_text` included, but `id`) and
  // returns the id assigned to it: increasing, never reused.
  [[nodiscard]] virtual absl::StatusOr<std::string> Add(
      const v1::PolicyProposal& entry) = 0;

  // Writes the state, approval and activation fields of every entry, by
  // id, in one transaction (in order: a later entry wins).
  [[nodiscard]] virtual absl::Status Update(
      const std::vector<v1::PolicyProposal>& entries) = 0;

  // Entries matching `query`, newest (highest id) first.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::PolicyProposal>> Find(
      const PolicyHistoryQuery& query) = 0;
};

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_POLICY_HISTORY_H_
