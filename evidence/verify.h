// Offline verification of a gateway's audit evidence: the hash chain in the
// store file (AuditChainVerifier), the signatures of its checkpoint records
// (with the gateway's certificates, if given), and the checkpoint file
// beside it, which shows whether records were cut off the end of the log.
// This is what `havenctl audit verify` runs on a copy of the files; the
// gateway need not be running.
//
// Thread-safety: VerifyAuditStore has no shared state.
#ifndef HAVENGATE_EVIDENCE_VERIFY_H_
#define HAVENGATE_EVIDENCE_VERIFY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evidence/audit_chain.h"
#include "evidence/checkpoint_signature.h"

namespace havengate::evidence {

struct VerifyOptions {
  std::string store_path;
  // The checkpoint file; empty: DefaultCheckpointFile(store_path) if it
  // exists.
  std::string checkpoint_file;
  // Checks checkpoint signatures if set.
  std::optional<CheckpointVerifier> signatures;
  size_t max_problems = 1000;
};

struct VerifyResult {
  // Chain summary and every problem found (chain, signatures, checkpoint
  // file), in sequence order.
  AuditChainReport report;
  // The checkpoint file used ("" if none) and its checkpoints.
  std::string checkpoint_file;
  uint64_t file_checkpoints = 0;
  // Checkpoint signatures that verified (records and file lines).
  uint64_t signatures_verified = 0;
  // Records after the last checkpoint, which no signature seals yet.
  uint64_t unsealed_tail = 0;
  // Things to know that are not tampering, e.g. "no checkpoint file: a
  // cut-off tail cannot be detected".
  std::vector<std::string> notes;
};

// Errors only when the files cannot be read at all (NOT_FOUND,
// FAILED_PRECONDITION for a file that is not a store, UNAVAILABLE);
// tampering is reported in the result.
[[nodiscard]] absl::StatusOr<VerifyResult> VerifyAuditStore(
    const VerifyOptions& options);

}  // namespace havengate::evidence

#endif  // HAVENGATE_EVIDENCE_VERIFY_H_
