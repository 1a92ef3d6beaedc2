// Store: the gateway's durable state — items (its own and those partners
// shared with it), retractions, per-partner outboxes and the audit chain —
// as the rest of the daemon sees it. This header is the interface and its
// vocabulary only; how a store is opened is in open_store.h, the rules
// every backend shares in domain_store.h, storage itself in backend.h (and
// sqlite_store.h for the one backend there is).
//
// Writes are atomic per write and durable (committed and synced) when their
// completion callback runs; concurrent writes are batched into one
// transaction and one sync (group commit), so durability does not cost one
// fsync per item. A write that fails leaves nothing behind.
//
// All methods are thread-safe. Callbacks run on the store's writer thread:
// they must be quick and must not call back into the store's write methods.
// The store owns what it is handed (writes are taken by value) and nothing
// of the caller's; readers get copies.
#ifndef HAVENGATE_SERVER_STORE_STORE_H_
#define HAVENGATE_SERVER_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "havengate/v1/audit.pb.h"
#include "havengate/v1/hits.pb.h"
#include "havengate/v1/inbox.pb.h"
#include "havengate/v1/ingest.pb.h"
#include "havengate/v1/item.pb.h"
#include "havengate/v1/requests.pb.h"

namespace havengate::store {

// A copy of an item the sharing decision released to one partner: the
// projection the partner may see, its provenance ending with this
// gateway's hop.
struct PartnerCopy {
  std::string partner;
  v1::Item item;
  // InfinitePast: never expires.
  absl::Time expires_at = absl::InfinitePast();
};

// Stores one version of an item, with what the sharing decision says must
// happen atomically with it.
struct ItemWrite {
  // The write for `item` from `received_from`. The item's version is
  // normalised here (0 is read as 1, see item.proto) and nowhere else:
  // decide on `item` of the write, not on the item passed in.
  ItemWrite(v1::Item item, std::string received_from);

  // The item as it will be held: origin set, provenance complete, version
  // at least 1 (a write of version 0 is refused with INVALID_ARGUMENT).
  v1::Item item;
  // Organisation id it came from: this organisation's own id for items its
  // clients pushed, the peer's id for items received.
  std::string received_from;
  // Queued for partners in the same transaction as the item, if it is the
  // newest version held.
  std::vector<PartnerCopy> copies;
  // If set: every partner that was sent an earlier version of this item
  // but gets no copy of this one is queued this withdrawal instead (the
  // item is no longer shared with it). Who that is, the store decides.
  std::optional<v1::Retraction> withdrawal;
  // Appended to the audit chain in the same transaction. Their `sequence`,
  // `previous_hash` and `hash` are assigned by the store; an empty
  // `digest` becomes the stored item's.
  std::vector<v1::AuditRecord> audit;
  // The item's match keys (CompiledPolicy::MatchKeys; never a personal
  // value in clear). If this is the newest version they replace the keys
  // indexed for the item, and each key the item did not hold before that
  // another held item holds is recorded as a hit, in the same transaction:
  // an inbox event (Store::ReadHits) and a HIT_RECORDED audit record. At
  // most kMaxHitsPerKey other items are recorded per key and write.
  std::vector<v1::MatchKey> match_keys;
};

inline constexpr int kMaxHitsPerKey = 100;

struct ItemWriteResult {
  v1::Receipt receipt;
  // Set when the write was a duplicate with other content (see
  // WriteItemAsync): the organisation the stored copy came from.
  std::string stored_copy_from;
};

// Withdraws an item (every version) by its originator.
struct RetractionWrite {
  v1::Retraction retraction;
  // Organisation id it came from (own id when retracted here).
  std::string received_from;
  // If set: queued for every partner that was sent any version of the item.
  std::optional<v1::Retraction> onward;
  std::vector<v1::AuditRecord> audit;
};

// A request for withheld fields (requests.proto) as this gateway holds
// it, stored under (role, request_id), with what must happen atomically
// with it.
struct FieldRequestWrite {
  // Its `revision` is set by the store (one more than the stored one).
  v1::FieldRequest request;
  // The revision the change was made from (0: the request must not be
  // stored yet). ABORTED if the stored one differs: someone else changed
  // it first.
  uint64_t read_revision = 0;
  // If not empty: FAILED_PRECONDITION unless the item (request.origin,
  // request.item_id) was queued for this partner (it received the item).
  std::string require_shared_with;
  // If set: queued for `outcome_partner` over the federation link.
  std::optional<v1::FieldRequestOutcome> outcome;
  std::string outcome_partner;
  std::vector<v1::AuditRecord> audit;
};

// An entry read from a partner's outbox: what to send, not how (the
// federation link builds the wire message).
struct OutboxRecord {
  std::string partner;
  // Strictly increasing per partner.
  uint64_t sequence = 0;
  // Exactly one is set, unless the stored entry cannot be read (it was
  // damaged): then neither is, and the entry can never be sent.
  std::optional<v1::Item> item;
  std::optional<v1::Retraction> retraction;
  std::optional<v1::FieldRequestOutcome> request_outcome;
  absl::Time expires_at = absl::InfinitePast();
  absl::Time enqueued_at;

  bool readable() const {
    return item.has_value() || retraction.has_value() || request_outcome.has_value();
  }
};

struct OutboxStats {
  std::string partner;
  uint64_t depth = 0;
  // InfinitePast if the outbox is empty.
  absl::Time oldest_enqueued_at = absl::InfinitePast();
};

struct ListPage {
  std::vector<v1::InboxEntry> entries;
  std::string next_page_token;
};

class Store {
 public:
  using ItemCallback = std::function<void(absl::StatusOr<ItemWriteResult>)>;
  using DoneCallback = std::function<void(absl::Status)>;

  virtual ~Store() = default;

  // Queues `write`; `done` runs once it is durable, or failed. Results:
  // - OK with a new receipt;
  // - OK with `receipt.duplicate` set (and the original receipt, whose
  //   digest is the stored copy's) if this (origin, item_id, version) is
  //   already stored with the same content, or with other content that came
  //   from another organisation than `received_from` (one version that
  //   reached this gateway by two paths; the first copy stays): nothing is
  //   written, no outbox or audit entries are added (a copy from another
  //   organisation is remembered for SentOtherCopy);
  // - ALREADY_EXISTS if it is stored with different content from the same
  //   organisation;
  // - FAILED_PRECONDITION if the item was retracted by its origin;
  // - INVALID_ARGUMENT if the item's version is 0 (see ItemWrite);
  // - RESOURCE_EXHAUSTED if the disk is full; UNAVAILABLE if the store is
  //   closed or broken. In both cases nothing was written.
  // A version older than the newest held is stored but queues nothing.
  virtual void WriteItemAsync(ItemWrite write, ItemCallback done) = 0;

  // Blocking form of WriteItemAsync.
  [[nodiscard]] absl::StatusOr<ItemWriteResult> WriteItem(ItemWrite write);

  // Records a retraction. NOT_FOUND if no version of the item is stored;
  // OK (and nothing new) if it was already retracted by its origin, or is
  // withdrawn again. A retraction by the origin replaces a withdrawal; a
  // withdrawal is lifted by a newer version.
  virtual void WriteRetractionAsync(RetractionWrite write,
                                    DoneCallback done) = 0;
  [[nodiscard]] absl::Status WriteRetraction(RetractionWrite write);

  // Writes handed over together (WriteTogetherAsync).
  struct ItemEntry {
    ItemWrite write;
    ItemCallback done;
  };
  struct RetractionEntry {
    RetractionWrite write;
    DoneCallback done;
  };
  using GroupedWrite = std::variant<ItemEntry, RetractionEntry>;

  // Queues `writes` so that they commit in one transaction, in this order
  // (other writes may share it; a group is never split, whatever
  // StoreOptions::max_batch says). Each has its own outcome, as
  // WriteItemAsync and WriteRetractionAsync describe: a refused one leaves
  // nothing behind and does not undo the others. Every `done` runs once
  // the transaction is durable, or failed. What a federation batch of
  // received entries is stored with.
  virtual void WriteTogetherAsync(std::vector<GroupedWrite> writes) = 0;

  // Appends records to the audit chain (with no item write).
  virtual void AppendAuditAsync(std::vector<v1::AuditRecord> records,
                                DoneCallback done) = 0;
  [[nodiscard]] absl::Status AppendAudit(std::vector<v1::AuditRecord> records);

  // Removes a partner's outbox entries up to and including `sequence` (the
  // partner acknowledged them), and appends `audit` in the same
  // transaction.
  virtual void AckOutboxAsync(const std::string& partner, uint64_t sequence,
                              std::vector<v1::AuditRecord> audit,
                              DoneCallback done) = 0;
  [[nodiscard]] absl::Status AckOutbox(const std::string& partner,
                                       uint64_t sequence,
                                       std::vector<v1::AuditRecord> audit);

  // Stores a request for withheld fields (FieldRequestWrite). A backend
  // that does not keep them fails closed with UNIMPLEMENTED.
  virtual void WriteFieldRequestAsync(FieldRequestWrite write, DoneCallback done) {
    (void)write;
    done(absl::UnimplementedError(
        "requests for withheld fields are not kept by this store backend"));
  }
  [[nodiscard]] absl::Status WriteFieldRequest(FieldRequestWrite write);

  // --- Reads (see committed data only) ---

  // A stored request for withheld fields, if any.
  [[nodiscard]] virtual absl::StatusOr<std::optional<v1::FieldRequest>>
  GetFieldRequest(v1::FieldRequest::Role role, const std::string& request_id) {
    (void)role;
    (void)request_id;
    return absl::UnimplementedError(
        "requests for withheld fields are not kept by this store backend");
  }
  // Every stored request of `role`, oldest first.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::FieldRequest>>
  ListFieldRequests(v1::FieldRequest::Role role) {
    (void)role;
    return absl::UnimplementedError(
        "requests for withheld fields are not kept by this store backend");
  }

  // The current (highest) version of an item, with its inbox metadata.
  // NOT_FOUND if absent.
  [[nodiscard]] virtual absl::StatusOr<v1::InboxEntry> GetItem(
      const std::string& origin, const std::string& item_id) = 0;

  // Whether `sender` sent a copy of a version of the item that was not
  // kept because another organisation's copy came first.
  [[nodiscard]] virtual absl::StatusOr<bool> SentOtherCopy(
      const std::string& origin, const std::string& item_id,
      const std::string& sender) = 0;

  // Current versions matching `filter`, newest first. `page_size` 1-1000.
  // INVALID_ARGUMENT for a malformed page token.
  [[nodiscard]] virtual absl::StatusOr<ListPage> ListItems(
      const v1::ItemFilter& filter, int page_size,
      const std::string& page_token) = 0;

  // Inbox events (new versions and retractions) with cursor >
  // `after_cursor`, in cursor order, at most `max` of them, matching
  // `filter`. A retraction whose record is gone (a withdrawal lifted by a
  // newer version, or replaced by the origin's retraction) is left out.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::InboxEvent>> ReadEvents(
      uint64_t after_cursor, const v1::ItemFilter& filter, int max) = 0;

  // Hits (see ItemWrite::match_keys) with cursor > `after_cursor`, in
  // cursor order, at most `max`. Hits share the cursor sequence of inbox
  // events, so WaitForEvents wakes for them too.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::Hit>> ReadHits(
      uint64_t after_cursor, int max) = 0;

  // The held items (current versions, not retracted) indexed under `key`,
  // at most `max`: for answering hit questions.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::HitItemRef>>
  FindMatchKey(const v1::MatchKey& key, int max) = 0;

  // Highest committed event cursor (0 if none).
  virtual uint64_t LastCursor() = 0;

  // Blocks until an event with cursor > `after_cursor` is committed, the
  // deadline passes or the store closes. Returns true if there is one.
  virtual bool WaitForEvents(uint64_t after_cursor, absl::Time deadline) = 0;

  // A partner's queued messages with sequence > `after_sequence`, in order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<OutboxRecord>> ReadOutbox(
      const std::string& partner, uint64_t after_sequence, int max) = 0;

  // Every partner that was ever queued anything, by partner id.
  [[nodiscard]] virtual absl::StatusOr<std::vector<OutboxStats>>
  GetOutboxStats() = 0;

  // Audit records with sequence > `after_sequence`, in order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::AuditRecord>> ReadAudit(
      uint64_t after_sequence, int max) = 0;

  // Whether the store can currently write (for the health service).
  virtual bool Healthy() = 0;

  // Finishes queued writes, then refuses new ones with UNAVAILABLE.
  // Idempotent.
  virtual void Close() = 0;
};

// SHA-256 (lower-case hex) of an item's deterministic encoding: the digest
// the store records and receipts carry, and the digest of a copy sent.
std::string ItemDigest(const v1::Item& item);

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_STORE_H_
