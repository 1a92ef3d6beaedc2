#include "server/sharing/sharing.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/audit_views.h"
#include "proto/timestamp.h"
#include "server/audit/audit_record.h"

namespace havengate::server {
namespace {

absl::Time ExpiryOf(const v1::Item& item) {
  if (!item.has_expires_at()) return absl::InfinitePast();  // never
  return FromTimestamp(item.expires_at());
}

bool PassedThrough(const v1::Item& item, const std::string& organisation) {
  for (const v1::ProvenanceHop& hop : item.provenance()) {
    if (hop.organisation() == organisation) return true;
  }
  return false;
}

template <typename Strings>
void CopyStrings(const Strings& from,
                 google::protobuf::RepeatedPtrField<std::string>* to) {
  for (const auto& s : from) to->Add(std::string(s));
}

}  // namespace

Sharing::Sharing(SharingOptions options, const PolicyHolder& policies)
    : options_(std::move(options)), policies_(policies) {}

void Sharing::DecideForPartners(const policy::CompiledPolicy& policy,
                                bool received_from_partner,
                                store::ItemWrite& write) const {
  const v1::Item& item = write.item;
  policy::DecideOptions options;
  options.received_from_partner = received_from_partner;
  policy::Decision decision = policy.Decide(item, options);
  const google::protobuf::Timestamp now = ToTimestamp(absl::Now());
  // One record for every partner's decision (SHARES_DECIDED); with a
  // single partner it is written as that partner's SHARE_DECIDED, which
  // is no larger and which older readers understand.
  v1::AuditRecord record =
      audit::MakeAuditRecord(v1::SHARES_DECIDED, options_.gateway_spiffe_id, &item);
  record.set_policy_version(decision.policy_version);
  for (policy::PartnerDecision& partner : decision.partners) {
    v1::PartnerShareDecision& decided = *record.add_decisions();
    decided.set_partner(partner.partner);
    CopyStrings(partner.matched_rules, decided.mutable_matched_rules());
    CopyStrings(partner.protecting_rules, decided.mutable_protecting_rules());
    CopyStrings(partner.released_fields, decided.mutable_released_fields());
    CopyStrings(partner.withheld_fields, decided.mutable_withheld_fields());
    for (const policy::TransformedField& field : partner.transformed_fields) {
      decided.add_transformed_fields(field.ToString());
    }
    bool released = partner.released;
    if (released && PassedThrough(item, partner.partner)) {
      // It came from there, or through there: they hold it already.
      released = false;
      decided.set_reason("the partner already holds the item (it passed through them)");
    } else {
      decided.set_reason(std::string(policy::DecisionReasonText(partner.reason)));
    }
    decided.set_released(released);
    if (released) {
      store::PartnerCopy& copy = write.copies.emplace_back();
      copy.partner = partner.partner;
      copy.item = std::move(partner.projected);
      copy.expires_at = ExpiryOf(item);
      v1::ProvenanceHop* hop = copy.item.add_provenance();
      hop->set_organisation(options_.organisation);
      hop->set_gateway(options_.gateway_spiffe_id);
      *hop->mutable_released_at() = now;
      hop->set_policy_version(decision.policy_version);
      hop->set_released_to(partner.partner);
      decided.set_digest(store::ItemDigest(copy.item));
    }
  }
  if (record.decisions_size() == 1) {
    ForEachAuditEvent(record, [&](const v1::AuditRecord& view) {
      write.audit.push_back(view);
      return true;
    });
  } else if (record.decisions_size() > 1) {
    write.audit.push_back(std::move(record));
  }
  // A partner that was sent an earlier version but gets none of this one
  // must stop showing it (the store knows who that is).
  v1::Retraction& withdrawal = write.withdrawal.emplace();
  withdrawal.set_origin(item.origin());
  withdrawal.set_item_id(item.item_id());
  withdrawal.set_kind(v1::Retraction::NO_LONGER_SHARED);
  withdrawal.set_decided_by(options_.organisation);
  *withdrawal.mutable_retracted_at() = now;
  withdrawal.set_reason(absl::StrCat("version ", item.version(),
                                     " is not shared with this partner under policy ",
                                     decision.policy_version));
}

absl::StatusOr<store::ItemWrite> Sharing::PrepareOwnItem(
    store::ItemWrite write, const security::PeerIdentity& client) const {
  write.received_from = options_.organisation;
  write.audit.push_back(audit::MakeAuditRecord(v1::ITEM_INGESTED,
                                               client.spiffe_id, &write.item));
  if (std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current()) {
    DecideForPartners(*policy, /*received_from_partner=*/false, write);
    write.match_keys = policy->MatchKeys(write.item);
  }
  return write;
}

absl::StatusOr<store::ItemWrite> Sharing::PrepareReceivedItem(
    const v1::Item& item, const security::PeerIdentity& peer) const {
  // Default deny inbound: without a policy nothing is accepted from peers.
  std::shared_ptr<const policy::CompiledPolicy> policy = policies_.current();
  if (policy == nullptr) {
    return absl::PermissionDeniedError(
        "this gateway has no sharing policy, so it accepts nothing from partners");
  }
  absl::Status accepted = policy->AcceptInbound(peer.organisation_id, item);
  if (!accepted.ok()) return accepted;
  store::ItemWrite write(item, peer.organisation_id);
  v1::AuditRecord record =
      audit::MakeAuditRecord(v1::ITEM_RECEIVED, peer.spiffe_id, &write.item);
  record.set_partner(peer.organisation_id);
  if (!item.provenance().empty()) {
    record.set_policy_version(
        item.provenance(item.provenance_size() - 1).policy_version());
  }
  write.audit.push_back(std::move(record));
  DecideForPartners(*policy, /*received_from_partner=*/true, write);
  // As received: only what the sender released, codes as codes.
  write.match_keys = policy->MatchKeys(write.item);
  return write;
}

store::RetractionWrite Sharing::PrepareReceivedRetraction(
    const v1::Retraction& retraction, const security::PeerIdentity& peer) const {
  store::RetractionWrite write;
  v1::AuditRecord record = audit::MakeAuditRecord(v1::ITEM_RETRACTED, peer.spiffe_id);
  record.mutable_item()->set_origin(retraction.origin());
  record.mutable_item()->set_item_id(retraction.item_id());
  record.set_partner(peer.organisation_id);
  record.set_reason(retraction.reason());
  write.audit.push_back(std::move(record));
  write.received_from = peer.organisation_id;
  write.retraction = retraction;
  // Onwards: a retraction by the origin travels as it is; a withdrawal
  // becomes this gateway's own withdrawal (it no longer holds the item).
  v1::Retraction& onward = write.onward.emplace(retraction);
  if (retraction.kind() == v1::Retraction::NO_LONGER_SHARED) {
    onward.set_decided_by(options_.organisation);
  }
  return write;
}

store::RetractionWrite Sharing::PrepareOwnRetraction(
    v1::Retraction retraction, const security::PeerIdentity& client) const {
  store::RetractionWrite write;
  v1::AuditRecord record = audit::MakeAuditRecord(v1::ITEM_RETRACTED, client.spiffe_id);
  record.mutable_item()->set_origin(retraction.origin());
  record.mutable_item()->set_item_id(retraction.item_id());
  record.set_reason(retraction.reason());
  write.audit.push_back(std::move(record));
  write.received_from = options_.organisation;
  write.onward = retraction;
  write.retraction = std::move(retraction);
  return write;
}

}  // namespace havengate::server
