#include "server/audit/checkpointer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "evidence/checkpoint_file.h"
#include "server/logging/log.h"

namespace havengate::audit {
namespace {

// After a failed checkpoint or file write, wait this long before retrying.
constexpr absl::Duration kRetryAfter = absl::Seconds(5);

}  // namespace

Checkpointer::Checkpointer(CheckpointerOptions options)
    : options_(std::move(options)) {}

Checkpointer::~Checkpointer() { Stop(); }

void Checkpointer::OnCommitted(const v1::AuditRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (record.type() == v1::CHECKPOINT) {
    pending_.push_back(evidence::CheckpointOf(record));
    since_checkpoint_ = 0;
    ++checkpoints_;
    cv_.notify_all();
    return;
  }
  if (since_checkpoint_++ == 0) first_unsealed_at_ = absl::Now();
  if (since_checkpoint_ == options_.every_records) cv_.notify_all();
}

uint64_t Checkpointer::checkpoints() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checkpoints_;
}

absl::Status Checkpointer::Start(store::Store& store) {
  // Found now rather than at the first checkpoint: a directory that does
  // not exist, or a file the gateway may not write.
  store_ = &store;
  // No file (a database store without audit.checkpoint_file): the
  // checkpoints are records of the chain only.
  if (!options_.file.empty()) {
    absl::Status writable =
        evidence::AppendCheckpoints(options_.file, {}, /*create=*/true);
    if (!writable.ok()) return writable;
    CompareFileWithStore();
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Checkpointer::CompareFileWithStore() {
  absl::StatusOr<v1::AuditCheckpoint> last =
      evidence::ReadLastCheckpoint(options_.file);
  if (!last.ok()) return;  // a new file, or nothing complete in it yet
  const uint64_t s = last->sequence();
  absl::StatusOr<std::vector<v1::AuditRecord>> records =
      store_->ReadAudit(s - 1, 1);
  if (!records.ok()) return;
  if (records->empty() || (*records)[0].sequence() != s ||
      (*records)[0].hash() != last->hash()) {
    // Not fatal (a restored backup looks the same), but the evidence no
    // longer matches: verify will report it; operators must know now.
    log::Error("audit_log_does_not_hold_its_last_checkpoint",
               {{"checkpoint_sequence", s},
                {"checkpoint_file", options_.file},
                {"hint", "the end of the audit log was removed or the store "
                         "was replaced; run havenctl audit verify"}});
  }
}

void Checkpointer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  absl::Time retry_at = absl::InfinitePast();
  while (!stopping_) {
    const absl::Time now = absl::Now();
    if (!pending_.empty() && now >= retry_at) {
      lock.unlock();
      WritePendingLines();
      lock.lock();
      if (!pending_.empty()) retry_at = absl::Now() + kRetryAfter;
      continue;
    }
    const bool by_count = since_checkpoint_ >= options_.every_records;
    const bool by_time =
        since_checkpoint_ > 0 && now - first_unsealed_at_ >= options_.interval;
    if ((by_count || by_time) && now >= retry_at) {
      lock.unlock();
      bool ok = Checkpoint(by_count ? "records" : "interval");
      lock.lock();
      if (!ok) retry_at = absl::Now() + kRetryAfter;
      continue;
    }
    absl::Duration wait = options_.interval;
    if (since_checkpoint_ > 0) {
      wait = std::max(absl::Milliseconds(1),
                      first_unsealed_at_ + options_.interval - now);
    }
    if (now < retry_at) wait = std::min(wait, retry_at - now);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(wait) +
                           std::chrono::milliseconds(1));
  }
}

bool Checkpointer::Checkpoint(const char* why) {
  v1::AuditRecord record;
  record.set_type(v1::CHECKPOINT);
  record.set_detail(why);
  absl::Status status = store_->AppendAudit({std::move(record)});
  if (!status.ok()) {
    log::Error("audit_checkpoint_failed", {{"reason", status.message()}});
    return false;
  }
  // The store reported the committed record (OnCommitted) before
  // AppendAudit returned: its line is pending now.
  WritePendingLines();
  return true;
}

void Checkpointer::WritePendingLines() {
  std::lock_guard<std::mutex> file_lock(file_mu_);
  std::vector<v1::AuditCheckpoint> lines;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lines.swap(pending_);
  }
  if (lines.empty() || options_.file.empty()) return;
  absl::Status status = evidence::AppendCheckpoints(options_.file, lines);
  if (status.ok()) return;
  log::Error("audit_checkpoint_file_write_failed",
             {{"file", options_.file}, {"reason", status.message()}});
  std::lock_guard<std::mutex> lock(mu_);
  pending_.insert(pending_.begin(), lines.begin(), lines.end());
}

void Checkpointer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (store_ == nullptr) return;
  bool unsealed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    unsealed = since_checkpoint_ > 0;
  }
  if (unsealed) (void)Checkpoint("shutdown");
  WritePendingLines();
}

}  // namespace havengate::audit
