// The questions an oversight body asks, answered from a gateway's audit log
// (and, for "about container Y", the items it stored): what did we share
// with partner X (about container Y), what did partner X receive in a
// period, which policy versions and rules released field Z (and who
// proposed and approved them, once the policy lifecycle records that), and
// the log itself as JSON lines for a SIEM.
//
// Each query reads the log once, in chain order, through a read-only
// AuditStore. Results hold audit records, which never carry item contents.
// The per-partner questions read it as events (AuditStore::ForEachEvent):
// a record for all partners' decisions on an item answers as one
// SHARE_DECIDED per partner, a batch's deliveries as one ITEM_DELIVERED per
// item, so old and new logs answer alike; the export gives records as
// stored.
//
// Thread-compatible (as AuditStore).
#ifndef HAVENGATE_EVIDENCE_QUERIES_H_
#define HAVENGATE_EVIDENCE_QUERIES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "evidence/audit_store.h"
#include "havengate/v1/audit.pb.h"
#include "havengate/v1/evidence.pb.h"

namespace havengate::evidence {

// [since, until): by the time a record was written. (havenctl reads the
// bounds with ParseTimeArgument, proto/timestamp.h.)
struct TimeRange {
  absl::Time since = absl::InfinitePast();
  absl::Time until = absl::InfiniteFuture();
  bool Contains(const google::protobuf::Timestamp& t) const;
};

// Whether a stored item version holds a person that the policy version
// named (the one that decided a share) pseudonymises to the code asked
// about. Only the gateway can answer (it holds the policy history and the
// keys); an error stops the query.
using PersonPseudonymTest = std::function<absl::StatusOr<bool>(
    const std::string& policy_version, const v1::Item& item)>;

struct SharedQuery {
  std::string partner;
  // Optional, at most one: only items whose stored version lists this
  // container, or this vessel (IMO number or name), or this item id, or
  // holds a person the partner received as `person_pseudonym` (a `ps:`
  // code; needs `person_test`).
  std::string container;
  std::string vessel;
  std::string item_id;
  std::string person_pseudonym;
  PersonPseudonymTest person_test;
  TimeRange range;
};

// What this gateway shared with `partner`: its SHARE_DECIDED records (each
// decision, released or not) and what became of each copy sent
// (ITEM_DELIVERED, DELIVERY_REFUSED, DELIVERY_EXPIRED), in chain order.
[[nodiscard]] absl::StatusOr<std::vector<v1::AuditRecord>> FindShared(
    AuditStore& store, const SharedQuery& query);

// Every item (and retraction) `partner`'s gateway acknowledged receiving
// from this gateway in `range`: its ITEM_DELIVERED records.
[[nodiscard]] absl::StatusOr<std::vector<v1::AuditRecord>> FindReceived(
    AuditStore& store, const std::string& partner, const TimeRange& range);

struct FieldQuery {
  // A body field path, e.g. "containers.number" or "persons".
  std::string field;
  // Optional: only decisions for this partner.
  std::string partner;
  TimeRange range;
};

// How one policy version released a field.
struct FieldRelease {
  std::string policy_version;
  // How it left, with the number of decisions: "released",
  // "released in part (containers.number)", "transformed (pseudonymise)".
  std::map<std::string, uint64_t> outcomes;
  // Rules that matched and could release in those decisions, and rules
  // that matched but only protected (their withhold, redact, transforms).
  std::set<std::string> rules;
  std::set<std::string> protecting_rules;
  std::set<std::string> partners;
  uint64_t decisions = 0;
  google::protobuf::Timestamp first_decision;
  google::protobuf::Timestamp last_decision;
  // The lifecycle of this policy version (POLICY_PROPOSED, _APPROVED,
  // _ACTIVATED, _ROLLED_BACK, _REJECTED records that name it: the officer
  // in `actor`, the comment in `detail`), in chain order. Empty while
  // PolicyAdmin does not record them.
  std::vector<v1::AuditRecord> lifecycle;
};

// Which policy versions released `query.field` (or part of it, or a parent
// of it), under which rules, to whom, and who proposed and approved them.
// Ordered by first decision.
[[nodiscard]] absl::StatusOr<std::vector<FieldRelease>> FindFieldReleases(
    AuditStore& store, const FieldQuery& query);

// Per partner: share decisions, deliveries, receipts, refusals and expiries
// in `range`, by partner id; and `*calls_rejected` (if given) counts
// CALL_REJECTED records.
[[nodiscard]] absl::StatusOr<std::map<std::string, v1::PartnerActivity>> FindActivity(
    AuditStore& store, const TimeRange& range, uint64_t* calls_rejected = nullptr);

struct ItemQuery {
  // Optional, each: only items listing this container, this vessel (IMO
  // number or name), of this alert category (0: any), created in `range`.
  std::string container;
  std::string vessel;
  int alert_category = 0;
  TimeRange range;
  size_t limit = 50;
};

// Stored item versions meeting every criterion of `query`, newest created
// first, at most `query.limit`; `*truncated` (if given) says whether more
// matched.
[[nodiscard]] absl::StatusOr<std::vector<v1::Item>> FindStoredItems(
    AuditStore& store, const ItemQuery& query, bool* truncated = nullptr);

struct ExportQuery {
  TimeRange range;
  // Only records with a higher sequence (for incremental SIEM feeds).
  uint64_t after_sequence = 0;
};

// Writes each matching record as one line of proto3 JSON (bytes fields in
// base64) and returns how many it wrote.
[[nodiscard]] absl::StatusOr<uint64_t> ExportJsonLines(AuditStore& store,
                                                       const ExportQuery& query,
                                                       std::ostream& out);

}  // namespace havengate::evidence

#endif  // HAVENGATE_EVIDENCE_QUERIES_H_
