#include "evidence/verify.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "evidence/audit_store.h"
#include "evidence/checkpoint_file.h"
#include "google/protobuf/util/time_util.h"
#include "proto/status_macros.h"

namespace havengate::evidence {
namespace {

using google::protobuf::util::TimeUtil;

constexpr absl::string_view kCheckpointType = "CHECKPOINT";

}  // namespace

absl::StatusOr<VerifyResult> VerifyAuditStore(const VerifyOptions& options) {
  HG_ASSIGN_OR_RETURN(std::unique_ptr<AuditStore> store,
                      AuditStore::Open(options.store_path));
  VerifyResult result;
  AuditChainVerifier chain(options.max_problems);
  if (store->immutable()) {
    result.notes.push_back(
        "the store was opened as immutable: records only in a -wal file "
        "beside it were not read");
  }

  // The checkpoint file, by sequence.
  std::map<uint64_t, v1::AuditCheckpoint> file_checkpoints;
  std::string file_path = options.checkpoint_file;
  if (file_path.empty()) {
    std::string fallback = DefaultCheckpointFile(options.store_path);
    if (std::filesystem::exists(fallback)) file_path = fallback;
  }
  if (file_path.empty()) {
    result.notes.push_back(
        "no checkpoint file: records cut off the end of the log cannot be "
        "detected (give --checkpoints)");
  } else {
    HG_ASSIGN_OR_RETURN(CheckpointFile file, ReadCheckpointFile(file_path));
    result.checkpoint_file = file_path;
    result.file_checkpoints = file.checkpoints.size();
    for (const std::string& bad : file.bad_lines) {
      chain.Report({AuditProblemKind::kCheckpointMismatch, 0, 0, "",
                    absl::StrCat("checkpoint file ", bad)});
    }
    if (file.incomplete_last_line) {
      result.notes.push_back(
          "the checkpoint file's last line is incomplete (a write cut short "
          "by a crash); it was ignored");
    }
    for (v1::AuditCheckpoint& c : file.checkpoints) {
      uint64_t s = c.sequence();
      if (options.signatures.has_value()) {
        absl::Status ok = options.signatures->Verify(
            s, c.previous_hash(), c.signature(), c.key_id());
        if (ok.ok()) {
          ++result.signatures_verified;
        } else {
          chain.Report({AuditProblemKind::kBadSignature, s, s,
                        std::string(kCheckpointType),
                        absl::StrCat("in the checkpoint file: ", ok.message())});
        }
      }
      file_checkpoints[s] = std::move(c);
    }
  }
  if (!options.signatures.has_value()) {
    result.notes.push_back(
        "checkpoint signatures were not checked (give --cert with the "
        "gateway's certificate)");
  }

  // One pass over the log.
  std::map<uint64_t, bool> file_matched;  // sequence -> found in the log
  uint64_t records_after_checkpoint = 0;
  uint64_t not_in_file = 0, first_not_in_file = 0;
  HG_RETURN_IF_ERROR(store->ForEachRow(
      0, [&](uint64_t row_key, absl::string_view bytes) {
        const v1::AuditRecord* record = chain.AddStored(row_key, bytes);
        ++records_after_checkpoint;
        if (record == nullptr) return true;
        const uint64_t s = record->sequence();
        if (record->type() == v1::CHECKPOINT) {
          records_after_checkpoint = 0;
          // A changed record is reported as such; its signature says no more.
          const bool intact = ComputeAuditHash(*record) == record->hash();
          if (options.signatures.has_value() && intact) {
            absl::Status ok = options.signatures->Verify(
                s, record->previous_hash(), record->checkpoint_signature(),
                record->checkpoint_key_id());
            if (ok.ok()) {
              ++result.signatures_verified;
            } else {
              chain.Report({AuditProblemKind::kBadSignature, s, s,
                            std::string(kCheckpointType),
                            std::string(ok.message())});
            }
          }
        }
        auto in_file = file_checkpoints.find(s);
        if (in_file != file_checkpoints.end() && !file_matched[s]) {
          file_matched[s] = true;
          if (record->type() != v1::CHECKPOINT ||
              record->hash() != in_file->second.hash()) {
            chain.Report(
                {AuditProblemKind::kCheckpointMismatch, s, s,
                 v1::AuditEventType_Name(record->type()),
                 "the checkpoint file holds a different checkpoint at this "
                 "place (the log was changed or rewritten from here)"});
          }
        } else if (record->type() == v1::CHECKPOINT && !file_path.empty() &&
                   in_file == file_checkpoints.end()) {
          if (not_in_file++ == 0) first_not_in_file = s;
        }
        return true;
      }));

  if (not_in_file > 0) {
    result.notes.push_back(absl::StrCat(
        not_in_file, " checkpoint record(s), the first at ", first_not_in_file,
        ", are not in the checkpoint file (an older copy of the file, a "
        "crash right after the checkpoint, or lines removed from it)"));
  }
  AuditChainReport report = chain.Finish();
  // Checkpoints the file has and the log does not.
  std::vector<AuditProblem> extra;
  for (const auto& [s, c] : file_checkpoints) {
    if (file_matched.count(s) != 0) continue;
    if (s > report.last_sequence) {
      // Only the newest matters: it bounds what was cut off.
      continue;
    }
    bool explained = false;
    for (const AuditProblem& p : report.problems) {
      if (p.kind == AuditProblemKind::kRemoved && p.first_sequence <= s &&
          s <= p.last_sequence) {
        explained = true;
      }
    }
    if (!explained) {
      extra.push_back({AuditProblemKind::kCheckpointMismatch, s, s,
                       std::string(kCheckpointType),
                       "in the checkpoint file but not in the log"});
    }
  }
  if (!file_checkpoints.empty()) {
    const auto& [last_s, last_c] = *file_checkpoints.rbegin();
    if (last_s > report.last_sequence) {
      extra.push_back(
          {AuditProblemKind::kCutOff, report.last_sequence + 1, last_s, "",
           absl::StrCat("the log ends at record ", report.last_sequence,
                        " but the checkpoint file holds checkpoint ", last_s,
                        " (signed ",
                        TimeUtil::ToString(last_c.recorded_at()),
                        "): at least these records were removed from the "
                        "end")});
    }
  }
  for (AuditProblem& p : extra) {
    if (report.problems.size() < options.max_problems) {
      report.problems.push_back(std::move(p));
    } else {
      ++report.problems_not_listed;
    }
  }
  std::stable_sort(report.problems.begin(), report.problems.end(),
                   [](const AuditProblem& a, const AuditProblem& b) {
                     return a.first_sequence < b.first_sequence;
                   });
  result.unsealed_tail = records_after_checkpoint;
  result.report = std::move(report);
  return result;
}

}  // namespace havengate::evidence
