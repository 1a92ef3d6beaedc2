// The receiving side of federation: a peer gateway streams the items and
// retractions its policy released to this organisation; each is checked
// (sender identity, origin and provenance, this organisation's inbound
// rules, item validity), stored durably — deduplicated on (origin, item_id,
// version) — and only then acknowledged. Refusals are acknowledged with
// their reason (so the sender stops resending) and audited. A version that
// arrives from two gateways (from its origin, and forwarded by a partner)
// is held once, as it came first; the later copy is acknowledged as held
// and recorded (ITEM_RECEIVED, "already held").
//
// Threads and ownership: gRPC runs each peer's Exchange stream on its own
// handler thread (several peers at once); the service is thread-safe. The
// authenticator, sharing, limits and store are borrowed and must outlive
// the service (the Gateway owns them all). Stop() ends open streams
// and refuses new ones with UNAVAILABLE. A configuration reload changes
// the peers (SetPeers: a removed peer's open streams end, and its calls
// are refused from then on) and the item limits (SetLimits: streams
// opened from then on).
//
// Storage trouble (a full disk: RESOURCE_EXHAUSTED; UNAVAILABLE) ends the
// stream with that code and names it in the trailing metadata
// (kBreakReasonKey, link_break.h) so that the sender can tell a full disk
// from a call limit. It is logged once per episode (receipts_deferred, then
// receipts_resumed when a receipt is stored again), not per message.
#ifndef HAVENGATE_SERVER_FEDERATION_FEDERATION_SERVICE_H_
#define HAVENGATE_SERVER_FEDERATION_FEDERATION_SERVICE_H_

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "absl/functional/function_ref.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "proto/item_validation.h"
#include "server/security/authenticator.h"
#include "server/limits/caller_limits.h"
#include "server/sharing/sharing.h"
#include "server/store/store.h"

namespace havengate::server {

struct FederationServiceOptions {
  // This organisation's id.
  std::string organisation;
  // Organisation ids of the configured peers: only they may call.
  std::set<std::string> peers;
  ItemLimits limits;
  // Messages of one stream read but not yet acknowledged.
  int stream_window = 1024;
  // The largest message the server reads (told to senders that batch).
  int max_message_bytes = 4 << 20;
  // Optional: this organisation's CRL file (tls.crl), served by GetCrl.
  std::string own_crl_file;
  // Optional: each peer gateway's Exchange streams are calls under its
  // limits (calls started per second, calls open at once). Must outlive
  // the service.
  limits::CallerLimits* caller_limits = nullptr;
  // Takes the outcome of a request for withheld fields this organisation
  // sent (requests.proto) from the peer that was asked: OK once it is
  // durable (or already held); any other status refuses it as for items.
  // Unset: such messages are refused.
  std::function<absl::Status(const v1::FieldRequestOutcome&,
                             const security::PeerIdentity&)>
      on_request_outcome;
};

// The caller if it is the gateway of an organisation `is_peer` accepts;
// otherwise the refusal, already logged and audited as CALL_REJECTED for
// `method`. For every service peer gateways call.
[[nodiscard]] absl::StatusOr<security::PeerIdentity> AuthoriseConfiguredPeer(
    const security::Authenticator& authenticator,
    absl::FunctionRef<bool(const std::string&)> is_peer, store::Store& store,
    grpc::ServerContext& context, absl::string_view method);

class FederationService final : public v1::Federation::Service {
 public:
  FederationService(FederationServiceOptions options,
                    const security::Authenticator& authenticator, const Sharing& sharing,
                    store::Store& store);

  grpc::Status Exchange(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::FederationAck, v1::FederationMessage>*
          stream) override;

  // Answers the own CRL file as it is now to a configured peer gateway
  // (the same callers as Exchange); NOT_FOUND if none is configured.
  grpc::Status GetCrl(grpc::ServerContext* context, const v1::GetCrlRequest* request,
                      v1::GetCrlResponse* response) override;

  // Ends the open Exchange streams and refuses new ones (UNAVAILABLE), so
  // shutdown does not wait for peers to hang up. Messages already read are
  // still stored; their acknowledgements may not reach the peer, which
  // resends them after reconnecting and is answered "already held".
  void Stop();

  // The configured peers from now on; open Exchange streams of a peer no
  // longer among them are cancelled (what they sent and was acknowledged
  // is stored; the rest stays in that peer's outbox).
  void SetPeers(std::set<std::string> peers);
  // Limits for streams opened from now on.
  void SetLimits(ItemLimits limits, int stream_window);

 private:
  // The caller if it is a configured peer's gateway; otherwise the refusal,
  // already logged and audited as CALL_REJECTED for `method`.
  absl::StatusOr<security::PeerIdentity> AuthorisePeer(grpc::ServerContext& context,
                                                       absl::string_view method);
  // Registers an open stream of `peer`: UNAVAILABLE once Stop() has run,
  // PERMISSION_DENIED if `peer` is no longer configured.
  absl::Status Open(grpc::ServerContext* context, const std::string& peer);
  void Close(grpc::ServerContext* context);

  absl::Status CheckItem(const v1::Item& item, const security::PeerIdentity& peer,
                         const ItemLimits& limits) const;
  // NOT_FOUND if there is nothing to do: the item is not held here, or a
  // withdrawal concerns a copy that came by another path and was not kept.
  absl::Status CheckRetraction(const v1::Retraction& retraction,
                               const security::PeerIdentity& peer) const;
  void AuditRefusal(const security::PeerIdentity& peer, const v1::FederationMessage& message,
                    const absl::Status& status);
  // A version already held, received again from another gateway with
  // other content (it came by two paths).
  void AuditOtherCopy(const security::PeerIdentity& peer, const v1::Receipt& held,
                      const std::string& held_from);

  FederationServiceOptions options_;
  const security::Authenticator& authenticator_;
  const Sharing& sharing_;
  store::Store& store_;

  std::mutex mu_;
  bool stopping_ = false;                    // guarded by mu_
  // Open streams and their peer's organisation id; guarded by mu_.
  std::map<grpc::ServerContext*, std::string> open_;
  // options_.peers, .limits and .stream_window change on reload: guarded
  // by mu_ (the rest of options_ is fixed).
  // Set while storage refuses receipts (see the file comment).
  std::atomic<bool> deferring_{false};
};

// Checks that an item received from `sender` tells a consistent story of
// how it got here: the provenance starts at the origin, each hop released
// it to the next, and the last hop is `sender` releasing it to `receiver`.
// An item claiming another origin without such a chain is refused, as is an
// item that already passed through `receiver` (a loop).
[[nodiscard]] absl::Status CheckProvenance(const v1::Item& item,
                                           const std::string& sender,
                                           const std::string& receiver);

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FEDERATION_FEDERATION_SERVICE_H_
