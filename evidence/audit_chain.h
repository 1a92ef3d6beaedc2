// The audit hash chain, in one place for the gateway that writes it and
// everyone who checks it: how a record is encoded and hashed, what a
// checkpoint signature covers, and the verification that tells exactly what
// is wrong with a chain and where.
//
// A record's hash is SHA-256(previous_hash || deterministic encoding of the
// record with `hash` empty); the first record's previous_hash is 32 zero
// bytes; sequences start at 1 without gaps (havengate/v1/audit.proto).
// The store seals records with SealAuditRecord; `havenctl audit verify` and
// the tests check them with AuditChainVerifier.
//
// Problems name a place (sequence numbers, and the store row where it
// differs) and a record type, never a record's contents.
//
// Functions are pure and thread-safe; an AuditChainVerifier is used from one
// thread at a time.
#ifndef HAVENGATE_EVIDENCE_AUDIT_CHAIN_H_
#define HAVENGATE_EVIDENCE_AUDIT_CHAIN_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "havengate/v1/audit.pb.h"

namespace havengate::evidence {

inline constexpr size_t kAuditHashBytes = 32;

// The deterministic protobuf encoding of `record`: the bytes the store keeps.
std::string AuditRecordBytes(const v1::AuditRecord& record);

// The hash `record` must carry: SHA-256(record.previous_hash() ||
// AuditRecordBytes(record with `hash` cleared)). 32 bytes.
std::string ComputeAuditHash(const v1::AuditRecord& record);

// Sets `record`'s sequence and previous_hash and then its hash. Returns
// AuditRecordBytes of the sealed record (what the store keeps), computed
// without encoding the record a second time.
std::string SealAuditRecord(uint64_t sequence, absl::string_view previous_hash,
                            v1::AuditRecord& record);

// What a CHECKPOINT record's signature covers: "havengate.v1.AuditCheckpoint",
// a zero byte, `sequence` as 8 bytes big-endian, `previous_hash`.
std::string CheckpointSignedBytes(uint64_t sequence,
                                  absl::string_view previous_hash);

enum class AuditProblemKind {
  // A record's content does not match its hash, or its stored bytes do not
  // decode or are not the encoding the store writes.
  kChanged,
  // Sequence numbers are missing from the chain.
  kRemoved,
  // A record that does not belong where it is: a second record with the
  // same sequence, or one that does not link to the record before it.
  kInserted,
  // A record stored out of its place in the order.
  kReordered,
  // Records at the end are missing: the checkpoint file names a checkpoint
  // the log no longer holds.
  kCutOff,
  // A checkpoint signature does not verify with the given certificates.
  kBadSignature,
  // The checkpoint file and the log disagree about a checkpoint.
  kCheckpointMismatch,
};

// "changed", "removed", "inserted", "reordered", "cut-off tail",
// "bad signature", "checkpoint mismatch".
absl::string_view AuditProblemKindName(AuditProblemKind kind);

struct AuditProblem {
  AuditProblemKind kind = AuditProblemKind::kChanged;
  // The place: one record (first == last) or a range of sequences.
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  // The record's type name (e.g. "ITEM_INGESTED") where known, else empty.
  std::string record_type;
  // What exactly is wrong; names places and types only.
  std::string detail;

  // e.g. "record 57 (ITEM_INGESTED): changed: its content does not match
  // its hash" or "records 58..60: removed: missing from the chain".
  std::string ToString() const;
};

struct AuditChainReport {
  // Rows looked at, and the range of sequences seen.
  uint64_t records = 0;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  // Hash of the last record in store order (the head).
  std::string last_hash;
  // CHECKPOINT records, and the sequence of the last one (0: none).
  uint64_t checkpoints = 0;
  uint64_t last_checkpoint_sequence = 0;
  // In the order found; at most the verifier's `max_problems`.
  std::vector<AuditProblem> problems;
  // Problems found beyond `max_problems` (not listed).
  uint64_t problems_not_listed = 0;

  bool ok() const { return problems.empty() && problems_not_listed == 0; }
};

// Checks a chain fed one record at a time in the store's order, so a log of
// any length is verified in constant memory (plus the gaps it finds).
class AuditChainVerifier {
 public:
  explicit AuditChainVerifier(size_t max_problems = 1000)
      : max_problems_(max_problems) {}

  // The next stored row: `row_key` is the sequence the store files it
  // under, `bytes` the stored encoding. Returns the decoded record (valid
  // until the next call), or nullptr if the bytes do not decode.
  const v1::AuditRecord* AddStored(uint64_t row_key, absl::string_view bytes);

  // The next record, already decoded (filed under its own sequence).
  void Add(const v1::AuditRecord& record);

  // Reports a problem found by a caller's own check (e.g. a signature),
  // counted against `max_problems` like the chain's own.
  void Report(AuditProblem problem);

  // Ends the chain: reports what is still missing. Call once.
  AuditChainReport Finish();

 private:
  void Check(uint64_t row_key, const v1::AuditRecord* record,
             bool encoding_ok);

  size_t max_problems_;
  AuditChainReport report_;
  uint64_t max_seen_ = 0;
  // Sequences skipped so far, as [first, last] ranges keyed by first.
  std::map<uint64_t, uint64_t> missing_;
  // The previous row, for the link check.
  bool has_previous_ = false;
  bool previous_sound_ = false;
  uint64_t previous_sequence_ = 0;
  uint64_t previous_row_ = 0;
  std::string previous_hash_;
  v1::AuditRecord decoded_;
};

// Verifies records held in memory, in order.
AuditChainReport VerifyAuditChain(const std::vector<v1::AuditRecord>& records);

}  // namespace havengate::evidence

#endif  // HAVENGATE_EVIDENCE_AUDIT_CHAIN_H_
