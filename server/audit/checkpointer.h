// Checkpointer: the gateway side of signed audit checkpoints. It appends a
// CHECKPOINT record after every `every_records` audit records, or after
// `interval` if anything was recorded since the last one, and once more
// when the gateway stops cleanly. The store signs each checkpoint at its
// place in the chain (StoreOptions::sign_checkpoint); once it is
// committed, the checkpointer appends it to the checkpoint file beside the
// store (fsynced), so that cutting records off the end of the log —
// checkpoints included — is detected by `havenctl audit verify`.
//
// Wiring: the store's StoreOptions::on_audit_committed must call
// OnCommitted for every committed record; then Start(store); Stop() before
// the store is closed.
//
// Thread-safe; owns one thread between Start and Stop.
#ifndef HAVENGATE_SERVER_AUDIT_CHECKPOINTER_H_
#define HAVENGATE_SERVER_AUDIT_CHECKPOINTER_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "havengate/v1/audit.pb.h"
#include "server/store/store.h"

namespace havengate::audit {

struct CheckpointerOptions {
  // A checkpoint after this many records (CHECKPOINT records not counted).
  int64_t every_records = 1000;
  // ... or after this long, if anything was recorded since the last one.
  absl::Duration interval = absl::Seconds(60);
  // The checkpoint file (see evidence/checkpoint_file.h).
  std::string file;
};

class Checkpointer {
 public:
  explicit Checkpointer(CheckpointerOptions options);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // For StoreOptions::on_audit_committed: quick, never blocks on I/O.
  void OnCommitted(const v1::AuditRecord& record);

  // Starts checkpointing into `store`, which must outlive Stop(). Before
  // that, compares the newest checkpoint in the file with the store and
  // logs an error if the store no longer holds it (its end was cut off or
  // it was replaced). UNAVAILABLE naming the file if the checkpoint file
  // cannot be written (nothing is started then).
  [[nodiscard]] absl::Status Start(store::Store& store);

  // Appends a final checkpoint if anything was recorded since the last,
  // writes the file and ends the thread. Idempotent.
  void Stop();

  // Checkpoints committed so far (for metrics and tests).
  uint64_t checkpoints() const;

 private:
  void Run();
  // Appends one CHECKPOINT record (blocking) and writes pending lines.
  // False if the store refused it.
  bool Checkpoint(const char* why);
  void WritePendingLines();
  void CompareFileWithStore();

  const CheckpointerOptions options_;
  store::Store* store_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                         // guarded by mu_
  bool stopped_ = false;                          // guarded by mu_
  int64_t since_checkpoint_ = 0;                  // guarded by mu_
  absl::Time first_unsealed_at_;                  // guarded by mu_
  uint64_t checkpoints_ = 0;                      // guarded by mu_
  std::vector<v1::AuditCheckpoint> pending_;      // guarded by mu_
  std::mutex file_mu_;  // serialises file writes
  std::thread thread_;
};

}  // namespace havengate::audit

#endif  // HAVENGATE_SERVER_AUDIT_CHECKPOINTER_H_
