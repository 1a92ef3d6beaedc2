#include "server/sharing.h"

#include "havengate/v1/federation.pb.h"

namespace havengate::server {

v1::AuditRecord MakeAuditRecord(v1::AuditEventType type,
                                const std::string& actor,
                                const v1::Item* item) {
  v1::AuditRecord record;
  record.set_type(type);
  record.set_actor(actor);
  if (item != nullptr) {
    record.mutable_item()->set_origin(item->origin());
    record.mutable_item()->set_item_id(item->item_id());
    record.mutable_item()->set_version(item->version());
  }
  return record;
}

Sharing::Sharing(SharingOptions options) : options_(std::move(options)) {}

absl::StatusOr<store::ItemWrite> Sharing::PrepareOwnItem(
    v1::Item item, const Caller& client) const {
  store::ItemWrite write;
  write.audit.push_back(
      MakeAuditRecord(v1::ITEM_INGESTED, client.spiffe_id, &item));
  write.received_from = options_.organisation;
  write.item = std::move(item);
  return write;
}

absl::StatusOr<store::ItemWrite> Sharing::PrepareReceivedItem(
    const v1::Item& item, const Caller& peer) const {
  store::ItemWrite write;
  v1::AuditRecord record =
      MakeAuditRecord(v1::ITEM_RECEIVED, peer.spiffe_id, &item);
  record.set_partner(peer.organisation);
  if (!item.provenance().empty()) {
    record.set_policy_version(
        item.provenance(item.provenance_size() - 1).policy_version());
  }
  write.audit.push_back(std::move(record));
  write.received_from = peer.organisation;
  write.item = item;
  return write;
}

store::RetractionWrite Sharing::PrepareReceivedRetraction(
    const v1::Retraction& retraction, const Caller& peer) const {
  store::RetractionWrite write;
  v1::AuditRecord record = MakeAuditRecord(v1::ITEM_RETRACTED, peer.spiffe_id);
  record.mutable_item()->set_origin(retraction.origin());
  record.mutable_item()->set_item_id(retraction.item_id());
  record.set_partner(peer.organisation);
  record.set_reason(retraction.reason());
  write.audit.push_back(std::move(record));
  write.received_from = peer.organisation;
  write.retraction = retraction;
  // Onwards: a retraction by the origin travels as it is; a withdrawal
  // becomes this gateway's own withdrawal (it no longer holds the item).
  v1::FederationMessage onward;
  *onward.mutable_retraction() = retraction;
  if (retraction.kind() == v1::Retraction::NO_LONGER_SHARED) {
    onward.mutable_retraction()->set_decided_by(options_.organisation);
  }
  write.partner_payload = onward.SerializeAsString();
  return write;
}

store::RetractionWrite Sharing::PrepareOwnRetraction(
    v1::Retraction retraction, const Caller& client) const {
  store::RetractionWrite write;
  v1::AuditRecord record = MakeAuditRecord(v1::ITEM_RETRACTED, client.spiffe_id);
  record.mutable_item()->set_origin(retraction.origin());
  record.mutable_item()->set_item_id(retraction.item_id());
  record.set_reason(retraction.reason());
  write.audit.push_back(std::move(record));
  write.received_from = options_.organisation;
  v1::FederationMessage onward;
  *onward.mutable_retraction() = retraction;
  write.partner_payload = onward.SerializeAsString();
  write.retraction = std::move(retraction);
  return write;
}

}  // namespace havengate::server
