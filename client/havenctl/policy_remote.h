// `--remote` for `havenctl policy validate|preview|diff`: the same question
// asked of the gateway's PolicyAdmin service — the gateway's own checks
// (organisation, configured peers, key files) and the items it actually
// stored — with an officer certificate. The offline commands
// (policy_commands.cc) add these flags and hand over when --remote is set;
// the printing of previews is shared so both forms read the same.
#ifndef HAVENGATE_CLIENT_HAVENCTL_POLICY_REMOTE_H_
#define HAVENGATE_CLIENT_HAVENCTL_POLICY_REMOTE_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/havenctl/connection_flags.h"
#include "havengate/v1/policy_admin.pb.h"

namespace havengate::havenctl {

struct RemoteFlags {
  bool enabled = false;
  ConnectionFlags connection;
  // A stored proposal, or a version label of the gateway's history,
  // instead of a policy file.
  std::string proposal;
  std::string version;

  // Adds --remote, --proposal, --version and the connection flags.
  void AddTo(CLI::App& cmd);
  // True if --proposal or --version names the candidate (no file needed).
  bool names_stored_policy() const { return !proposal.empty() || !version.empty(); }
  // The candidate: --proposal, --version or the policy file `file`.
  [[nodiscard]] absl::StatusOr<v1::PolicyCandidate> Candidate(
      const std::string& file) const;
};

// `havenctl policy validate --remote [FILE]`: exit 0 only if valid. With
// `json` the gateway's ValidatePolicyResponse as one JSON object.
int RunRemoteValidate(const RemoteFlags& remote, const std::string& file,
                      bool json);

struct PreviewPrintOptions {
  std::string partner;  // only this partner ("" for all)
  bool json = false;
};

// `havenctl policy preview --remote [FILE] ITEM`: `file` empty with
// `active` previews under the active policy.
int RunRemotePreview(const RemoteFlags& remote, const std::string& file,
                     bool active, const v1::PreviewPolicyRequest& request,
                     const PreviewPrintOptions& print);

// Prints a preview (either form): per partner "== partner: reason", the
// projected item, the explanation; or one JSON document. Exit code 2 if
// `print.partner` is not a partner of the deciding policy.
int PrintPreview(const v1::PreviewPolicyResponse& preview,
                 const PreviewPrintOptions& print);

struct RemoteDiffFlags {
  std::string since, until;
  std::string base_version;
  uint32_t max_items = 0;
  bool items = false;
  bool exit_code = false;
  // The gateway's DiffPolicyResponse as one JSON object.
  bool json = false;
};

// `havenctl policy diff --remote [FILE] [--since T] [--until T]`.
int RunRemoteDiff(const RemoteFlags& remote, const std::string& file,
                  const RemoteDiffFlags& flags);

}  // namespace havengate::havenctl

#endif  // HAVENGATE_CLIENT_HAVENCTL_POLICY_REMOTE_H_
