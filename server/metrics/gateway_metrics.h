// GatewayMetrics: the gateway's metrics, by name, and the hooks the rest of
// the daemon reports through.
//
// Most counters follow the audit log (OnAuditCommitted, wired to
// StoreOptions::on_audit_committed): every ingest, receipt, refusal,
// share decision and delivery is audited, so counting committed records
// counts exactly what durably happened. The remaining hooks are for what
// is not audited per event: peer link state and delivery latency (from
// PeerLinkObserver), outbox depth (refreshed from Store::GetOutboxStats),
// the active policy version, TLS handshake failures by reason (from the
// trust layer's HandshakeListener) and store health.
//
// Labels carry partner ids, link break reasons, status code names, audit event and method
// names, policy version ids and handshake refusal reasons only.
//
// Thread-safe.
#ifndef HAVENGATE_SERVER_METRICS_GATEWAY_METRICS_H_
#define HAVENGATE_SERVER_METRICS_GATEWAY_METRICS_H_

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "havengate/v1/audit.pb.h"
#include "server/metrics/registry.h"
#include "server/store/store.h"

namespace havengate::metrics {

class GatewayMetrics {
 public:
  // Registers the gateway's metrics in `registry` (which must outlive
  // this). `partners`: the configured peers, shown at zero from the start.
  GatewayMetrics(Registry& registry, const std::vector<std::string>& partners);

  // Counts a committed audit record (see the file comment).
  void OnAuditCommitted(const v1::AuditRecord& record);

  // A share decision for `partner` (called for every committed
  // SHARE_DECIDED record; may also be called directly).
  void ShareDecided(const std::string& partner, bool released);
  // The sharing policy now in force; earlier versions drop to 0.
  void SetActivePolicyVersion(const std::string& version);
  // A refused TLS handshake; `reason` is pki::RejectReasonName (e.g.
  // "expired", "unknown_issuer").
  void TlsHandshakeFailed(absl::string_view reason);
  // PeerLinkObserver::on_state / on_delivered.
  void PeerState(const std::string& partner, bool connected);
  void Delivered(const std::string& partner, absl::Duration latency);
  // PeerLinkObserver::on_break: `reason` is a LinkBreakName
  // ("peer_out_of_space", ...), a closed set.
  void LinkBroke(const std::string& partner, absl::string_view reason);
  // Outbox depth and age of the oldest entry per partner; partners absent
  // from `stats` are shown as empty.
  void UpdateOutboxes(const std::vector<store::OutboxStats>& stats,
                      absl::Time now);
  void SetStoreHealthy(bool healthy);
  // The partner's CRL copy on disk (CrlFetcher): its nextUpdate and
  // whether it is past it (stale: handshakes use an outdated list).
  void PeerCrl(const std::string& partner, absl::Time next_update, bool stale);
  // Whether the policy file on disk is valid (0: an edit left it invalid;
  // the last good policy stays active and the next start would refuse it).
  void SetPolicyFileValid(bool valid);
  // Partners added by a configuration reload, shown at zero from now on
  // (a removed partner's series stay: its outbox is kept).
  void AddPartners(const std::vector<std::string>& partners);
  // A configuration reload (SIGHUP): applied, or refused as a whole.
  void ConfigReload(bool applied);

 private:
  Family<Counter>& ingested_;
  Family<Counter>& received_;
  Family<Counter>& rejected_;
  Family<Counter>& refused_;
  Family<Counter>& decisions_;
  Family<Counter>& deliveries_;
  Family<Histogram>& latency_;
  Family<Gauge>& outbox_depth_;
  Family<Gauge>& outbox_age_;
  Family<Gauge>& peer_connected_;
  Family<Counter>& link_breaks_;
  Family<Gauge>& policy_version_;
  Family<Counter>& handshake_failures_;
  Family<Counter>& audit_records_;
  Family<Gauge>& audit_sequence_;
  Family<Gauge>& store_healthy_;
  Family<Gauge>& policy_file_valid_;
  Family<Gauge>& peer_crl_next_update_;
  Family<Gauge>& peer_crl_stale_;
  Family<Counter>& config_reloads_;
  // Series the store's writer thread updates per record, looked up once.
  Counter* ingested_total_;
  Gauge* audit_last_sequence_;
  std::vector<Counter*> records_by_type_;  // indexed by AuditEventType

  // Shows `partner`'s series at zero; requires mu_.
  void ShowPartner(const std::string& partner);

  std::mutex mu_;
  std::set<std::string> partners_;          // guarded by mu_
  std::string active_policy_version_;       // guarded by mu_
};

// The federation part of the gateway's health (grpc.health.v1 service
// "havengate.v1.Federation"): serving while the store is healthy and no
// partner has had messages waiting longer than `patience` while its link is
// not connected. Links connect only when there is something to send, so an
// idle partner counts as serving.
struct LinkState {
  std::string partner;
  bool connected = false;
  // Why the link is broken (a LinkBreakName), "" while it delivers.
  std::string break_reason;
  // The partner's CRL copy is past its nextUpdate (reported, not a reason
  // to stop serving: the copy still lists what it listed).
  bool crl_stale = false;
};
bool FederationServing(bool store_healthy, const std::vector<LinkState>& links,
                       const std::vector<store::OutboxStats>& outboxes,
                       absl::Time now,
                       absl::Duration patience = absl::Seconds(10));

// The health detail: each partner whose link is broken, with the reason,
// e.g. "customs-nl: peer_out_of_space", and each partner whose CRL copy
// is past its nextUpdate ("customs-nl: crl_stale"); "" when none is.
std::string FederationHealthDetail(const std::vector<LinkState>& links);

// The method and status code named in a CALL_REJECTED / RECEIPT_REFUSED
// reason ("Push: INVALID_ARGUMENT: ..."): {"Push", "INVALID_ARGUMENT"}.
// Unrecognised parts come back as "other" / "UNKNOWN", never as free text.
struct RejectionLabels {
  std::string method;
  std::string code;
};
RejectionLabels ParseRejection(absl::string_view reason);

}  // namespace havengate::metrics

#endif  // HAVENGATE_SERVER_METRICS_GATEWAY_METRICS_H_
