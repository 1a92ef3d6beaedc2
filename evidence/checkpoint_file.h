// The checkpoint file beside a gateway's store (`<store>.checkpoints`): an
// append-only copy of every signed CHECKPOINT record, one
// havengate.v1.AuditCheckpoint as proto3 JSON per line, each line fsynced
// before the gateway moves on. `havenctl audit verify` compares it with the
// log to find a cut-off tail (see havengate/v1/audit.proto). Operators may
// ship it off the machine as it grows (it holds no secrets).
//
// Thread-safety: the functions share no state; concurrent appends to one
// file from several processes are not supported (one gateway owns it).
#ifndef HAVENGATE_EVIDENCE_CHECKPOINT_FILE_H_
#define HAVENGATE_EVIDENCE_CHECKPOINT_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "havengate/v1/audit.pb.h"

namespace havengate::evidence {

// `<store_path>.checkpoints`.
std::string DefaultCheckpointFile(const std::string& store_path);

// The line for a committed CHECKPOINT record.
v1::AuditCheckpoint CheckpointOf(const v1::AuditRecord& record);

// Appends one line per checkpoint and fsyncs (the directory too when the
// file is new). UNAVAILABLE naming the file if it cannot be written. With
// no lines, does nothing, or with `create` makes sure the file exists and
// can be appended to.
[[nodiscard]] absl::Status AppendCheckpoints(
    const std::string& path, const std::vector<v1::AuditCheckpoint>& lines,
    bool create = false);

struct CheckpointFile {
  std::vector<v1::AuditCheckpoint> checkpoints;
  // Lines that are not a checkpoint, as "line N: problem".
  std::vector<std::string> bad_lines;
  // The last line has no newline and does not parse: a write cut short by
  // a crash, not tampering.
  bool incomplete_last_line = false;
};

// The newest complete checkpoint in the file, reading only its end (the
// file grows for the life of the gateway). NOT_FOUND if the file does not
// exist or holds no complete checkpoint.
[[nodiscard]] absl::StatusOr<v1::AuditCheckpoint> ReadLastCheckpoint(
    const std::string& path);

// Reads a checkpoint file. NOT_FOUND if it does not exist.
[[nodiscard]] absl::StatusOr<CheckpointFile> ReadCheckpointFile(
    const std::string& path);

}  // namespace havengate::evidence

#endif  // HAVENGATE_EVIDENCE_CHECKPOINT_FILE_H_
