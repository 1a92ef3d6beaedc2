// PolicyHolder: the gateway's active sharing policy, and the one place that
// changes it.
//
// Every decision takes `current()` once and decides the whole item under
// that version, so an activation never splits an item across versions; work
// in flight finishes under the policy it started with. A replacement is
// checked before it is used (it compiles, names this organisation, names
// only configured peers as partners); a policy that fails any check is never
// active, and the old one stays.
//
// The file on disk and the active policy agree: Activate() writes the file
// atomically (temporary file, fsync, rename) before the swap, and
// ReloadIfChanged() picks up a file an operator edited, through the same
// checks. Thread-safe.
#ifndef HAVENGATE_SERVER_POLICY_HOLDER_POLICY_HOLDER_H_
#define HAVENGATE_SERVER_POLICY_HOLDER_POLICY_HOLDER_H_

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/policy.h"

namespace havengate::server {

struct PolicyHolderOptions {
  // The policy file; empty: no policy, nothing is shared with anyone.
  std::string path;
  // This organisation's id: the policy must be written for it.
  std::string organisation;
  // Organisation ids of the configured peers: every partner the policy
  // names must be one of them (a partner without a link would queue items
  // for ever).
  std::set<std::string> peers;
};

class PolicyHolder {
 public:
  // Loads and checks the policy file. Errors name the file and every problem
  // (`file:line:column: message`); the gateway must not start on them.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PolicyHolder>> Load(
      PolicyHolderOptions options);

  // The active policy; nullptr when the gateway runs without one.
  std::shared_ptr<const policy::CompiledPolicy> current() const;

  // The checks a candidate must pass beyond compiling: organisation and
  // partners. INVALID_ARGUMENT naming the problem.
  [[nodiscard]] absl::Status CheckCandidate(
      const policy::CompiledPolicy& candidate) const;
  // Compiles `text` through every check Activate makes (key files resolve
  // against the policy file's directory), without activating it. Appends
  // every error and warning to `diagnostics`, named `display_name`; the
  // organisation and partner checks are errors without a position.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>>
  CompileCandidate(const std::string& text, const std::string& display_name,
                   std::vector<policy::Diagnostic>* diagnostics) const;

  // Makes `text` (YAML or JSON, a complete policy file) the active policy:
  // compiles and checks it, writes it to the policy file atomically, then
  // swaps. On any error nothing changes, on disk or in memory. Returns the
  // new policy.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>>
  Activate(const std::string& text);

  // If the file changed since it was last read (content, not time), loads
  // it through the same checks and swaps. Returns true if a new policy is
  // active; an error if the file is bad (the old policy stays, and the same
  // bad content is reported once, not at every call).
  [[nodiscard]] absl::StatusOr<bool> ReloadIfChanged();

  // The configured peers from now on (a configuration reload). The active
  // policy stays; a file refused before (e.g. for naming a peer only now
  // added) is checked again by the next ReloadIfChanged.
  void SetPeers(std::set<std::string> peers);

  // The text of the active policy as it is in the file.
  std::string current_text() const;
  const std::string& path() const { return options_.path; }

  // Called after every swap with the new policy (on the swapping thread).
  void OnActivated(
      std::function<void(const std::shared_ptr<const policy::CompiledPolicy>&)>
          listener);

 private:
  explicit PolicyHolder(PolicyHolderOptions options);
  absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> Compile(
      const std::string& text) const;
  std::vector<std::string> CandidateProblems(
      const policy::CompiledPolicy& candidate) const;
  void Swap(std::shared_ptr<const policy::CompiledPolicy> policy,
            std::string text);

  const PolicyHolderOptions options_;  // options_.peers: see peers_
  mutable std::mutex mu_;  // guards the fields below
  std::set<std::string> peers_;
  std::shared_ptr<const policy::CompiledPolicy> current_;
  std::string current_text_;
  std::string last_bad_text_;
  std::vector<std::function<void(const std::shared_ptr<const policy::CompiledPolicy>&)>>
      listeners_;
  std::mutex change_mu_;  // serialises Activate / ReloadIfChanged
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_POLICY_HOLDER_POLICY_HOLDER_H_
