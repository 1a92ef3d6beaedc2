#include "server/metrics/gateway_metrics.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace havengate::metrics {
namespace {

bool IsStatusCodeName(absl::string_view token) {
  for (int code = 0; code <= 16; ++code) {
    if (token == absl::StatusCodeToString(static_cast<absl::StatusCode>(code))) {
      return true;
    }
  }
  return false;
}

// A short identifier-like word, or words joined by dots (a method such as
// `PolicyAdmin.History`): the only free-form text allowed in labels.
bool IsWord(absl::string_view token, size_t max) {
  if (token.empty() || token.size() > max || token.front() == '.' || token.back() == '.') {
    return false;
  }
  return std::all_of(token.begin(), token.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

// Ids, versions and names pass; anything else (free text) does not.
std::string Label(absl::string_view value, absl::string_view fallback) {
  bool ok = !value.empty() && value.size() <= 128 &&
            std::all_of(value.begin(), value.end(), [](char c) {
              return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                     c == '-' || c == '_' || c == '.' || c == ':' || c == '@' ||
                     c == '+';
            });
  return std::string(ok ? value : fallback);
}

}  // namespace

RejectionLabels ParseRejection(absl::string_view reason) {
  RejectionLabels labels{"other", "UNKNOWN"};
  std::vector<absl::string_view> tokens =
      absl::StrSplit(reason, absl::MaxSplits(": ", 2));
  if (!tokens.empty() && IsWord(tokens[0], 40) && !IsStatusCodeName(tokens[0])) {
    labels.method = std::string(tokens[0]);
  }
  for (size_t i = 0; i < tokens.size() && i < 2; ++i) {
    if (IsStatusCodeName(tokens[i])) {
      labels.code = std::string(tokens[i]);
      break;
    }
  }
  return labels;
}

GatewayMetrics::GatewayMetrics(Registry& r,
                               const std::vector<std::string>& partners)
    : ingested_(r.AddCounter("havengate_items_ingested_total",
                             "Items integration clients pushed that were "
                             "stored (audited ITEM_INGESTED).")),
      received_(r.AddCounter("havengate_items_received_total",
                             "Items partners' gateways sent that were stored.",
                             {"partner"})),
      rejected_(r.AddCounter("havengate_calls_rejected_total",
                             "Calls refused (authentication, authorisation, "
                             "invalid items), by method and status code. "
                             "Items rejected: method=~\"Push.*\".",
                             {"method", "code"})),
      refused_(r.AddCounter("havengate_receipts_refused_total",
                            "Items and retractions from partners refused, by "
                            "status code.",
                            {"partner", "code"})),
      decisions_(r.AddCounter("havengate_share_decisions_total",
                              "Sharing decisions per partner.",
                              {"partner", "decision"})),
      deliveries_(r.AddCounter("havengate_deliveries_total",
                               "Outbox messages settled per partner: "
                               "delivered, refused or expired.",
                               {"partner", "outcome"})),
      latency_(r.AddHistogram("havengate_delivery_latency_seconds",
                              "Time from enqueue to acknowledgement by the "
                              "partner's gateway.",
                              {"partner"}, LatencyBuckets())),
      outbox_depth_(r.AddGauge("havengate_outbox_depth",
                               "Messages queued for a partner.", {"partner"})),
      outbox_age_(r.AddGauge("havengate_outbox_oldest_age_seconds",
                             "Age of the oldest message queued for a partner "
                             "(0 when empty).",
                             {"partner"})),
      peer_connected_(r.AddGauge("havengate_peer_connected",
                                 "1 while the link to a partner's gateway is "
                                 "connected.",
                                 {"partner"})),
      link_breaks_(r.AddCounter("havengate_peer_link_breaks_total",
                                "Breaks of the link to a partner's gateway, by "
                                "reason (peer_unreachable, handshake_refused, "
                                "refused_by_peer, peer_out_of_space, peer_busy, "
                                "peer_unavailable, stream_broken, local_error).",
                                {"partner", "reason"})),
      policy_version_(r.AddGauge("havengate_active_policy_version",
                                 "1 for the sharing policy version in force, 0 "
                                 "for earlier ones.",
                                 {"version"})),
      handshake_failures_(r.AddCounter("havengate_tls_handshake_failures_total",
                                       "TLS handshakes refused, by reason.",
                                       {"reason"})),
      audit_records_(r.AddCounter("havengate_audit_records_total",
                                  "Audit records committed, by type.",
                                  {"type"})),
      audit_sequence_(r.AddGauge("havengate_audit_last_sequence",
                                 "Sequence of the newest audit record.")),
      store_healthy_(r.AddGauge("havengate_store_healthy",
                                "1 while the store can write.")),
      policy_file_valid_(r.AddGauge("havengate_policy_file_valid",
                                    "1 while the policy file on disk is valid; 0 after "
                                    "an edit left it invalid (the last good policy "
                                    "stays active; a restart would refuse the file).")),
      peer_crl_next_update_(r.AddGauge("havengate_peer_crl_next_update_seconds",
                                       "nextUpdate of the partner's CRL copy, seconds "
                                       "since the epoch (0: none).",
                                       {"partner"})),
      peer_crl_stale_(r.AddGauge("havengate_peer_crl_stale",
                                 "1 while the partner's CRL copy is past its "
                                 "nextUpdate.",
                                 {"partner"})),
      config_reloads_(r.AddCounter("havengate_config_reload_total",
                                   "Reloads of the configuration file (SIGHUP): "
                                   "applied, or refused as a whole (the running "
                                   "configuration stays).",
                                   {"result"})) {
  config_reloads_.WithLabels({"applied"});
  config_reloads_.WithLabels({"refused"});
  ingested_total_ = &ingested_.Get();
  audit_last_sequence_ = &audit_sequence_.Get();
  store_healthy_.Get().Set(1);
  policy_file_valid_.Get().Set(1);
  const google::protobuf::EnumDescriptor* types = v1::AuditEventType_descriptor();
  records_by_type_.resize(static_cast<size_t>(v1::AuditEventType_MAX) + 1, nullptr);
  for (int i = 0; i < types->value_count(); ++i) {
    const auto* value = types->value(i);
    if (value->number() <= 0) continue;
    records_by_type_[static_cast<size_t>(value->number())] =
        &audit_records_.WithLabels({value->name()});
  }
  AddPartners(partners);
}

void GatewayMetrics::AddPartners(const std::vector<std::string>& partners) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& p : partners) ShowPartner(p);
}

void GatewayMetrics::ShowPartner(const std::string& p) {
  partners_.insert(p);
  received_.WithLabels({p});
  decisions_.WithLabels({p, "released"});
  decisions_.WithLabels({p, "not_released"});
  deliveries_.WithLabels({p, "delivered"});
  outbox_depth_.WithLabels({p});
  outbox_age_.WithLabels({p});
  peer_connected_.WithLabels({p});
  latency_.WithLabels({p});
}

void GatewayMetrics::ConfigReload(bool applied) {
  config_reloads_.WithLabels({applied ? "applied" : "refused"}).Increment();
}

void GatewayMetrics::OnAuditCommitted(const v1::AuditRecord& record) {
  const size_t type = static_cast<size_t>(record.type());
  if (type < records_by_type_.size() && records_by_type_[type] != nullptr) {
    records_by_type_[type]->Increment();
  } else {
    audit_records_.WithLabels({"other"}).Increment();
  }
  audit_last_sequence_->Set(static_cast<double>(record.sequence()));
  if (record.type() == v1::ITEM_INGESTED) {  // the hot path: no labels
    ingested_total_->Increment();
    return;
  }
  const std::string partner = Label(record.partner(), "unknown");
  switch (record.type()) {
    case v1::ITEM_RECEIVED:
      received_.WithLabels({partner}).Increment();
      break;
    case v1::CALL_REJECTED: {
      RejectionLabels labels = ParseRejection(record.reason());
      rejected_.WithLabels({labels.method, labels.code}).Increment();
      break;
    }
    case v1::RECEIPT_REFUSED:
      refused_.WithLabels({partner, ParseRejection(record.reason()).code})
          .Increment();
      break;
    case v1::SHARE_DECIDED:
      ShareDecided(partner, record.released());
      break;
    case v1::SHARES_DECIDED:  // one record, a decision per partner
      for (const v1::PartnerShareDecision& d : record.decisions()) {
        ShareDecided(d.partner(), d.released());
      }
      break;
    case v1::ITEM_DELIVERED:
      deliveries_.WithLabels({partner, "delivered"}).Increment();
      break;
    case v1::ITEMS_DELIVERED:  // one record, a delivery per entry
      deliveries_.WithLabels({partner, "delivered"})
          .Increment(static_cast<double>(record.deliveries_size()));
      break;
    case v1::DELIVERY_REFUSED:
      deliveries_.WithLabels({partner, "refused"}).Increment();
      break;
    case v1::DELIVERY_EXPIRED:
      deliveries_.WithLabels({partner, "expired"}).Increment();
      break;
    default:
      break;
  }
}

void GatewayMetrics::ShareDecided(const std::string& partner, bool released) {
  decisions_
      .WithLabels({Label(partner, "unknown"), released ? "released" : "not_released"})
      .Increment();
}

void GatewayMetrics::SetActivePolicyVersion(const std::string& version) {
  std::string label = Label(version, "invalid");
  std::lock_guard<std::mutex> lock(mu_);
  if (!active_policy_version_.empty() && active_policy_version_ != label) {
    policy_version_.WithLabels({active_policy_version_}).Set(0);
  }
  policy_version_.WithLabels({label}).Set(1);
  active_policy_version_ = label;
}

void GatewayMetrics::TlsHandshakeFailed(absl::string_view reason) {
  handshake_failures_.WithLabels({Label(reason, "other")}).Increment();
}

void GatewayMetrics::PeerState(const std::string& partner, bool connected) {
  peer_connected_.WithLabels({Label(partner, "unknown")}).Set(connected ? 1 : 0);
}

void GatewayMetrics::PeerCrl(const std::string& partner, absl::Time next_update,
                             bool stale) {
  std::string label = Label(partner, "unknown");
  peer_crl_next_update_.WithLabels({label}).Set(
      next_update == absl::InfiniteFuture()
          ? 0
          : static_cast<double>(absl::ToUnixSeconds(next_update)));
  peer_crl_stale_.WithLabels({label}).Set(stale ? 1 : 0);
}

void GatewayMetrics::LinkBroke(const std::string& partner,
                               absl::string_view reason) {
  link_breaks_.WithLabels({Label(partner, "unknown"), Label(reason, "other")})
      .Increment();
}

void GatewayMetrics::Delivered(const std::string& partner,
                               absl::Duration latency) {
  latency_.WithLabels({Label(partner, "unknown")})
      .Observe(absl::ToDoubleSeconds(latency));
}

void GatewayMetrics::UpdateOutboxes(const std::vector<store::OutboxStats>& stats,
                                    absl::Time now) {
  std::set<std::string> seen;
  for (const store::OutboxStats& s : stats) {
    std::string partner = Label(s.partner, "unknown");
    seen.insert(partner);
    outbox_depth_.WithLabels({partner}).Set(static_cast<double>(s.depth));
    double age = 0;
    if (s.depth > 0 && s.oldest_enqueued_at != absl::InfinitePast()) {
      age = std::max(0.0, absl::ToDoubleSeconds(now - s.oldest_enqueued_at));
    }
    outbox_age_.WithLabels({partner}).Set(age);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& p : partners_) {
    if (seen.count(p) != 0) continue;
    outbox_depth_.WithLabels({p}).Set(0);
    outbox_age_.WithLabels({p}).Set(0);
  }
}

bool FederationServing(bool store_healthy, const std::vector<LinkState>& links,
                       const std::vector<store::OutboxStats>& outboxes,
                       absl::Time now, absl::Duration patience) {
  if (!store_healthy) return false;
  for (const LinkState& link : links) {
    if (link.connected) continue;
    for (const store::OutboxStats& s : outboxes) {
      if (s.partner == link.partner && s.depth > 0 &&
          s.oldest_enqueued_at != absl::InfinitePast() &&
          now - s.oldest_enqueued_at > patience) {
        return false;
      }
    }
  }
  return true;
}

void GatewayMetrics::SetPolicyFileValid(bool valid) {
  policy_file_valid_.Get().Set(valid ? 1 : 0);
}

std::string FederationHealthDetail(const std::vector<LinkState>& links) {
  std::string detail;
  for (const LinkState& link : links) {
    if (!link.connected && !link.break_reason.empty()) {
      if (!detail.empty()) detail += ", ";
      detail += link.partner + ": " + link.break_reason;
    }
    if (link.crl_stale) {
      if (!detail.empty()) detail += ", ";
      detail += link.partner + ": crl_stale";
    }
  }
  return detail;
}

void GatewayMetrics::SetStoreHealthy(bool healthy) {
  store_healthy_.Get().Set(healthy ? 1 : 0);
}

}  // namespace havengate::metrics
