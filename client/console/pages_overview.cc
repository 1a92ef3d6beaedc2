// The Overview page: the organisation, its active policy and who approved
// it, the gateway's and its links' health, and per partner its link, queue
// and CRL copy and what went out and came in over the last 24 hours and 7
// days, with refusals.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"
#include "proto/timestamp.h"

namespace havengate::console {
namespace {

using Serving = grpc::health::v1::HealthCheckResponse;

std::string HealthCell(client::Client& client, const std::string& service) {
  absl::StatusOr<Serving::ServingStatus> status = client.Health(service);
  if (!status.ok()) {
    return absl::StrCat("<span class=\"bad\">cannot ask: ", Escape(status.status().message()),
                        "</span>");
  }
  const bool serving = *status == Serving::SERVING;
  return absl::StrCat("<span class=\"", serving ? "good" : "bad", "\">",
                      Escape(Serving::ServingStatus_Name(*status)), "</span>");
}

absl::StatusOr<std::map<std::string, v1::PartnerActivity>> ActivitySince(Gateway& gateway,
                                                                          absl::Time since) {
  v1::ActivityRequest request;
  *request.mutable_period()->mutable_since() = ToTimestamp(since);
  absl::StatusOr<v1::ActivityResponse> answer = gateway.evidence.Activity(request);
  if (!answer.ok()) return answer.status();
  std::map<std::string, v1::PartnerActivity> out;
  for (const v1::PartnerActivity& a : answer->partners()) out[a.partner()] = a;
  out[""].set_refused(answer->calls_rejected());  // "" holds the refused calls
  return out;
}

// The partner's link, queue and CRL copy as cells: link state, queued
// items, oldest undelivered, CRL freshness.
std::vector<std::string> LinkCells(const v1::PeerStatus* peer) {
  if (peer == nullptr) return {"<span class=\"bad\">not a configured peer</span>", "-", "-", "-"};
  std::string link =
      peer->connected()
          ? "<span class=\"good\">connected</span>"
          : absl::StrCat("<span class=\"bad\">",
                         peer->link_break_reason().empty()
                             ? std::string("not connected")
                             : absl::StrCat("broken: ", Escape(peer->link_break_reason())),
                         "</span>");
  std::string crl;
  switch (peer->crl_state()) {
    case v1::PEER_CRL_FRESH:
      crl = absl::StrCat("<span class=\"good\">fresh</span> (next update ",
                         Escape(When(peer->crl_next_update())), ")");
      break;
    case v1::PEER_CRL_STALE:
      crl = absl::StrCat("<span class=\"bad\">stale</span> (next update was ",
                         Escape(When(peer->crl_next_update())), ")");
      break;
    case v1::PEER_CRL_NEVER_FETCHED:
      crl = "not fetched since the gateway started";
      break;
    case v1::PEER_CRL_NOT_CONFIGURED:
      crl = "no CRL configured";
      break;
    default:
      crl = "unknown";
  }
  return {link, absl::StrCat(peer->queue_depth()), Escape(When(peer->oldest_undelivered())),
          crl};
}

}  // namespace

std::string OverviewPage(Gateway& gateway, absl::Time now) {
  std::string body;
  absl::StatusOr<v1::PolicyHistoryResponse> history = gateway.admin.History(true);
  if (!history.ok()) return GatewayError("reading the policy history", history.status());
  std::optional<v1::PolicyProposal> active = ActiveEntry(*history);
  PolicyHeader header = active ? ReadPolicyHeader(active->policy_text()) : PolicyHeader{};

  absl::StrAppend(&body, "<section><h2>Organisation</h2><dl>",
                  "<dt>Organisation</dt><dd id=\"organisation\">", Escape(header.organisation),
                  "</dd><dt>Gateway</dt><dd>", Escape(gateway.client.options().address), " (",
                  Escape(gateway.client.options().gateway_id), ")</dd>");
  if (active) {
    absl::StrAppend(&body, "<dt>Active policy</dt><dd id=\"active-version\">",
                    Escape(active->version()), "</dd><dt>Proposed by</dt><dd>",
                    Escape(active->proposed_by()), "</dd><dt>Approved by</dt><dd>",
                    Escape(active->approved_by().empty() ? "nobody (from the policy file)"
                                                         : active->approved_by()),
                    "</dd><dt>Activated</dt><dd>", Escape(When(active->activated_at())),
                    " by ", Escape(active->activated_by()), "</dd>");
  } else {
    absl::StrAppend(&body, "<dt>Active policy</dt><dd>none: nothing is shared</dd>");
  }
  absl::StrAppend(&body, "<dt>Gateway</dt><dd>", HealthCell(gateway.client, ""),
                  "</dd><dt>Partner links</dt><dd>",
                  HealthCell(gateway.client, "havengate.v1.Federation"),
                  " (NOT_SERVING: a partner is unreachable with items waiting)</dd>"
                  "<dt>Policy file</dt><dd>",
                  HealthCell(gateway.client, "havengate.v1.PolicyFile"), "</dd></dl></section>");

  auto day = ActivitySince(gateway, now - absl::Hours(24));
  auto week = ActivitySince(gateway, now - absl::Hours(24 * 7));
  if (!day.ok()) return absl::StrCat(body, GatewayError("reading activity", day.status()));
  if (!week.ok()) return absl::StrCat(body, GatewayError("reading activity", week.status()));
  absl::StatusOr<v1::GetStatusResponse> links = gateway.client.PartnerStatus();
  std::map<std::string, const v1::PeerStatus*> link_of;
  if (links.ok()) {
    for (const v1::PeerStatus& peer : links->peers()) link_of[peer.partner()] = &peer;
  }
  std::vector<std::vector<std::string>> rows;
  for (const PolicyPartner& p : header.partners) {
    const v1::PartnerActivity& d = (*day)[p.id];
    const v1::PartnerActivity& w = (*week)[p.id];
    std::vector<std::string> row = {absl::StrCat("<span class=\"partner\">", Escape(p.id),
                                                 "</span><br><small>", Escape(p.name),
                                                 "</small>")};
    if (links.ok()) {
      auto found = link_of.find(p.id);
      for (std::string& cell : LinkCells(found == link_of.end() ? nullptr : found->second)) {
        row.push_back(std::move(cell));
      }
    } else {
      row.insert(row.end(), 4, "?");
    }
    row.insert(row.end(), {absl::StrCat(d.shared(), " / ", w.shared()),
                           absl::StrCat(d.delivered(), " / ", w.delivered()),
                           absl::StrCat(d.received(), " / ", w.received()),
                           absl::StrCat(d.refused(), " / ", w.refused()),
                           absl::StrCat(d.expired(), " / ", w.expired()),
                           Escape(When(w.last_delivered()))});
    rows.push_back(std::move(row));
  }
  absl::StrAppend(&body, "<section><h2>Partners (counts: last 24 h / 7 days)</h2>",
                  links.ok() ? "" : GatewayError("reading the partners' links", links.status()),
                  Table({"Partner", "Link", "Queued", "Oldest undelivered", "CRL", "Shared",
                         "Delivered", "Received from", "Refused", "Expired", "Last delivery"},
                        rows, "partners"),
                  "<p>Calls refused by the gateway: ", (*day)[""].refused(), " in 24 h, ",
                  (*week)[""].refused(), " in 7 days.</p></section>");
  return body;
}

}  // namespace havengate::console
