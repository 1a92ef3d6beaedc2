// The console's pages, rendered on the server from the gateway's answers.
// Each takes the officer's gateway connection and the request's values and
// returns the page body (HTML, every value escaped); a refused or failed
// call shows as an error box with the gateway's code and words (e.g. the
// four-eyes reason), never as a broken page.
//
// Thread-safety: a Gateway is thread-safe (the gRPC clients are); the page
// functions share no state.
#ifndef HAVENGATE_CLIENT_CONSOLE_PAGES_H_
#define HAVENGATE_CLIENT_CONSOLE_PAGES_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/evidence_client.h"
#include "client/policy_admin_client.h"

namespace havengate::console {

// The officer's connection to their gateway, and its two officer services.
struct Gateway {
  explicit Gateway(client::Client& connection)
      : client(connection), admin(connection), evidence(connection) {}
  client::Client& client;
  client::PolicyAdminClient admin;
  client::EvidenceClient evidence;
};

// Query and form values of a request.
using Params = std::map<std::string, std::string>;

// The value of `key`, or "".
const std::string& Param(const Params& params, const std::string& key);

// Overview: organisation, active policy and its approver, gateway and
// federation health, per-partner activity in the last 24 h and 7 days,
// refusals.
std::string OverviewPage(Gateway& gateway, absl::Time now);

// Policy: the active policy's text, its history, and the candidate editor;
// `params` may carry a candidate (policy_text) and an action (validate,
// propose with a comment).
std::string PolicyPage(Gateway& gateway, const Params& params, const std::string& csrf);

// Proposals: every proposal with the steps it allows; `params` may carry an
// action (approve, activate, rollback) and its arguments.
std::string ProposalsPage(Gateway& gateway, const Params& params, const std::string& csrf);

// Preview: a stored item (searched by container, vessel, category, period)
// or a pasted item (JSON) decided for every partner under the active
// policy and, if given, a proposal: one column per partner.
std::string PreviewPage(Gateway& gateway, const Params& params, const std::string& csrf);

// Impact: a proposal against the active policy over the items the gateway
// stored in a period: per partner the fields gained, lost or changed in how
// many items, with the items themselves.
std::string ImpactPage(Gateway& gateway, const Params& params);

// Reports: per partner and per week (the last `weeks`, default 8) what was
// shared, delivered, received, refused and expired, and the share of
// fields withheld; drawn as SVG bars, printable.
std::string ReportsPage(Gateway& gateway, const Params& params, absl::Time now);

// Hits: the newest hits the gateway recorded (key type, key — personal
// keys only as pseudonym codes —, the two items, when).
std::string HitsPage(Gateway& gateway);

// Evidence: the oversight questions (shared, received, rule, chain status)
// and links to their CSV and the signed extract.
std::string EvidencePage(Gateway& gateway, const Params& params);

// The answer to a "shared" or "received" question (`q`) as CSV, one line
// per audit record.
absl::StatusOr<std::string> AnswerCsv(Gateway& gateway, const Params& params);

// The signed audit extract of a period, as JSON.
absl::StatusOr<std::string> ExtractJson(Gateway& gateway, const Params& params);

}  // namespace havengate::console

#endif  // HAVENGATE_CLIENT_CONSOLE_PAGES_H_
