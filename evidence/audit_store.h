// AuditStore: read-only access to a gateway's store for the oversight
// commands (`havenctl audit ...`): the audit table as stored (row keys and
// bytes, so tampering can be found) or decoded, and the stored items the
// audit records point at. It never writes: a store file is opened
// read-only (a copy on read-only media is opened as immutable, ignoring any
// -wal file beside it); a PostgreSQL store (replicas share one) is read in
// read-only transactions. It works while the gateways run or when they do
// not.
//
// Thread-compatible: use one AuditStore from one thread at a time.
#ifndef HAVENGATE_EVIDENCE_AUDIT_STORE_H_
#define HAVENGATE_EVIDENCE_AUDIT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/audit.pb.h"
#include "havengate/v1/item.pb.h"

namespace havengate::evidence {

// One stored version of an item.
struct ItemVersion {
  std::string origin;
  std::string item_id;
  uint32_t version = 0;
  bool operator<(const ItemVersion& o) const {
    return std::tie(origin, item_id, version) <
           std::tie(o.origin, o.item_id, o.version);
  }
};

class AuditStore {
 public:
  // Opens `path` read-only: a store file, or a PostgreSQL store given by
  // its libpq DSN (a `postgresql://` URI, or key=value pairs with
  // `dbname=`; see IsDatabaseDsn). NOT_FOUND if a file does not exist;
  // UNAVAILABLE if a database cannot be reached; FAILED_PRECONDITION if
  // it is not a havengate store (no audit table).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AuditStore>> Open(
      const std::string& path);
  // Whether `path` names a PostgreSQL store rather than a file.
  static bool IsDatabaseDsn(absl::string_view path);
  ~AuditStore();
  AuditStore(const AuditStore&) = delete;
  AuditStore& operator=(const AuditStore&) = delete;

  // Rows of the audit table with key > `after`, in key order: the key the
  // row is filed under and its stored bytes. `visit` returns false to stop.
  [[nodiscard]] absl::Status ForEachRow(
      uint64_t after,
      const std::function<bool(uint64_t row_key, absl::string_view bytes)>&
          visit);

  // Decoded records in key order; rows that do not decode are skipped
  // (verify reports them) and counted in `*undecodable` if given.
  [[nodiscard]] absl::Status ForEachRecord(
      const std::function<bool(const v1::AuditRecord&)>& visit,
      uint64_t* undecodable = nullptr);

  // The events the records stand for, in key order: a combined record
  // (SHARES_DECIDED, ITEMS_DELIVERED) as one SHARE_DECIDED per partner or
  // one ITEM_DELIVERED per item (proto/audit_views.h), any other record as
  // it is. What per-partner questions read; `ForEachRecord` is the log as
  // stored (for the chain, checkpoints and exports).
  [[nodiscard]] absl::Status ForEachEvent(
      const std::function<bool(const v1::AuditRecord&)>& visit,
      uint64_t* undecodable = nullptr);

  // Stored item versions whose body lists container `number` (ISO 6346,
  // compared without case or spaces).
  [[nodiscard]] absl::StatusOr<std::set<ItemVersion>> ItemsMentioningContainer(
      absl::string_view number);
  // Stored item versions whose body lists vessel `imo_or_name` (its IMO
  // number or its name, compared without case or spaces).
  [[nodiscard]] absl::StatusOr<std::set<ItemVersion>> ItemsMentioningVessel(
      absl::string_view imo_or_name);
  // Every stored item version (payloads that do not decode are skipped);
  // `visit` returns false to stop.
  [[nodiscard]] absl::Status ForEachItem(
      const std::function<bool(const ItemVersion&, const v1::Item&)>& visit);
  // Stored item versions `match` accepts.
  [[nodiscard]] absl::StatusOr<std::set<ItemVersion>> ItemsWhere(
      const std::function<bool(const v1::Item&)>& match);

  // True if the file was opened as immutable (a -wal beside it ignored).
  bool immutable() const { return immutable_; }

 private:
  // Where the rows come from: a store file or a database.
  class Source {
   public:
    virtual ~Source() = default;
    // Rows of the audit table with key > `after`, in key order.
    virtual absl::Status ForEachAuditRow(
        uint64_t after,
        const std::function<bool(uint64_t, absl::string_view)>& visit) = 0;
    // Every stored item version and its bytes.
    virtual absl::Status ForEachItem(
        const std::function<void(ItemVersion, absl::string_view)>& visit) = 0;
  };
  class SqliteSource;
  class PostgresSource;
  AuditStore(std::unique_ptr<Source> source, bool immutable)
      : source_(std::move(source)), immutable_(immutable) {}
  std::unique_ptr<Source> source_;
  bool immutable_;
};

}  // namespace havengate::evidence

#endif  // HAVENGATE_EVIDENCE_AUDIT_STORE_H_
