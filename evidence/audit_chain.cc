#include "evidence/audit_chain.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/digest.h"

namespace havengate::evidence {
namespace {

constexpr absl::string_view kCheckpointDomain = "havengate.v1.AuditCheckpoint";

std::string Sha256(absl::string_view a, absl::string_view b) {
  // Fetched once: OpenSSL 3 looks EVP_sha256() up in its providers at every
  // EVP_DigestInit_ex, a cost paid for every audit record otherwise.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  // One context per thread, reused: the writer thread seals every record.
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(
      EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  bool ok = kSha256 != nullptr && ctx != nullptr &&
            EVP_DigestInit_ex2(ctx.get(), kSha256, nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx.get(), b.data(), b.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), out, &size) == 1;
  // SHA-256 of bytes in memory cannot fail short of memory exhaustion.
  if (!ok || size != kAuditHashBytes) std::abort();
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string Place(uint64_t sequence) {
  return absl::StrCat("record ", sequence);
}

}  // namespace

std::string AuditRecordBytes(const v1::AuditRecord& record) {
  return DeterministicBytes(record);
}

std::string ComputeAuditHash(const v1::AuditRecord& record) {
  v1::AuditRecord unsealed = record;
  unsealed.clear_hash();
  return Sha256(record.previous_hash(), AuditRecordBytes(unsealed));
}

std::string SealAuditRecord(uint64_t sequence, absl::string_view previous_hash,
                            v1::AuditRecord& record) {
  record.set_sequence(sequence);
  record.set_previous_hash(std::string(previous_hash));
  record.clear_hash();
  std::string bytes = AuditRecordBytes(record);
  record.set_hash(Sha256(previous_hash, bytes));
  // The deterministic encoding writes fields in number order; `hash` (18)
  // is the last one set unless a checkpoint's key id (19) follows it. Then
  // the sealed encoding is the unsealed one with `hash` appended.
  static_assert(v1::AuditRecord::kHashFieldNumber == 18 &&
                v1::AuditRecord::kCheckpointKeyIdFieldNumber == 19);
  static const bool kKeyIdIsTheLastField = [] {
    const google::protobuf::Descriptor* d = v1::AuditRecord::descriptor();
    int last = 0;
    for (int i = 0; i < d->field_count(); ++i) last = std::max(last, d->field(i)->number());
    return last == v1::AuditRecord::kCheckpointKeyIdFieldNumber;
  }();
  if (!kKeyIdIsTheLastField || !record.checkpoint_key_id().empty() ||
      !record.GetReflection()->GetUnknownFields(record).empty()) {
    return AuditRecordBytes(record);
  }
  bytes.push_back(static_cast<char>(0x92));  // field 18, length-delimited
  bytes.push_back(static_cast<char>(0x01));
  bytes.push_back(static_cast<char>(kAuditHashBytes));
  bytes.append(record.hash());
  return bytes;
}

std::string CheckpointSignedBytes(uint64_t sequence,
                                  absl::string_view previous_hash) {
  std::string out(kCheckpointDomain);
  out.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((sequence >> shift) & 0xFF));
  }
  out.append(previous_hash.data(), previous_hash.size());
  return out;
}

absl::string_view AuditProblemKindName(AuditProblemKind kind) {
  switch (kind) {
    case AuditProblemKind::kChanged:
      return "changed";
    case AuditProblemKind::kRemoved:
      return "removed";
    case AuditProblemKind::kInserted:
      return "inserted";
    case AuditProblemKind::kReordered:
      return "reordered";
    case AuditProblemKind::kCutOff:
      return "cut-off tail";
    case AuditProblemKind::kBadSignature:
      return "bad signature";
    case AuditProblemKind::kCheckpointMismatch:
      return "checkpoint mismatch";
  }
  return "unknown";
}

std::string AuditProblem::ToString() const {
  std::string place;
  if (first_sequence == 0 && last_sequence == 0) {
    place = "log";
  } else if (first_sequence == last_sequence) {
    place = Place(first_sequence);
  } else {
    place = absl::StrCat("records ", first_sequence, "..", last_sequence);
  }
  if (!record_type.empty()) absl::StrAppend(&place, " (", record_type, ")");
  return absl::StrCat(place, ": ", AuditProblemKindName(kind), ": ", detail);
}

void AuditChainVerifier::Report(AuditProblem problem) {
  if (report_.problems.size() < max_problems_) {
    report_.problems.push_back(std::move(problem));
  } else {
    ++report_.problems_not_listed;
  }
}

const v1::AuditRecord* AuditChainVerifier::AddStored(uint64_t row_key,
                                                     absl::string_view bytes) {
  decoded_.Clear();
  if (!decoded_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    Check(row_key, nullptr, false);
    return nullptr;
  }
  Check(row_key, &decoded_, AuditRecordBytes(decoded_) == bytes);
  return &decoded_;
}

void AuditChainVerifier::Add(const v1::AuditRecord& record) {
  Check(record.sequence(), &record, true);
}

void AuditChainVerifier::Check(uint64_t row_key, const v1::AuditRecord* record,
                               bool encoding_ok) {
  ++report_.records;
  const bool hash_ok = record != nullptr &&
                       record->hash().size() == kAuditHashBytes &&
                       ComputeAuditHash(*record) == record->hash();
  const bool sound = hash_ok && encoding_ok;
  std::string type =
      record != nullptr ? v1::AuditEventType_Name(record->type()) : "";
  // A record whose content cannot be trusted is placed where it claims to
  // be only if that is the next place; otherwise where the store files it.
  const uint64_t s =
      sound || (record != nullptr && record->sequence() == max_seen_ + 1)
          ? record->sequence()
          : row_key;
  bool reported = false;

  if (!sound) {
    std::string detail;
    if (record == nullptr) {
      detail = "its stored bytes cannot be decoded";
    } else if (!hash_ok) {
      detail = "its content does not match its hash";
    } else {
      detail = "its stored bytes are not the encoding the gateway wrote";
    }
    Report({AuditProblemKind::kChanged, s, s, type, detail});
    reported = true;
  }

  if (s == 0) {
    Report({AuditProblemKind::kInserted, 0, 0, type,
            "a record without a sequence number"});
    has_previous_ = true;
    previous_sound_ = false;
    return;
  }
  if (report_.first_sequence == 0 || s < report_.first_sequence) {
    report_.first_sequence = s;
  }

  if (s == max_seen_ + 1) {
    max_seen_ = s;
  } else if (s > max_seen_ + 1) {
    missing_[max_seen_ + 1] = s - 1;
    max_seen_ = s;
  } else if (!reported) {
    // Behind: either a record that was skipped earlier (out of order), or
    // a second record with a sequence already seen.
    auto it = missing_.upper_bound(s);
    bool was_missing = false;
    if (it != missing_.begin()) {
      --it;
      if (s >= it->first && s <= it->second) {
        was_missing = true;
        uint64_t first = it->first, last = it->second;
        missing_.erase(it);
        if (first < s) missing_[first] = s - 1;
        if (s < last) missing_[s + 1] = last;
      }
    }
    if (was_missing) {
      Report({AuditProblemKind::kReordered, s, s, type,
              absl::StrCat("out of order: stored after record ",
                           previous_sequence_)});
    } else {
      std::string where =
          has_previous_ && previous_sequence_ == s
              ? absl::StrCat(" (store rows ", previous_row_, " and ", row_key,
                             ")")
              : absl::StrCat(" (store row ", row_key, ")");
      Report({AuditProblemKind::kInserted, s, s, type,
              absl::StrCat("a second record claims sequence ", s, where)});
    }
    reported = true;
  }

  if (!reported) {
    if (s == 1) {
      if (record->previous_hash() != std::string(kAuditHashBytes, '\0')) {
        Report({AuditProblemKind::kInserted, s, s, type,
                "the first record does not start the chain (its "
                "previous_hash is not zero)"});
        reported = true;
      }
    } else if (has_previous_ && previous_sound_ &&
               previous_sequence_ + 1 == s &&
               record->previous_hash() != previous_hash_) {
      Report({AuditProblemKind::kInserted, s, s, type,
              absl::StrCat("does not link to record ", s - 1,
                           " (its previous_hash is not that record's hash): "
                           "record ", s - 1,
                           " was replaced, or inserted before this one")});
      reported = true;
    }
  }

  if (record != nullptr && record->type() == v1::CHECKPOINT) {
    ++report_.checkpoints;
    if (sound) {
      report_.last_checkpoint_sequence =
          std::max(report_.last_checkpoint_sequence, s);
    }
  }
  report_.last_sequence = max_seen_;
  report_.last_hash = record != nullptr ? record->hash() : std::string();
  has_previous_ = true;
  previous_sound_ = sound && !reported;
  previous_sequence_ = s;
  previous_row_ = row_key;
  previous_hash_ = report_.last_hash;
}

AuditChainReport AuditChainVerifier::Finish() {
  for (const auto& [first, last] : missing_) {
    Report({AuditProblemKind::kRemoved, first, last, "",
            first == last
                ? std::string("missing from the chain")
                : absl::StrCat("missing from the chain (", last - first + 1,
                               " records)")});
  }
  missing_.clear();
  std::stable_sort(report_.problems.begin(), report_.problems.end(),
                   [](const AuditProblem& a, const AuditProblem& b) {
                     return a.first_sequence < b.first_sequence;
                   });
  return std::move(report_);
}

AuditChainReport VerifyAuditChain(const std::vector<v1::AuditRecord>& records) {
  AuditChainVerifier verifier;
  for (const v1::AuditRecord& record : records) verifier.Add(record);
  return verifier.Finish();
}

}  // namespace havengate::evidence
