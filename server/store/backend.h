// Backend: what a storage backend implements for the gateway's store —
// tables of rows, transactions and the queries the inbox needs, and no
// rules. It does not know what a duplicate is, when a retraction replaces a
// withdrawal, who is sent a withdrawal, how the audit chain is hashed,
// which version is current or how anything is encoded: DomainStore
// (domain_store.h) decides all of that, once, for every backend, and hands
// the backend rows to keep. Items, retractions, outbox messages and audit
// records reach it as opaque bytes. SQLite (sqlite_store.h) is the one
// backend today; a second one implements this interface and runs the
// conformance suite (store_conformance_test.cc) unchanged.
//
// Threads: the writer methods are called by one thread at a time (the
// DomainStore's writer thread), always between BeginBatch() and
// CommitBatch() or RollbackBatch(). The read methods are called from any
// thread, concurrently with each other and with a batch, and see committed
// data only. LastCursor() and LastAuditRecord() are called once, before the
// first batch (LastAuditRecord also inside every batch of a backend
// SharedByReplicas()). Close() is called once, after the last batch; nothing is
// called after it. The backend owns its connections; the caller owns the
// backend.
//
// Errors: a full disk is RESOURCE_EXHAUSTED, any other storage failure
// UNAVAILABLE (the batch is then rolled back and nothing of it stays).
#ifndef HAVENGATE_SERVER_STORE_BACKEND_H_
#define HAVENGATE_SERVER_STORE_BACKEND_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "havengate/v1/inbox.pb.h"
#include "server/store/store.h"

namespace havengate::store {

// Events are numbered by a cursor the backend assigns (strictly
// increasing). The values are stored.
enum class EventType : int {
  // The newest version of an item: an event subscribers see.
  kItem = 1,
  // A retraction or withdrawal.
  kRetraction = 2,
  // A version that arrived after a higher one: stored, not an event
  // subscribers see.
  kSuperseded = 3,
  // A hit (PutHit holds it): read by ReadHits, not by ReadEvents.
  kHit = 4,
};

// An item indexed under a match key.
struct MatchHolder {
  std::string origin;
  std::string item_id;
};

struct EventRow {
  EventType type = EventType::kItem;
  std::string origin;
  std::string item_id;
  // 0 for a retraction.
  uint32_t version = 0;
  // v1::ItemKind and v1::Alert::Category (0 if none): what filters match.
  int kind = 0;
  int category = 0;
  absl::Time received_at;
  std::string received_from;
};

// One stored version of an item, with its event.
struct StoredVersion {
  uint64_t cursor = 0;
  std::string digest;
  std::string received_from;
  absl::Time received_at;
};

// The current version's event, for a retraction of it.
struct CurrentKind {
  int kind = 0;
  int category = 0;
};

// An item version as the inbox shows it: `item` and `retraction` are the
// bytes the writer stored.
struct EntryRow {
  uint64_t cursor = 0;
  absl::Time received_at;
  std::string received_from;
  std::string item;
  // The item's retraction record, if it has one.
  std::optional<std::string> retraction;
};

// An event as subscribers replay it: a kItem event carries its version's
// bytes in `item`, a kRetraction event its retraction's in `retraction`.
struct EventReadRow {
  uint64_t cursor = 0;
  EventType type = EventType::kItem;
  absl::Time received_at;
  std::string received_from;
  std::string item;
  std::string retraction;
};

// What an item write must know before it changes anything (see
// Backend::LookUpItem).
struct ItemKey {
  std::string origin;
  std::string item_id;
  uint32_t version = 0;
};

struct ItemLookup {
  // FindRetraction: the item's retraction record, whether by its origin.
  std::optional<bool> retraction;
  // FindVersion: the stored version asked about.
  std::optional<StoredVersion> stored;
  // CurrentVersion: the version marked current, 0 if none.
  uint32_t current_version = 0;
};

struct OutboxRow {
  uint64_t sequence = 0;
  std::string message;
  absl::Time expires_at = absl::InfinitePast();
  absl::Time enqueued_at;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // --- Before the first batch ---

  // Highest event cursor (0 if none).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> LastCursor() = 0;
  // The bytes of the audit record with the highest sequence, if any.
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>>
  LastAuditRecord() = 0;

  // --- Writer: transactions ---

  // One transaction per batch; CommitBatch makes it durable (synced).
  [[nodiscard]] virtual absl::Status BeginBatch() = 0;
  [[nodiscard]] virtual absl::Status CommitBatch() = 0;
  // Undoes the open batch (after a failure, possibly one the backend has
  // already rolled back itself).
  virtual void RollbackBatch() = 0;
  // A nested mark inside the batch: RollbackToMark undoes everything since
  // BeginMark (and keeps the mark), EndMark forgets it.
  [[nodiscard]] virtual absl::Status BeginMark() = 0;
  [[nodiscard]] virtual absl::Status RollbackToMark() = 0;
  [[nodiscard]] virtual absl::Status EndMark() = 0;

  // --- Writer: lookups inside the open batch (they see its writes) ---

  // The stored version (origin, item_id, version), if any.
  [[nodiscard]] virtual absl::StatusOr<std::optional<StoredVersion>>
  FindVersion(const std::string& origin, const std::string& item_id,
              uint32_t version) = 0;
  // The version marked current, or 0 if none is.
  [[nodiscard]] virtual absl::StatusOr<uint32_t> CurrentVersion(
      const std::string& origin, const std::string& item_id) = 0;
  // The current version's kind and category, if any version is stored.
  [[nodiscard]] virtual absl::StatusOr<std::optional<CurrentKind>>
  FindCurrentKind(const std::string& origin, const std::string& item_id) = 0;
  // The item's retraction record, if any: whether it is `by_origin`.
  [[nodiscard]] virtual absl::StatusOr<std::optional<bool>> FindRetraction(
      const std::string& origin, const std::string& item_id) = 0;
  // FindRetraction, FindVersion and CurrentVersion at once: a backend
  // whose every call is a round trip to a server answers in one.
  [[nodiscard]] virtual absl::StatusOr<ItemLookup> LookUpItem(
      const std::string& origin, const std::string& item_id, uint32_t version) {
    ItemLookup lookup;
    absl::StatusOr<std::optional<bool>> retraction = FindRetraction(origin, item_id);
    if (!retraction.ok()) return retraction.status();
    lookup.retraction = *retraction;
    absl::StatusOr<std::optional<StoredVersion>> stored =
        FindVersion(origin, item_id, version);
    if (!stored.ok()) return stored.status();
    lookup.stored = std::move(*stored);
    absl::StatusOr<uint32_t> current = CurrentVersion(origin, item_id);
    if (!current.ok()) return current.status();
    lookup.current_version = *current;
    return lookup;
  }
  // Told, after BeginBatch, the items the batch will look up (origin,
  // item_id, version), so that a backend whose every call is a round trip
  // may look them all up at once; LookUpItem must still answer as if
  // asked then (after the batch's own writes). Nothing by default.
  [[nodiscard]] virtual absl::Status PrefetchItems(
      const std::vector<ItemKey>& keys) {
    (void)keys;
    return absl::OkStatus();
  }
  // Partners recorded with AddShare for the item, sorted.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> SharedWith(
      const std::string& origin, const std::string& item_id) = 0;

  // The match keys indexed for the item (ReplaceMatchKeys).
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::MatchKey>> MatchKeysOf(
      const std::string& origin, const std::string& item_id) = 0;
  // Items indexed under (type, key), at most `limit`, in a stable order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<MatchHolder>>
  FindMatchKeyHolders(const v1::MatchKey& key, int limit) = 0;

  // --- Writer: changes ---

  // Sets the item's indexed match keys to `keys` (none: removes them).
  [[nodiscard]] virtual absl::Status ReplaceMatchKeys(
      const std::string& origin, const std::string& item_id,
      const std::vector<v1::MatchKey>& keys) = 0;
  // Stores a hit's bytes under the cursor of its kHit event.
  [[nodiscard]] virtual absl::Status PutHit(uint64_t cursor,
                                            const std::string& bytes) = 0;

  // Appends an event; returns its cursor.
  [[nodiscard]] virtual absl::StatusOr<uint64_t> AddEvent(
      const EventRow& event) = 0;
  // Adds a version with the cursor of its event. `current`: it is the
  // version marked current (at most one per item: ClearCurrent first).
  [[nodiscard]] virtual absl::Status AddVersion(
      const std::string& origin, const std::string& item_id, uint32_t version,
      uint64_t cursor, const std::string& digest, const std::string& bytes,
      bool current) = 0;
  [[nodiscard]] virtual absl::Status ClearCurrent(
      const std::string& origin, const std::string& item_id) = 0;
  // Sets (adds or replaces) the item's retraction record, made by event
  // `cursor`.
  [[nodiscard]] virtual absl::Status PutRetraction(
      const std::string& origin, const std::string& item_id, uint64_t cursor,
      const std::string& bytes, bool by_origin) = 0;
  [[nodiscard]] virtual absl::Status DeleteRetraction(
      const std::string& origin, const std::string& item_id) = 0;
  // Remembers that `sender` sent a copy of the item (see
  // Store::SentOtherCopy); recording it twice is harmless.
  [[nodiscard]] virtual absl::Status AddOtherCopy(
      const std::string& origin, const std::string& item_id,
      const std::string& sender) = 0;
  // Remembers that the item was queued for `partner`; twice is harmless.
  [[nodiscard]] virtual absl::Status AddShare(const std::string& origin,
                                              const std::string& item_id,
                                              const std::string& partner) = 0;
  // Appends to a partner's outbox with the partner's next sequence (one
  // more than the last ever assigned to it, acknowledged or not).
  [[nodiscard]] virtual absl::Status AppendOutbox(const std::string& partner,
                                                  const std::string& message,
                                                  absl::Time expires_at,
                                                  absl::Time enqueued_at) = 0;
  // Removes a partner's outbox entries with sequence <= `sequence`.
  [[nodiscard]] virtual absl::Status RemoveOutbox(const std::string& partner,
                                                  uint64_t sequence) = 0;
  // Stores a sealed audit record under its sequence.
  [[nodiscard]] virtual absl::Status AppendAudit(uint64_t sequence,
                                                 const std::string& bytes) = 0;

  // Requests for withheld fields (Store::WriteFieldRequestAsync), stored
  // as opaque bytes under (role, request_id). A backend that does not
  // keep them answers UNIMPLEMENTED (the default), failing closed.
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>>
  FindFieldRequest(int role, const std::string& request_id) {
    (void)role;
    (void)request_id;
    return FieldRequestsUnimplemented();
  }
  [[nodiscard]] virtual absl::Status PutFieldRequest(int role,
                                                     const std::string& request_id,
                                                     const std::string& bytes) {
    (void)role;
    (void)request_id;
    (void)bytes;
    return FieldRequestsUnimplemented();
  }

  // --- Reads: any thread, committed data ---

  // Committed forms of FindFieldRequest, and every request of `role` in
  // the order first stored.
  [[nodiscard]] virtual absl::StatusOr<std::optional<std::string>>
  ReadFieldRequest(int role, const std::string& request_id) {
    (void)role;
    (void)request_id;
    return FieldRequestsUnimplemented();
  }
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>>
  ReadFieldRequests(int role) {
    (void)role;
    return FieldRequestsUnimplemented();
  }
  static absl::Status FieldRequestsUnimplemented() {
    return absl::UnimplementedError(
        "requests for withheld fields are not kept by this store backend");
  }

  // The version of the item marked current.
  [[nodiscard]] virtual absl::StatusOr<std::optional<EntryRow>> GetCurrent(
      const std::string& origin, const std::string& item_id) = 0;
  [[nodiscard]] virtual absl::StatusOr<bool> HasOtherCopy(
      const std::string& origin, const std::string& item_id,
      const std::string& sender) = 0;
  // Current versions with cursor < `before_cursor` whose events match
  // `filter` (retracted ones only with filter.include_retracted), newest
  // first, at most `limit`.
  [[nodiscard]] virtual absl::StatusOr<std::vector<EntryRow>> ListCurrent(
      const v1::ItemFilter& filter, uint64_t before_cursor, int limit) = 0;
  // kItem events, and the kRetraction events whose retraction record is
  // still the one they made, with cursor > `after_cursor` matching
  // `filter`, in cursor order, at most `limit`.
  [[nodiscard]] virtual absl::StatusOr<std::vector<EventReadRow>> ReadEvents(
      uint64_t after_cursor, const v1::ItemFilter& filter, int limit) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<OutboxRow>> ReadOutbox(
      const std::string& partner, uint64_t after_sequence, int limit) = 0;
  // Every partner ever appended to, by partner id.
  [[nodiscard]] virtual absl::StatusOr<std::vector<OutboxStats>>
  OutboxStatistics() = 0;
  // Audit record bytes with sequence > `after_sequence`, in order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> ReadAudit(
      uint64_t after_sequence, int limit) = 0;
  // Hit bytes with cursor > `after_cursor`, in cursor order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> ReadHits(
      uint64_t after_cursor, int limit) = 0;
  // As FindMatchKeyHolders, on committed data, with each holder's current
  // version's row (holders without one are left out).
  [[nodiscard]] virtual absl::StatusOr<std::vector<EntryRow>>
  ReadMatchKeyHolders(const v1::MatchKey& key, int limit) = 0;

  // --- Replicas: several gateway processes writing to one database ---

  // True if other processes may commit between this process's batches
  // (replicas sharing a database). BeginBatch then locks the audit chain
  // head for the transaction (so batches of all replicas commit one after
  // another, cursors and chain in commit order), and the DomainStore
  // reads LastAuditRecord() again inside every batch.
  virtual bool SharedByReplicas() const { return false; }
  // Called once, before the first batch, by a store that wants to know of
  // events other processes commit: `on_commit` then runs (on a thread of
  // the backend's, until Close()) with the highest cursor committed.
  virtual void WatchOtherCommits(std::function<void(uint64_t)> on_commit) {
    (void)on_commit;
  }
  // Whether the storage can be reached now; nullopt if the backend cannot
  // tell without a write (the last batch's outcome then says).
  virtual std::optional<bool> Reachable() { return std::nullopt; }

  // Releases connections and leaves the data complete on disk.
  virtual void Close() = 0;
};

}  // namespace havengate::store

#endif  // HAVENGATE_SERVER_STORE_BACKEND_H_
