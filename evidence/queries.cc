#include "evidence/queries.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proto/json.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"

namespace havengate::evidence {
namespace {

bool IsLifecycle(v1::AuditEventType type) {
  switch (type) {
    case v1::POLICY_PROPOSED:
    case v1::POLICY_APPROVED:
    case v1::POLICY_ACTIVATED:
    case v1::POLICY_ROLLED_BACK:
    case v1::POLICY_REJECTED:
      return true;
    default:
      return false;
  }
}

// How a decision's path `released` relates to the asked `field`, if at all.
// Returns "" if unrelated.
std::string Relation(absl::string_view released, absl::string_view field) {
  if (released == field) return "whole";
  if (absl::StartsWith(field, released) && field.size() > released.size() &&
      field[released.size()] == '.') {
    return "whole";  // a parent was released with everything under it
  }
  if (absl::StartsWith(released, field) && released.size() > field.size() &&
      released[field.size()] == '.') {
    return "part";
  }
  return "";
}

}  // namespace

bool TimeRange::Contains(const google::protobuf::Timestamp& t) const {
  absl::Time at = FromTimestamp(t);
  return at >= since && at < until;
}

namespace {

// The stored item versions shared (decided) with `partner` at any time that
// hold the person `test` looks for under the deciding policy version.
absl::StatusOr<std::set<ItemVersion>> ItemsWithPerson(AuditStore& store,
                                                      const std::string& partner,
                                                      const PersonPseudonymTest& test) {
  std::map<ItemVersion, std::set<std::string>> deciding_versions;
  HG_RETURN_IF_ERROR(store.ForEachEvent([&](const v1::AuditRecord& r) {
    if (r.type() == v1::SHARE_DECIDED && r.partner() == partner) {
      deciding_versions[{r.item().origin(), r.item().item_id(), r.item().version()}].insert(
          r.policy_version());
    }
    return true;
  }));
  std::set<ItemVersion> out;
  absl::Status failed;
  HG_RETURN_IF_ERROR(store.ForEachItem([&](const ItemVersion& version, const v1::Item& item) {
    auto decided = deciding_versions.find(version);
    if (decided == deciding_versions.end()) return true;
    for (const std::string& policy_version : decided->second) {
      absl::StatusOr<bool> holds = test(policy_version, item);
      if (!holds.ok()) {
        failed = holds.status();
        return false;
      }
      if (*holds) {
        out.insert(version);
        break;
      }
    }
    return true;
  }));
  HG_RETURN_IF_ERROR(failed);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<v1::AuditRecord>> FindShared(
    AuditStore& store, const SharedQuery& query) {
  int subjects = !query.container.empty() + !query.vessel.empty() + !query.item_id.empty() +
                 !query.person_pseudonym.empty();
  if (subjects > 1) {
    return absl::InvalidArgumentError(
        "ask about one container, one vessel, one person pseudonym or one item at a time");
  }
  if (!query.person_pseudonym.empty() && !query.person_test) {
    return absl::FailedPreconditionError(
        "a person pseudonym can only be looked up by the gateway that holds the policy "
        "keys (ask it with --remote)");
  }
  const bool about_stored =
      !query.container.empty() || !query.vessel.empty() || !query.person_pseudonym.empty();
  std::set<ItemVersion> versions;
  std::set<std::pair<std::string, std::string>> items;
  if (!query.container.empty()) {
    HG_ASSIGN_OR_RETURN(versions,
                        store.ItemsMentioningContainer(query.container));
  } else if (!query.vessel.empty()) {
    HG_ASSIGN_OR_RETURN(versions, store.ItemsMentioningVessel(query.vessel));
  } else if (!query.person_pseudonym.empty()) {
    HG_ASSIGN_OR_RETURN(versions, ItemsWithPerson(store, query.partner, query.person_test));
  }
  for (const ItemVersion& v : versions) items.emplace(v.origin, v.item_id);
  std::vector<v1::AuditRecord> out;
  HG_RETURN_IF_ERROR(store.ForEachEvent([&](const v1::AuditRecord& r) {
    switch (r.type()) {
      case v1::SHARE_DECIDED:
      case v1::ITEM_DELIVERED:
      case v1::DELIVERY_REFUSED:
      case v1::DELIVERY_EXPIRED:
        break;
      default:
        return true;
    }
    if (r.partner() != query.partner || !query.range.Contains(r.recorded_at())) {
      return true;
    }
    if (!query.item_id.empty() && r.item().item_id() != query.item_id) return true;
    if (about_stored) {
      // A retraction travels without a version: it concerns every version.
      bool about = r.item().version() == 0
                       ? items.count({r.item().origin(), r.item().item_id()}) > 0
                       : versions.count({r.item().origin(), r.item().item_id(),
                                         r.item().version()}) > 0;
      if (!about) return true;
    }
    out.push_back(r);
    return true;
  }));
  return out;
}

absl::StatusOr<std::vector<v1::AuditRecord>> FindReceived(
    AuditStore& store, const std::string& partner, const TimeRange& range) {
  std::vector<v1::AuditRecord> out;
  HG_RETURN_IF_ERROR(store.ForEachEvent([&](const v1::AuditRecord& r) {
    if (r.type() == v1::ITEM_DELIVERED && r.partner() == partner &&
        range.Contains(r.recorded_at())) {
      out.push_back(r);
    }
    return true;
  }));
  return out;
}

absl::StatusOr<std::vector<FieldRelease>> FindFieldReleases(
    AuditStore& store, const FieldQuery& query) {
  std::map<std::string, FieldRelease> by_version;
  std::vector<std::string> order;
  std::map<std::string, std::vector<v1::AuditRecord>> lifecycle;
  HG_RETURN_IF_ERROR(store.ForEachEvent([&](const v1::AuditRecord& r) {
    if (IsLifecycle(r.type())) {
      // Any time: the approval may predate the period asked about.
      lifecycle[r.policy_version()].push_back(r);
      return true;
    }
    if (r.type() != v1::SHARE_DECIDED || !r.released()) return true;
    if (!query.partner.empty() && r.partner() != query.partner) return true;
    if (!query.range.Contains(r.recorded_at())) return true;
    std::vector<std::string> outcomes;
    for (const std::string& path : r.released_fields()) {
      std::string relation = Relation(path, query.field);
      if (relation == "whole") outcomes.push_back("released");
      if (relation == "part") {
        outcomes.push_back(absl::StrCat("released in part (", path, ")"));
      }
    }
    for (const std::string& entry : r.transformed_fields()) {
      // "persons.name: pseudonymise"
      absl::string_view path = entry;
      absl::string_view how;
      size_t colon = path.find(':');
      if (colon != absl::string_view::npos) {
        how = absl::StripAsciiWhitespace(path.substr(colon + 1));
        path = absl::StripAsciiWhitespace(path.substr(0, colon));
      }
      if (!Relation(path, query.field).empty()) {
        outcomes.push_back(how.empty()
                               ? std::string("transformed")
                               : absl::StrCat("transformed (", how, ")"));
      }
    }
    if (outcomes.empty()) return true;
    auto [it, inserted] = by_version.try_emplace(r.policy_version());
    FieldRelease& release = it->second;
    if (inserted) {
      release.policy_version = r.policy_version();
      release.first_decision = r.recorded_at();
      order.push_back(r.policy_version());
    }
    release.last_decision = r.recorded_at();
    ++release.decisions;
    for (const std::string& o : outcomes) ++release.outcomes[o];
    release.rules.insert(r.matched_rules().begin(), r.matched_rules().end());
    release.protecting_rules.insert(r.protecting_rules().begin(), r.protecting_rules().end());
    release.partners.insert(r.partner());
    return true;
  }));
  std::vector<FieldRelease> out;
  for (const std::string& version : order) {
    FieldRelease release = std::move(by_version[version]);
    auto lc = lifecycle.find(version);
    if (lc != lifecycle.end()) release.lifecycle = std::move(lc->second);
    out.push_back(std::move(release));
  }
  return out;
}

namespace {

// An item version's alert category (or "intelligence report") and TLP.
struct ItemKind {
  std::string category;
  std::string tlp;
};

absl::StatusOr<std::map<ItemVersion, ItemKind>> KindsOfStoredItems(AuditStore& store) {
  std::map<ItemVersion, ItemKind> kinds;
  HG_RETURN_IF_ERROR(store.ForEachItem([&](const ItemVersion& version, const v1::Item& item) {
    kinds[version] = ItemKind{
        item.has_alert() ? v1::Alert::Category_Name(item.alert().category())
                         : std::string("intelligence report"),
        v1::Classification::Tlp_Name(item.classification().tlp())};
    return true;
  }));
  return kinds;
}

// Counts the item `r` names into `by_category` and `by_tlp`.
void CountKind(const std::map<ItemVersion, ItemKind>& kinds, const v1::AuditRecord& r,
               google::protobuf::Map<std::string, uint64_t>& by_category,
               google::protobuf::Map<std::string, uint64_t>& by_tlp) {
  auto found = kinds.find(ItemVersion{r.item().origin(), r.item().item_id(), r.item().version()});
  const ItemKind unknown{"unknown", "unknown"};
  const ItemKind& kind = found == kinds.end() ? unknown : found->second;
  ++by_category[kind.category];
  ++by_tlp[kind.tlp];
}

}  // namespace

absl::StatusOr<std::map<std::string, v1::PartnerActivity>> FindActivity(
    AuditStore& store, const TimeRange& range, uint64_t* calls_rejected) {
  std::map<std::string, v1::PartnerActivity> out;
  if (calls_rejected != nullptr) *calls_rejected = 0;
  // Read once, and only if a record in the range needs it.
  std::optional<std::map<ItemVersion, ItemKind>> kinds;
  absl::Status kinds_status;
  auto count_kind = [&](const v1::AuditRecord& r,
                        google::protobuf::Map<std::string, uint64_t>& by_category,
                        google::protobuf::Map<std::string, uint64_t>& by_tlp) {
    if (!kinds.has_value()) {
      absl::StatusOr<std::map<ItemVersion, ItemKind>> read = KindsOfStoredItems(store);
      if (!read.ok()) {
        kinds_status = read.status();
        return false;
      }
      kinds = *std::move(read);
    }
    CountKind(*kinds, r, by_category, by_tlp);
    return true;
  };
  HG_RETURN_IF_ERROR(store.ForEachEvent([&](const v1::AuditRecord& r) {
    if (!range.Contains(r.recorded_at())) return true;
    if (r.type() == v1::CALL_REJECTED) {
      if (calls_rejected != nullptr) ++*calls_rejected;
      return true;
    }
    if (r.partner().empty()) return true;
    v1::PartnerActivity* a = nullptr;
    auto partner = [&]() -> v1::PartnerActivity& {
      if (a == nullptr) {
        a = &out[r.partner()];
        a->set_partner(r.partner());
      }
      return *a;
    };
    switch (r.type()) {
      case v1::SHARE_DECIDED:
        if (r.released()) {
          partner().set_shared(partner().shared() + 1);
          partner().set_fields_released(partner().fields_released() +
                                        r.released_fields_size() +
                                        r.transformed_fields_size());
          partner().set_fields_withheld(partner().fields_withheld() +
                                        r.withheld_fields_size());
          if (!count_kind(r, *partner().mutable_shared_by_category(),
                          *partner().mutable_shared_by_tlp())) {
            return false;
          }
        } else {
          partner().set_not_shared(partner().not_shared() + 1);
        }
        break;
      case v1::ITEM_DELIVERED:
        partner().set_delivered(partner().delivered() + 1);
        *partner().mutable_last_delivered() = r.recorded_at();
        break;
      case v1::ITEM_RECEIVED:
        partner().set_received(partner().received() + 1);
        if (!count_kind(r, *partner().mutable_received_by_category(),
                        *partner().mutable_received_by_tlp())) {
          return false;
        }
        break;
      case v1::DELIVERY_REFUSED:
      case v1::RECEIPT_REFUSED:
        partner().set_refused(partner().refused() + 1);
        break;
      case v1::DELIVERY_EXPIRED:
        partner().set_expired(partner().expired() + 1);
        break;
      default:
        break;
    }
    return true;
  }));
  HG_RETURN_IF_ERROR(kinds_status);
  return out;
}

absl::StatusOr<std::vector<v1::Item>> FindStoredItems(AuditStore& store,
                                                      const ItemQuery& query,
                                                      bool* truncated) {
  std::optional<std::set<ItemVersion>> about;
  if (!query.container.empty()) {
    HG_ASSIGN_OR_RETURN(about, store.ItemsMentioningContainer(query.container));
  }
  if (!query.vessel.empty()) {
    HG_ASSIGN_OR_RETURN(std::set<ItemVersion> vessel, store.ItemsMentioningVessel(query.vessel));
    if (about.has_value()) {
      std::set<ItemVersion> both;
      std::set_intersection(about->begin(), about->end(), vessel.begin(), vessel.end(),
                            std::inserter(both, both.begin()));
      vessel = std::move(both);
    }
    about = std::move(vessel);
  }
  std::vector<v1::Item> out;
  HG_RETURN_IF_ERROR(store.ForEachItem([&](const ItemVersion& version, const v1::Item& item) {
    if (about.has_value() && about->count(version) == 0) return true;
    if (query.alert_category != 0 &&
        (!item.has_alert() || item.alert().category() != query.alert_category)) {
      return true;
    }
    if (!query.range.Contains(item.created_at())) return true;
    out.push_back(item);
    return true;
  }));
  std::sort(out.begin(), out.end(), [](const v1::Item& a, const v1::Item& b) {
    return FromTimestamp(a.created_at()) > FromTimestamp(b.created_at());
  });
  if (truncated != nullptr) *truncated = out.size() > query.limit;
  if (out.size() > query.limit) out.resize(query.limit);
  return out;
}

absl::StatusOr<uint64_t> ExportJsonLines(AuditStore& store,
                                         const ExportQuery& query,
                                         std::ostream& out) {
  JsonStyle one_line;
  one_line.pretty = false;
  uint64_t written = 0;
  HG_RETURN_IF_ERROR(store.ForEachRecord([&](const v1::AuditRecord& r) {
    if (r.sequence() <= query.after_sequence ||
        !query.range.Contains(r.recorded_at())) {
      return true;
    }
    out << ToJson(r, one_line) << "\n";
    ++written;
    return static_cast<bool>(out);
  }));
  if (!out) return absl::UnavailableError("cannot write the export");
  return written;
}

}  // namespace havengate::evidence
