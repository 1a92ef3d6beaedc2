#include "server/store/domain_store.h"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "evidence/audit_chain.h"
#include "havengate/v1/federation.pb.h"
#include "proto/digest.h"
#include "proto/item_validation.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"

namespace havengate::store {
namespace {

// The bytes an outbox keeps for a message to a partner. The federation
// link sends the same message with its sequence set.
std::string OutboxBytes(v1::Item item) {
  v1::FederationMessage message;
  message.mutable_item()->Swap(&item);
  return message.SerializeAsString();
}
std::string OutboxBytes(const v1::Retraction& retraction) {
  v1::FederationMessage message;
  *message.mutable_retraction() = retraction;
  return message.SerializeAsString();
}
std::string OutboxBytes(const v1::FieldRequestOutcome& outcome) {
  v1::FederationMessage message;
  *message.mutable_request_outcome() = outcome;
  return message.SerializeAsString();
}

// What the writer thread works on. Encoding happens on the caller's
// thread, before the request is queued.
struct ItemRequest {
  ItemWrite write;
  std::string bytes;  // the item's deterministic encoding
  std::string digest;
  // Encoded copies, in the order of write.copies (whose items were moved
  // into them), and the withdrawal (empty if none).
  std::vector<std::string> copy_bytes;
  std::string withdrawal_bytes;
  Store::ItemCallback done;
};
struct RetractionRequest {
  RetractionWrite write;
  std::string bytes;         // the retraction's deterministic encoding
  std::string onward_bytes;  // empty if not forwarded
  Store::DoneCallback done;
};
struct AuditRequest {
  std::vector<v1::AuditRecord> records;
  Store::DoneCallback done;
};
struct AckRequest {
  std::string partner;
  uint64_t sequence;
  std::vector<v1::AuditRecord> audit;
  Store::DoneCallback done;
};
struct FieldRequestRequest {
  FieldRequestWrite write;
  Store::DoneCallback done;
};
using Request = std::variant<ItemRequest, RetractionRequest, AuditRequest,
                             AckRequest, FieldRequestRequest>;

// The outcome of one request inside a batch, delivered after commit.
using Outcome = std::variant<absl::StatusOr<ItemWriteResult>, absl::Status>;

struct AuditHead {
  uint64_t sequence = 0;
  std::string hash = std::string(32, '\0');
};

bool IsStorageFailure(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted ||
         status.code() == absl::StatusCode::kUnavailable;
}

class DomainStore final : public Store {
 public:
  DomainStore(std::unique_ptr<Backend> backend, StoreOptions options)
      : backend_(std::move(backend)), options_(std::move(options)) {}
  ~DomainStore() override { Close(); }

  absl::Status Open();

  void WriteItemAsync(ItemWrite write, ItemCallback done) override;
  void WriteRetractionAsync(RetractionWrite write, DoneCallback done) override;
  void WriteTogetherAsync(std::vector<GroupedWrite> writes) override;
  void AppendAuditAsync(std::vector<v1::AuditRecord> records,
                        DoneCallback done) override;
  void AckOutboxAsync(const std::string& partner, uint64_t sequence,
                      std::vector<v1::AuditRecord> audit,
                      DoneCallback done) override;
  void WriteFieldRequestAsync(FieldRequestWrite write, DoneCallback done) override;
  absl::StatusOr<std::optional<v1::FieldRequest>> GetFieldRequest(
      v1::FieldRequest::Role role, const std::string& request_id) override;
  absl::StatusOr<std::vector<v1::FieldRequest>> ListFieldRequests(
      v1::FieldRequest::Role role) override;

  absl::StatusOr<v1::InboxEntry> GetItem(const std::string& origin,
                                         const std::string& item_id) override;
  absl::StatusOr<bool> SentOtherCopy(const std::string& origin,
                                     const std::string& item_id,
                                     const std::string& sender) override;
  absl::StatusOr<ListPage> ListItems(const v1::ItemFilter& filter,
                                     int page_size,
                                     const std::string& page_token) override;
  absl::StatusOr<std::vector<v1::InboxEvent>> ReadEvents(
      uint64_t after_cursor, const v1::ItemFilter& filter, int max) override;
  absl::StatusOr<std::vector<v1::Hit>> ReadHits(uint64_t after_cursor,
                                                int max) override;
  absl::StatusOr<std::vector<v1::HitItemRef>> FindMatchKey(
      const v1::MatchKey& key, int max) override;
  uint64_t LastCursor() override;
  bool WaitForEvents(uint64_t after_cursor, absl::Time deadline) override;
  absl::StatusOr<std::vector<OutboxRecord>> ReadOutbox(
      const std::string& partner, uint64_t after_sequence, int max) override;
  absl::StatusOr<std::vector<OutboxStats>> GetOutboxStats() override;
  absl::StatusOr<std::vector<v1::AuditRecord>> ReadAudit(
      uint64_t after_sequence, int max) override;
  bool Healthy() override;
  void Close() override;

 private:
  void Enqueue(Request request);
  // Queues `requests` as one group, which the writer thread never splits
  // between transactions.
  void EnqueueTogether(std::vector<Request> requests);
  // The request for a write, encoded on the caller's thread; nullopt if
  // the write was refused at once (`done` has run).
  static std::optional<Request> ItemRequestFor(ItemWrite write,
                                               ItemCallback done);
  static Request RetractionRequestFor(RetractionWrite write, DoneCallback done);
  void WriterLoop();
  void CommitBatch(std::vector<Request>& batch);
  // `changed` is set before the first change to the batch: a refusal
  // after it would leave a partial write behind.
  absl::StatusOr<ItemWriteResult> ApplyItem(ItemRequest& request,
                                            AuditHead& head, absl::Time now,
                                            bool* changed);
  absl::Status ApplyRetraction(RetractionRequest& request, AuditHead& head,
                               absl::Time now);
  absl::Status ApplyAck(AckRequest& request, AuditHead& head, absl::Time now);
  absl::Status ApplyFieldRequest(FieldRequestRequest& request, AuditHead& head,
                                 absl::Time now);
  // Indexes the newest version's match keys and records a hit (event and
  // audit record, appended to `audit`) for each key new to the item that
  // another held item holds. `may_hold_keys` false: the item is known to
  // hold none (no version of it was current before).
  absl::Status IndexMatchKeys(const ItemWrite& write, absl::Time now,
                              bool may_hold_keys,
                              std::vector<v1::AuditRecord>& audit);
  absl::Status AppendAuditRecords(std::vector<v1::AuditRecord>& records,
                                  AuditHead& head, absl::Time now);
  // The chain head as stored (sequence 0 and a zero hash if empty).
  absl::Status ReadAuditHead(AuditHead& head);
  // Queues `message` for every partner that was queued a copy of the item,
  // except those in `except`.
  absl::Status QueueToPartnersOfItem(const std::string& origin,
                                     const std::string& item_id,
                                     const std::string& message,
                                     const std::vector<std::string>& except,
                                     absl::Time now);
  static absl::StatusOr<v1::InboxEntry> DecodeEntry(EntryRow& row);

  std::unique_ptr<Backend> backend_;
  const StoreOptions options_;
  std::thread writer_thread_;

  std::mutex mu_;
  std::condition_variable queue_cv_;
  std::condition_variable events_cv_;
  // A queued request, and how many requests after it belong to its group.
  struct Queued {
    Request request;
    size_t rest_of_group = 0;
  };
  std::deque<Queued> queue_;  // guarded by mu_
  bool closing_ = false;       // guarded by mu_
  bool closed_ = false;        // guarded by mu_
  bool healthy_ = true;        // guarded by mu_
  uint64_t last_cursor_ = 0;   // guarded by mu_
  // Writer thread only: the chain head as committed, and the event cursor
  // the request being applied created (0 if none).
  AuditHead audit_head_;
  uint64_t applied_cursor_ = 0;
  // Writer thread only: records appended in the open transaction, for
  // StoreOptions::on_audit_committed (empty when that is unset).
  std::vector<const v1::AuditRecord*> appended_audit_;
};

absl::Status DomainStore::ReadAuditHead(AuditHead& head) {
  HG_ASSIGN_OR_RETURN(std::optional<std::string> last,
                      backend_->LastAuditRecord());
  head = AuditHead();
  if (last.has_value()) {
    v1::AuditRecord record;
    if (!record.ParseFromString(*last)) {
      return absl::DataLossError("the last audit record cannot be read");
    }
    head.sequence = record.sequence();
    head.hash = record.hash();
  }
  return absl::OkStatus();
}

absl::Status DomainStore::Open() {
  HG_ASSIGN_OR_RETURN(last_cursor_, backend_->LastCursor());
  HG_RETURN_IF_ERROR(ReadAuditHead(audit_head_));
  // Events other replicas commit wake this replica's subscribers.
  backend_->WatchOtherCommits([this](uint64_t cursor) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cursor <= last_cursor_) return;
      last_cursor_ = cursor;
    }
    events_cv_.notify_all();
  });
  writer_thread_ = std::thread([this] { WriterLoop(); });
  return absl::OkStatus();
}

void DomainStore::Enqueue(Request request) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!closing_) {
      queue_.push_back(Queued{std::move(request)});
      queue_cv_.notify_one();
      return;
    }
  }
  absl::Status closed = absl::UnavailableError("store is closed");
  std::visit([&](auto& r) { r.done(closed); }, request);
}

void DomainStore::EnqueueTogether(std::vector<Request> requests) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!closing_) {
      for (size_t i = 0; i < requests.size(); ++i) {
        queue_.push_back(
            Queued{std::move(requests[i]), requests.size() - i - 1});
      }
      queue_cv_.notify_one();
      return;
    }
  }
  absl::Status closed = absl::UnavailableError("store is closed");
  for (Request& request : requests) {
    std::visit([&](auto& r) { r.done(closed); }, request);
  }
}

std::optional<Request> DomainStore::ItemRequestFor(ItemWrite write,
                                                   ItemCallback done) {
  if (write.item.version() == 0) {
    done(absl::InvalidArgumentError(
        "version: 0 reached the store; an ItemWrite reads it as 1"));
    return std::nullopt;
  }
  std::string bytes = DeterministicBytes(write.item);
  std::string digest = Sha256Hex(bytes);
  std::vector<std::string> copy_bytes;
  copy_bytes.reserve(write.copies.size());
  for (PartnerCopy& copy : write.copies) {
    copy_bytes.push_back(OutboxBytes(std::move(copy.item)));
  }
  std::string withdrawal_bytes;
  if (write.withdrawal.has_value()) {
    withdrawal_bytes = OutboxBytes(*write.withdrawal);
  }
  return ItemRequest{std::move(write), std::move(bytes), std::move(digest),
                     std::move(copy_bytes), std::move(withdrawal_bytes),
                     std::move(done)};
}

Request DomainStore::RetractionRequestFor(RetractionWrite write,
                                          DoneCallback done) {
  std::string bytes = DeterministicBytes(write.retraction);
  std::string onward =
      write.onward.has_value() ? OutboxBytes(*write.onward) : std::string();
  return RetractionRequest{std::move(write), std::move(bytes),
                           std::move(onward), std::move(done)};
}

void DomainStore::WriteItemAsync(ItemWrite write, ItemCallback done) {
  std::optional<Request> request =
      ItemRequestFor(std::move(write), std::move(done));
  if (request.has_value()) Enqueue(*std::move(request));
}

void DomainStore::WriteRetractionAsync(RetractionWrite write,
                                       DoneCallback done) {
  Enqueue(RetractionRequestFor(std::move(write), std::move(done)));
}

void DomainStore::WriteTogetherAsync(std::vector<GroupedWrite> writes) {
  std::vector<Request> requests;
  requests.reserve(writes.size());
  for (GroupedWrite& grouped : writes) {
    if (auto* item = std::get_if<ItemEntry>(&grouped)) {
      std::optional<Request> request =
          ItemRequestFor(std::move(item->write), std::move(item->done));
      if (request.has_value()) requests.push_back(*std::move(request));
    } else {
      auto& retraction = std::get<RetractionEntry>(grouped);
      requests.push_back(RetractionRequestFor(std::move(retraction.write),
                                              std::move(retraction.done)));
    }
  }
  if (!requests.empty()) EnqueueTogether(std::move(requests));
}

void DomainStore::AppendAuditAsync(std::vector<v1::AuditRecord> records,
                                   DoneCallback done) {
  Enqueue(AuditRequest{std::move(records), std::move(done)});
}

void DomainStore::AckOutboxAsync(const std::string& partner, uint64_t sequence,
                                 std::vector<v1::AuditRecord> audit,
                                 DoneCallback done) {
  Enqueue(AckRequest{partner, sequence, std::move(audit), std::move(done)});
}

void DomainStore::WriteFieldRequestAsync(FieldRequestWrite write,
                                         DoneCallback done) {
  Enqueue(FieldRequestRequest{std::move(write), std::move(done)});
}

void DomainStore::WriterLoop() {
  std::vector<Request> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      // A group is taken whole, even past max_batch.
      bool inside_group = false;
      while (!queue_.empty() &&
             (inside_group ||
              static_cast<int>(batch.size()) < options_.max_batch)) {
        inside_group = queue_.front().rest_of_group > 0;
        batch.push_back(std::move(queue_.front().request));
        queue_.pop_front();
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

void DomainStore::CommitBatch(std::vector<Request>& batch) {
  // Stores keep times to the microsecond: a receipt must say exactly what
  // the inbox will say the item was received at.
  const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(options_.now()));
  AuditHead head = audit_head_;
  uint64_t batch_cursor = 0;
  std::vector<Outcome> outcomes;
  outcomes.reserve(batch.size());

  absl::Status batch_status = backend_->BeginBatch();
  if (batch_status.ok() && backend_->SharedByReplicas()) {
    // Another replica may have appended since our last batch: extend the
    // chain from the head as BeginBatch locked it.
    batch_status = ReadAuditHead(head);
  }
  if (batch_status.ok() && batch.size() > 1) {
    std::vector<ItemKey> keys;
    for (const Request& request : batch) {
      if (const auto* r = std::get_if<ItemRequest>(&request)) {
        const v1::Item& item = r->write.item;
        keys.push_back(ItemKey{item.origin(), item.item_id(), item.version()});
      }
    }
    if (keys.size() > 1) batch_status = backend_->PrefetchItems(keys);
  }
  if (batch_status.ok()) {
    for (Request& request : batch) {
      // One refused write (a conflict) must not undo the others in the
      // batch. Item writes decide every refusal before their first change
      // (see ApplyItem), so they need no mark; the other requests run
      // under their own. A mark is not free: SQLite first copies every
      // page a write touches to the statement journal, several per item.
      const bool guarded = !std::holds_alternative<ItemRequest>(request);
      bool changed = false;
      AuditHead request_head = head;
      applied_cursor_ = 0;
      const size_t appended_before = appended_audit_.size();
      if (guarded) {
        absl::Status mark = backend_->BeginMark();
        if (!mark.ok()) {
          batch_status = mark;
          break;
        }
      }
      Outcome outcome = std::visit(
          [&](auto& r) -> Outcome {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, ItemRequest>) {
              return ApplyItem(r, request_head, now, &changed);
            } else if constexpr (std::is_same_v<T, RetractionRequest>) {
              return ApplyRetraction(r, request_head, now);
            } else if constexpr (std::is_same_v<T, AuditRequest>) {
              return AppendAuditRecords(r.records, request_head, now);
            } else if constexpr (std::is_same_v<T, AckRequest>) {
              return ApplyAck(r, request_head, now);
            } else {
              return ApplyFieldRequest(r, request_head, now);
            }
          },
          request);
      absl::Status status = std::visit(
          [](auto& o) -> absl::Status {
            if constexpr (std::is_same_v<std::decay_t<decltype(o)>,
                                         absl::Status>) {
              return o;
            } else {
              return o.status();
            }
          },
          outcome);
      // Storage failures (full disk, I/O) fail the whole batch: nothing of
      // it may be acknowledged. The backend may already have rolled the
      // transaction back, mark included.
      if (IsStorageFailure(status)) {
        batch_status = status;
        break;
      }
      if (!guarded && !status.ok() && changed) {
        // A refusal after changes that no mark can undo alone: a bug in
        // ApplyItem. Fail the batch rather than commit half a write.
        batch_status = absl::InternalError(absl::StrCat(
            "a refused item write left changes behind: ", status.message()));
        break;
      }
      if (guarded) {
        absl::Status end =
            status.ok() ? absl::OkStatus() : backend_->RollbackToMark();
        if (end.ok()) end = backend_->EndMark();
        if (!end.ok()) {
          batch_status = end;
          break;
        }
      }
      if (status.ok()) {
        head = request_head;
        batch_cursor = std::max(batch_cursor, applied_cursor_);
      } else {
        appended_audit_.resize(appended_before);
      }
      outcomes.push_back(std::move(outcome));
    }
  }
  if (batch_status.ok()) batch_status = backend_->CommitBatch();
  if (!batch_status.ok()) {
    backend_->RollbackBatch();
    std::lock_guard<std::mutex> lock(mu_);
    healthy_ = batch_status.code() != absl::StatusCode::kUnavailable;
  } else {
    audit_head_ = head;
    if (options_.on_audit_committed) {
      for (const v1::AuditRecord* record : appended_audit_) {
        options_.on_audit_committed(*record);
      }
    }
    {
      // Published before the callbacks run, so a client holding its
      // receipt can read what it wrote.
      std::lock_guard<std::mutex> lock(mu_);
      healthy_ = true;
      last_cursor_ = std::max<uint64_t>(last_cursor_, batch_cursor);
    }
    events_cv_.notify_all();
  }
  appended_audit_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    std::visit(
        [&](auto& r) {
          using T = std::decay_t<decltype(r)>;
          if (!batch_status.ok()) {
            r.done(batch_status);
            return;
          }
          if constexpr (std::is_same_v<T, ItemRequest>) {
            r.done(std::move(
                std::get<absl::StatusOr<ItemWriteResult>>(outcomes[i])));
          } else {
            r.done(std::get<absl::Status>(outcomes[i]));
          }
        },
        batch[i]);
  }
}

absl::StatusOr<ItemWriteResult> DomainStore::ApplyItem(ItemRequest& request,
                                                       AuditHead& head,
                                                       absl::Time now,
                                                       bool* changed) {
  const v1::Item& item = request.write.item;
  const std::string& origin = item.origin();
  const std::string& item_id = item.item_id();
  const uint32_t version = item.version();
  const std::string& received_from = request.write.received_from;
  // Every refusal is decided before the first change (CommitBatch runs
  // item writes without a mark): after it, only storage failures, which
  // fail the whole batch.

  // Items retracted by their origin take no new versions; a withdrawal
  // ("no longer shared") is lifted by a newer version shared again.
  HG_ASSIGN_OR_RETURN(ItemLookup lookup,
                      backend_->LookUpItem(origin, item_id, version));
  const std::optional<bool>& retraction = lookup.retraction;
  if (retraction.has_value() && *retraction) {
    return absl::FailedPreconditionError(absl::StrCat(
        "item ", item_id, " was retracted by its originator; it takes no "
        "new versions"));
  }
  const bool withdrawn = retraction.has_value();

  // Idempotency on (origin, item_id, version).
  const std::optional<StoredVersion>& stored = lookup.stored;
  if (stored.has_value()) {
    const bool same_sender = stored->received_from == received_from;
    // A different copy from the same sender is a conflict. From another
    // gateway it is the same version that travelled another path (the
    // origin shared it directly and a partner forwarded its own
    // projection): a duplicate, and the copy that came first stays.
    if (stored->digest != request.digest && same_sender) {
      return absl::AlreadyExistsError(absl::StrCat(
          "item ", item_id, " version ", version,
          " was accepted before with different content; send a higher "
          "version to change it"));
    }
    ItemWriteResult result;
    if (stored->digest != request.digest) {
      *changed = true;
      HG_RETURN_IF_ERROR(backend_->AddOtherCopy(origin, item_id, received_from));
      result.stored_copy_from = stored->received_from;
    }
    v1::Receipt& receipt = result.receipt;
    receipt.set_origin(origin);
    receipt.set_item_id(item_id);
    receipt.set_version(version);
    receipt.set_cursor(stored->cursor);
    receipt.set_digest(stored->digest);
    receipt.set_duplicate(true);
    // The original acceptance time is the event's receive time.
    *receipt.mutable_accepted_at() = ToTimestamp(stored->received_at);
    return result;
  }
  // Is this the newest version?
  const uint32_t current_version = lookup.current_version;
  const bool is_current = version > current_version;

  *changed = true;
  if (is_current && withdrawn) {
    HG_RETURN_IF_ERROR(backend_->DeleteRetraction(origin, item_id));
  }
  if (is_current && current_version > 0) {
    HG_RETURN_IF_ERROR(backend_->ClearCurrent(origin, item_id));
  }
  EventRow event;
  event.type = is_current ? EventType::kItem : EventType::kSuperseded;
  event.origin = origin;
  event.item_id = item_id;
  event.version = version;
  event.kind = static_cast<int>(KindOf(item));
  event.category = item.has_alert() ? item.alert().category() : 0;
  event.received_at = now;
  event.received_from = received_from;
  HG_ASSIGN_OR_RETURN(const uint64_t cursor, backend_->AddEvent(event));
  applied_cursor_ = cursor;
  HG_RETURN_IF_ERROR(backend_->AddVersion(origin, item_id, version, cursor,
                                          request.digest, request.bytes,
                                          is_current));
  // Copies only for the newest version: an older one arriving late must
  // not overwrite what partners hold.
  if (is_current) {
    std::vector<std::string> partners;
    partners.reserve(request.write.copies.size());
    for (size_t i = 0; i < request.write.copies.size(); ++i) {
      const PartnerCopy& copy = request.write.copies[i];
      HG_RETURN_IF_ERROR(backend_->AppendOutbox(
          copy.partner, request.copy_bytes[i], copy.expires_at, now));
      HG_RETURN_IF_ERROR(backend_->AddShare(origin, item_id, copy.partner));
      partners.push_back(copy.partner);
    }
    if (!request.withdrawal_bytes.empty()) {
      HG_RETURN_IF_ERROR(QueueToPartnersOfItem(
          origin, item_id, request.withdrawal_bytes, partners, now));
    }
  }
  if (is_current) {
    // With no version current before this one, the item holds no match
    // keys yet (they are indexed for current versions only): no look-up.
    HG_RETURN_IF_ERROR(IndexMatchKeys(request.write, now,
                                      /*may_hold_keys=*/current_version > 0,
                                      request.write.audit));
  }
  for (v1::AuditRecord& record : request.write.audit) {
    if (record.digest().empty()) record.set_digest(request.digest);
  }
  HG_RETURN_IF_ERROR(AppendAuditRecords(request.write.audit, head, now));

  ItemWriteResult result;
  v1::Receipt& receipt = result.receipt;
  receipt.set_origin(origin);
  receipt.set_item_id(item_id);
  receipt.set_version(version);
  receipt.set_cursor(cursor);
  *receipt.mutable_accepted_at() = ToTimestamp(now);
  receipt.set_digest(request.digest);
  return result;
}

absl::Status DomainStore::IndexMatchKeys(const ItemWrite& write, absl::Time now,
                                         bool may_hold_keys,
                                         std::vector<v1::AuditRecord>& audit) {
  const v1::Item& item = write.item;
  // Nothing held and nothing to index: not a statement (on PostgreSQL a
  // look-up is a round trip per item).
  if (!may_hold_keys && write.match_keys.empty()) return absl::OkStatus();
  std::vector<v1::MatchKey> held;
  if (may_hold_keys) {
    HG_ASSIGN_OR_RETURN(held,
                        backend_->MatchKeysOf(item.origin(), item.item_id()));
  }
  auto same = [](const v1::MatchKey& a, const v1::MatchKey& b) {
    return a.type() == b.type() && a.key() == b.key();
  };
  v1::HitItemRef self;
  self.set_origin(item.origin());
  self.set_item_id(item.item_id());
  self.set_version(item.version());
  self.set_received_from(write.received_from);
  for (const v1::MatchKey& key : write.match_keys) {
    // A key the item already held found its hits when it was indexed.
    if (std::any_of(held.begin(), held.end(),
                    [&](const v1::MatchKey& h) { return same(h, key); })) {
      continue;
    }
    HG_ASSIGN_OR_RETURN(std::vector<MatchHolder> holders,
                        backend_->FindMatchKeyHolders(key, kMaxHitsPerKey + 1));
    for (const MatchHolder& holder : holders) {
      if (holder.origin == item.origin() && holder.item_id == item.item_id()) {
        continue;
      }
      HG_ASSIGN_OR_RETURN(uint32_t version,
                          backend_->CurrentVersion(holder.origin, holder.item_id));
      HG_ASSIGN_OR_RETURN(
          std::optional<StoredVersion> other,
          backend_->FindVersion(holder.origin, holder.item_id, version));
      if (!other.has_value()) continue;
      v1::Hit hit;
      *hit.mutable_recorded_at() = ToTimestamp(now);
      hit.set_key_type(key.type());
      hit.set_key(key.key());
      *hit.mutable_item() = self;
      v1::HitItemRef* other_ref = hit.mutable_other();
      other_ref->set_origin(holder.origin);
      other_ref->set_item_id(holder.item_id);
      other_ref->set_version(version);
      other_ref->set_received_from(other->received_from);

      EventRow event;
      event.type = EventType::kHit;
      event.origin = item.origin();
      event.item_id = item.item_id();
      event.version = item.version();
      event.received_at = now;
      event.received_from = write.received_from;
      HG_ASSIGN_OR_RETURN(const uint64_t cursor, backend_->AddEvent(event));
      applied_cursor_ = std::max(applied_cursor_, cursor);
      hit.set_cursor(cursor);
      HG_RETURN_IF_ERROR(backend_->PutHit(cursor, hit.SerializeAsString()));

      v1::AuditRecord& record = audit.emplace_back();
      record.set_type(v1::HIT_RECORDED);
      v1::ItemRef* ref = record.mutable_item();
      ref->set_origin(item.origin());
      ref->set_item_id(item.item_id());
      ref->set_version(item.version());
      v1::ItemRef* other_item = record.mutable_other_item();
      other_item->set_origin(holder.origin);
      other_item->set_item_id(holder.item_id);
      other_item->set_version(version);
      record.set_match_key_type(v1::MatchKeyType_Name(key.type()));
      record.set_match_key(key.key());
    }
  }
  return backend_->ReplaceMatchKeys(item.origin(), item.item_id(),
                                    write.match_keys);
}

absl::Status DomainStore::QueueToPartnersOfItem(
    const std::string& origin, const std::string& item_id,
    const std::string& message, const std::vector<std::string>& except,
    absl::Time now) {
  HG_ASSIGN_OR_RETURN(std::vector<std::string> partners,
                      backend_->SharedWith(origin, item_id));
  for (const std::string& partner : partners) {
    if (std::find(except.begin(), except.end(), partner) != except.end()) {
      continue;
    }
    HG_RETURN_IF_ERROR(
        backend_->AppendOutbox(partner, message, absl::InfinitePast(), now));
  }
  return absl::OkStatus();
}

absl::Status DomainStore::ApplyRetraction(RetractionRequest& request,
                                          AuditHead& head, absl::Time now) {
  const v1::Retraction& r = request.write.retraction;
  HG_ASSIGN_OR_RETURN(std::optional<CurrentKind> current,
                      backend_->FindCurrentKind(r.origin(), r.item_id()));
  if (!current.has_value()) {
    return absl::NotFoundError(absl::StrCat("no item ", r.item_id(), " from ",
                                            r.origin(), " is stored"));
  }
  const bool by_origin = r.kind() != v1::Retraction::NO_LONGER_SHARED;
  HG_ASSIGN_OR_RETURN(std::optional<bool> existing,
                      backend_->FindRetraction(r.origin(), r.item_id()));
  // Already retracted for good, or withdrawn again: nothing new. A
  // retraction by the origin replaces an earlier withdrawal.
  if (existing.has_value() && (*existing || !by_origin)) {
    return absl::OkStatus();
  }
  EventRow event;
  event.type = EventType::kRetraction;
  event.origin = r.origin();
  event.item_id = r.item_id();
  event.kind = current->kind;
  event.category = current->category;
  event.received_at = now;
  event.received_from = request.write.received_from;
  HG_ASSIGN_OR_RETURN(const uint64_t cursor, backend_->AddEvent(event));
  applied_cursor_ = cursor;
  HG_RETURN_IF_ERROR(backend_->PutRetraction(r.origin(), r.item_id(), cursor,
                                             request.bytes, by_origin));
  // A withdrawn item is no longer held for matching.
  HG_RETURN_IF_ERROR(backend_->ReplaceMatchKeys(r.origin(), r.item_id(), {}));
  if (!request.onward_bytes.empty()) {
    HG_RETURN_IF_ERROR(QueueToPartnersOfItem(r.origin(), r.item_id(),
                                             request.onward_bytes, {}, now));
  }
  return AppendAuditRecords(request.write.audit, head, now);
}

absl::Status DomainStore::ApplyAck(AckRequest& request, AuditHead& head,
                                   absl::Time now) {
  HG_RETURN_IF_ERROR(backend_->RemoveOutbox(request.partner, request.sequence));
  return AppendAuditRecords(request.audit, head, now);
}

absl::Status DomainStore::ApplyFieldRequest(FieldRequestRequest& request,
                                            AuditHead& head, absl::Time now) {
  FieldRequestWrite& write = request.write;
  v1::FieldRequest& r = write.request;
  const int role = static_cast<int>(r.role());
  HG_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                      backend_->FindFieldRequest(role, r.request_id()));
  uint64_t stored_revision = 0;
  if (stored.has_value()) {
    v1::FieldRequest previous;
    if (!previous.ParseFromString(*stored)) {
      return absl::DataLossError(
          absl::StrCat("stored request ", r.request_id(), " cannot be read"));
    }
    stored_revision = previous.revision();
    if (write.read_revision == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("request ", r.request_id(), " is already stored"));
    }
  }
  if (stored_revision != write.read_revision) {
    return absl::AbortedError(absl::StrCat(
        "request ", r.request_id(), " changed meanwhile; read it again"));
  }
  if (!write.require_shared_with.empty()) {
    HG_ASSIGN_OR_RETURN(std::vector<std::string> partners,
                        backend_->SharedWith(r.origin(), r.item_id()));
    if (std::find(partners.begin(), partners.end(), write.require_shared_with) ==
        partners.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          r.origin(), " never released item ", r.item_id(), " to ",
          write.require_shared_with));
    }
  }
  r.set_revision(stored_revision + 1);
  HG_RETURN_IF_ERROR(backend_->PutFieldRequest(role, r.request_id(),
                                               r.SerializeAsString()));
  if (write.outcome.has_value()) {
    HG_RETURN_IF_ERROR(backend_->AppendOutbox(
        write.outcome_partner, OutboxBytes(*write.outcome), absl::InfinitePast(), now));
  }
  return AppendAuditRecords(write.audit, head, now);
}

absl::StatusOr<std::optional<v1::FieldRequest>> DomainStore::GetFieldRequest(
    v1::FieldRequest::Role role, const std::string& request_id) {
  HG_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                      backend_->ReadFieldRequest(static_cast<int>(role), request_id));
  if (!bytes.has_value()) return std::optional<v1::FieldRequest>();
  v1::FieldRequest request;
  if (!request.ParseFromString(*bytes)) {
    return absl::DataLossError(
        absl::StrCat("stored request ", request_id, " cannot be read"));
  }
  return std::optional<v1::FieldRequest>(std::move(request));
}

absl::StatusOr<std::vector<v1::FieldRequest>> DomainStore::ListFieldRequests(
    v1::FieldRequest::Role role) {
  HG_ASSIGN_OR_RETURN(std::vector<std::string> rows,
                      backend_->ReadFieldRequests(static_cast<int>(role)));
  std::vector<v1::FieldRequest> requests(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!requests[i].ParseFromString(rows[i])) {
      return absl::DataLossError("a stored request cannot be read");
    }
  }
  return requests;
}

absl::Status DomainStore::AppendAuditRecords(
    std::vector<v1::AuditRecord>& records, AuditHead& head, absl::Time now) {
  if (options_.discard_audit_for_benchmark) return absl::OkStatus();
  for (v1::AuditRecord& record : records) {
    if (!record.has_recorded_at()) {
      *record.mutable_recorded_at() = ToTimestamp(now);
    }
    const uint64_t sequence = head.sequence + 1;
    if (record.type() == v1::CHECKPOINT && options_.sign_checkpoint &&
        record.checkpoint_signature().empty()) {
      absl::StatusOr<StoreOptions::CheckpointSignature> signature =
          options_.sign_checkpoint(sequence, head.hash);
      if (!signature.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot sign the audit checkpoint: ",
                         signature.status().message()));
      }
      record.set_checkpoint_signature(std::move(signature->signature));
      record.set_checkpoint_key_id(std::move(signature->key_id));
    }
    const std::string bytes =
        evidence::SealAuditRecord(sequence, head.hash, record);
    HG_RETURN_IF_ERROR(backend_->AppendAudit(record.sequence(), bytes));
    head.sequence = record.sequence();
    head.hash = record.hash();
    if (options_.on_audit_committed) appended_audit_.push_back(&record);
  }
  return absl::OkStatus();
}

// --- Reads ---------------------------------------------------------------

absl::StatusOr<v1::InboxEntry> DomainStore::DecodeEntry(EntryRow& row) {
  v1::InboxEntry entry;
  entry.set_cursor(row.cursor);
  *entry.mutable_received_at() = ToTimestamp(row.received_at);
  entry.set_received_from(std::move(row.received_from));
  if (!entry.mutable_item()->ParseFromString(row.item)) {
    return absl::DataLossError(
        absl::StrCat("stored item at cursor ", row.cursor, " is unreadable"));
  }
  if (row.retraction.has_value()) {
    entry.mutable_retraction()->ParseFromString(*row.retraction);
  }
  return entry;
}

absl::StatusOr<v1::InboxEntry> DomainStore::GetItem(const std::string& origin,
                                                    const std::string& item_id) {
  HG_ASSIGN_OR_RETURN(std::optional<EntryRow> row,
                      backend_->GetCurrent(origin, item_id));
  if (!row.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no item ", item_id, " from ", origin, " is stored"));
  }
  return DecodeEntry(*row);
}

absl::StatusOr<bool> DomainStore::SentOtherCopy(const std::string& origin,
                                                const std::string& item_id,
                                                const std::string& sender) {
  return backend_->HasOtherCopy(origin, item_id, sender);
}

absl::StatusOr<ListPage> DomainStore::ListItems(const v1::ItemFilter& filter,
                                                int page_size,
                                                const std::string& page_token) {
  // A page token is "c<cursor>": the page starts below that cursor.
  uint64_t before_cursor = INT64_MAX;
  if (!page_token.empty()) {
    absl::string_view token = page_token;
    if (!absl::ConsumePrefix(&token, "c") ||
        !absl::SimpleAtoi(token, &before_cursor) || before_cursor == 0 ||
        before_cursor > INT64_MAX) {
      return absl::InvalidArgumentError(
          "page_token: is not a token this gateway issued");
    }
  }
  HG_ASSIGN_OR_RETURN(std::vector<EntryRow> rows,
                      backend_->ListCurrent(filter, before_cursor, page_size + 1));
  ListPage page;
  for (EntryRow& row : rows) {
    if (static_cast<int>(page.entries.size()) == page_size) {
      page.next_page_token = absl::StrCat("c", page.entries.back().cursor());
      break;
    }
    HG_ASSIGN_OR_RETURN(v1::InboxEntry entry, DecodeEntry(row));
    page.entries.push_back(std::move(entry));
  }
  return page;
}

absl::StatusOr<std::vector<v1::InboxEvent>> DomainStore::ReadEvents(
    uint64_t after_cursor, const v1::ItemFilter& filter, int max) {
  HG_ASSIGN_OR_RETURN(std::vector<EventReadRow> rows,
                      backend_->ReadEvents(after_cursor, filter, max));
  std::vector<v1::InboxEvent> events;
  events.reserve(rows.size());
  for (EventReadRow& row : rows) {
    v1::InboxEvent& event = events.emplace_back();
    event.set_cursor(row.cursor);
    if (row.type == EventType::kItem) {
      v1::InboxEntry* entry = event.mutable_entry();
      entry->set_cursor(row.cursor);
      *entry->mutable_received_at() = ToTimestamp(row.received_at);
      entry->set_received_from(std::move(row.received_from));
      if (!entry->mutable_item()->ParseFromString(row.item)) {
        return absl::DataLossError(absl::StrCat(
            "stored item at cursor ", row.cursor, " is unreadable"));
      }
    } else {
      event.mutable_retraction()->ParseFromString(row.retraction);
    }
  }
  return events;
}

absl::StatusOr<std::vector<v1::Hit>> DomainStore::ReadHits(
    uint64_t after_cursor, int max) {
  HG_ASSIGN_OR_RETURN(std::vector<std::string> rows,
                      backend_->ReadHits(after_cursor, max));
  std::vector<v1::Hit> hits(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!hits[i].ParseFromString(rows[i])) {
      return absl::DataLossError("a stored hit cannot be read");
    }
  }
  return hits;
}

absl::StatusOr<std::vector<v1::HitItemRef>> DomainStore::FindMatchKey(
    const v1::MatchKey& key, int max) {
  HG_ASSIGN_OR_RETURN(std::vector<EntryRow> rows,
                      backend_->ReadMatchKeyHolders(key, max));
  std::vector<v1::HitItemRef> refs;
  v1::Item item;
  for (const EntryRow& row : rows) {
    if (row.retraction.has_value()) continue;
    if (!item.ParseFromString(row.item)) {
      return absl::DataLossError(absl::StrCat(
          "stored item at cursor ", row.cursor, " is unreadable"));
    }
    v1::HitItemRef& ref = refs.emplace_back();
    ref.set_origin(item.origin());
    ref.set_item_id(item.item_id());
    ref.set_version(item.version());
    ref.set_received_from(row.received_from);
  }
  return refs;
}

uint64_t DomainStore::LastCursor() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_cursor_;
}

bool DomainStore::WaitForEvents(uint64_t after_cursor, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto until = absl::ToChronoTime(deadline);
  events_cv_.wait_until(lock, until, [&] {
    return last_cursor_ > after_cursor || closed_;
  });
  return last_cursor_ > after_cursor;
}

absl::StatusOr<std::vector<OutboxRecord>> DomainStore::ReadOutbox(
    const std::string& partner, uint64_t after_sequence, int max) {
  HG_ASSIGN_OR_RETURN(std::vector<OutboxRow> rows,
                      backend_->ReadOutbox(partner, after_sequence, max));
  std::vector<OutboxRecord> records;
  records.reserve(rows.size());
  v1::FederationMessage message;
  for (OutboxRow& row : rows) {
    OutboxRecord& r = records.emplace_back();
    r.partner = partner;
    r.sequence = row.sequence;
    r.expires_at = row.expires_at;
    r.enqueued_at = row.enqueued_at;
    // A damaged entry is returned unreadable (neither set), not as an
    // error: the link settles it on record and goes on with the rest.
    message.Clear();
    if (!message.ParseFromString(row.message)) continue;
    if (message.has_item()) {
      r.item.emplace().Swap(message.mutable_item());
    } else if (message.has_retraction()) {
      r.retraction.emplace().Swap(message.mutable_retraction());
    } else if (message.has_request_outcome()) {
      r.request_outcome.emplace().Swap(message.mutable_request_outcome());
    }
  }
  return records;
}

absl::StatusOr<std::vector<OutboxStats>> DomainStore::GetOutboxStats() {
  return backend_->OutboxStatistics();
}

absl::StatusOr<std::vector<v1::AuditRecord>> DomainStore::ReadAudit(
    uint64_t after_sequence, int max) {
  HG_ASSIGN_OR_RETURN(std::vector<std::string> rows,
                      backend_->ReadAudit(after_sequence, max));
  std::vector<v1::AuditRecord> records(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!records[i].ParseFromString(rows[i])) {
      return absl::DataLossError("an audit record cannot be read");
    }
  }
  return records;
}

bool DomainStore::Healthy() {
  // A backend that knows whether its database is reachable says so now;
  // otherwise the last batch's outcome does.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return false;
  }
  std::optional<bool> reachable = backend_->Reachable();
  std::lock_guard<std::mutex> lock(mu_);
  return reachable.has_value() ? *reachable && !closing_ : healthy_ && !closing_;
}

void DomainStore::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_ && !writer_thread_.joinable()) return;
    closing_ = true;
    queue_cv_.notify_all();
  }
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  events_cv_.notify_all();
  backend_->Close();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenDomainStore(
    std::unique_ptr<Backend> backend, StoreOptions options) {
  auto store =
      std::make_unique<DomainStore>(std::move(backend), std::move(options));
  HG_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace havengate::store
