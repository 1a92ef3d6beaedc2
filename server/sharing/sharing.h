// Sharing: what an accepted item means beyond being stored — the decision
// for every partner under the active sharing policy (which partner gets
// which projected copy, and that partners no longer shared with get a
// withdrawal), onward retractions, and the audit records — assembled into
// one store write so that an item is never stored without its outbox
// entries and evidence, or the reverse. It hands the store a decision, not
// wire messages: the federation link builds those when it sends.
//
// The active policy is swapped atomically; each item is decided under
// exactly one policy version, which every record names. Thread-safe (const
// methods, any thread); borrows the PolicyHolder.
#ifndef HAVENGATE_SERVER_SHARING_SHARING_H_
#define HAVENGATE_SERVER_SHARING_SHARING_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "havengate/v1/audit.pb.h"
#include "havengate/v1/ingest.pb.h"
#include "havengate/v1/item.pb.h"
#include "server/policy_holder/policy_holder.h"
#include "server/security/peer_identity.h"
#include "server/store/store.h"

namespace havengate::server {

struct SharingOptions {
  // This organisation's id and gateway SPIFFE id (for provenance hops).
  std::string organisation;
  std::string gateway_spiffe_id;
};

class Sharing {
 public:
  // `policies` must outlive this object.
  Sharing(SharingOptions options, const PolicyHolder& policies);

  // Completes the write of an item an integration client pushed: its
  // decisions and audit records. `write.item` is valid and its origin is
  // this organisation (the write has read a version 0 as 1).
  [[nodiscard]] absl::StatusOr<store::ItemWrite> PrepareOwnItem(
      store::ItemWrite write, const security::PeerIdentity& client) const;

  // The write for an item a peer gateway sent, already checked (valid,
  // consistent provenance, sender a configured peer). PERMISSION_DENIED if
  // this organisation's inbound rules do not accept it from that peer.
  // Forwarded onwards only under rules with `forward_received`, within the
  // originator's constraints, and never to an organisation it has already
  // passed through.
  [[nodiscard]] absl::StatusOr<store::ItemWrite> PrepareReceivedItem(
      const v1::Item& item, const security::PeerIdentity& peer) const;

  // The write for a retraction a peer gateway sent about an item this
  // gateway received from that peer; forwards it to every partner this
  // gateway shared the item with.
  [[nodiscard]] store::RetractionWrite PrepareReceivedRetraction(
      const v1::Retraction& retraction, const security::PeerIdentity& peer) const;

  // The write for a retraction of an own item by a client.
  [[nodiscard]] store::RetractionWrite PrepareOwnRetraction(
      v1::Retraction retraction, const security::PeerIdentity& client) const;

  const SharingOptions& options() const { return options_; }

 private:
  // Decides `write.item` for every partner under `policy` and adds the
  // copies (projections with this gateway's provenance hop), the
  // SHARE_DECIDED records and the withdrawal for partners that held an
  // earlier version.
  void DecideForPartners(const policy::CompiledPolicy& policy,
                         bool received_from_partner,
                         store::ItemWrite& write) const;

  SharingOptions options_;
  const PolicyHolder& policies_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_SHARING_SHARING_H_
