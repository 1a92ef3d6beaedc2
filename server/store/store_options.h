// StoreOptions: how a store behaves whatever backend holds its data — the
// clock, group commit, and the audit evidence hooks (checkpoint signing,
// the committed-record callback, the benchmark-only audit switch). Backend
// settings (a file path, a connection) are the backend's own options (e.g.
// sqlite_store.h); which backend a gateway uses is configuration
// (open_store.h).
//
// A plain value; copy it freely. The hooks it holds run on the store's
// writer thread (see below) and whatever they capture must outlive the
// store.
#ifndef HAVENGATE_SERVER_STORE_STORE_OPTIONS_H_
#define HAVENGATE_SERVER_STORE_STORE_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "havengate/v1/audit.pb.h"

namespace havengate::store {

struct StoreOptions {
  // Most writes committed in one transaction.
  int max_batch = 512;
  // Clock used for receipts and audit records (tests fix it).
  std::function<absl::Time()> now = absl::Now;
  // Benchmarks only: audit records are dropped instead of appended to the
  // chain (nothing is sealed, stored or passed to on_audit_committed), so
  // that the audit benchmark (tests/bench/federation_bench) can measure
  // what the audit costs. A store opened with it keeps no evidence. The
  // gateway sets it only from GatewayConfig::discard_audit_for_benchmark,
  // which no config file can set.
  bool discard_audit_for_benchmark = false;

  // --- Audit evidence hooks (optional; both run on the writer thread) ---

  // Signs CHECKPOINT records: called while a CHECKPOINT record is appended,
  // with the sequence and previous hash the store assigned to it; the
  // result becomes its `checkpoint_signature` and `checkpoint_key_id`
  // (fields the caller left empty). An error fails that write and nothing
  // of it is stored. Unset: CHECKPOINT records are stored as given.
  struct CheckpointSignature {
    std::string signature;
    std::string key_id;
  };
  std::function<absl::StatusOr<CheckpointSignature>(
      uint64_t sequence, const std::string& previous_hash)>
      sign_checkpoint;
  // Called once per audit record after the transaction holding it is
  // committed, in chain order, with sequence and hashes set. Must be quick
  // and must not write to the store.
  std::function<void(const v1::AuditRecord&)> on_audit_committed;
};

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_STORE_OPTIONS_H_
