// The Evidence page: the questions an oversight body asks, put to the
// gateway's Evidence service — what was shared with a partner (about a
// container, vessel, person pseudonym or item), what a partner received, which rule and whose
// proposal and approval released a field, the audit chain's state — with
// the answer as CSV and the signed extract to hand over.
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"
#include "proto/json.h"
#include "proto/timestamp.h"

namespace havengate::console {
namespace {

absl::StatusOr<v1::EvidencePeriod> Period(const Params& params) {
  v1::EvidencePeriod period;
  for (const char* bound : {"since", "until"}) {
    const std::string& text = Param(params, bound);
    if (text.empty()) continue;
    absl::StatusOr<absl::Time> t = ParseTimeArgument(text);
    if (!t.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(bound, ": ", t.status().message()));
    }
    *(std::string(bound) == "since" ? period.mutable_since() : period.mutable_until()) =
        ToTimestamp(*t);
  }
  return period;
}

absl::StatusOr<v1::SharedRequest> SharedRequestOf(const Params& params) {
  v1::SharedRequest request;
  request.set_partner(Param(params, "partner"));
  const std::string& subject = Param(params, "subject");
  const std::string& value = Param(params, "value");
  if (!value.empty()) {
    if (subject == "vessel") {
      request.set_vessel(value);
    } else if (subject == "item") {
      request.set_item_id(value);
    } else if (subject == "person") {
      request.set_person_pseudonym(value);
    } else {
      request.set_container(value);
    }
  }
  absl::StatusOr<v1::EvidencePeriod> period = Period(params);
  if (!period.ok()) return period.status();
  *request.mutable_period() = *period;
  return request;
}

std::string Detail(const v1::AuditRecord& r) {
  switch (r.type()) {
    case v1::SHARE_DECIDED: {
      std::string out = r.released() ? "released" : "not released";
      if (r.released_fields_size() > 0) {
        absl::StrAppend(&out, "; fields: ", absl::StrJoin(r.released_fields(), ", "));
      }
      if (r.transformed_fields_size() > 0) {
        absl::StrAppend(&out, "; transformed: ", absl::StrJoin(r.transformed_fields(), ", "));
      }
      if (r.withheld_fields_size() > 0) {
        absl::StrAppend(&out, "; withheld: ", absl::StrJoin(r.withheld_fields(), ", "));
      }
      if (r.matched_rules_size() > 0) {
        absl::StrAppend(&out, "; rules: ", absl::StrJoin(r.matched_rules(), ", "));
      }
      return out;
    }
    case v1::ITEM_DELIVERED:
      return r.detail() == "retraction" ? "retraction delivered" : "delivered";
    default:
      return absl::StrCat(r.reason(), r.detail());
  }
}

std::vector<std::string> RecordCells(const v1::AuditRecord& r) {
  return {When(r.recorded_at()), absl::StrCat(r.sequence()),
          v1::AuditEventType_Name(r.type()),
          absl::StrCat(r.item().origin(), "/", r.item().item_id(), "@", r.item().version()),
          r.policy_version(), Detail(r)};
}

const std::vector<std::string>& RecordHeader() {
  static const auto* header = new std::vector<std::string>{
      "Time", "Record", "Event", "Item", "Policy", "Detail"};
  return *header;
}

std::string RecordsTable(const v1::EvidenceRecords& records, const std::string& id) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::AuditRecord& r : records.records()) {
    std::vector<std::string> cells;
    for (const std::string& c : RecordCells(r)) cells.push_back(Escape(c));
    rows.push_back(std::move(cells));
  }
  return absl::StrCat("<p>", records.records_size(), " audit record(s).</p>",
                      Table(RecordHeader(), rows, id));
}

std::string QueryString(const Params& params) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : params) parts.push_back(absl::StrCat(key, "=", UrlEncode(value)));
  return absl::StrJoin(parts, "&");
}

std::string Forms(const Params& params) {
  auto input = [&](const char* name, const char* label) {
    return absl::StrCat("<label>", label, " <input name=\"", name, "\" value=\"",
                        Escape(Param(params, name)), "\"></label>");
  };
  const std::string& subject = Param(params, "subject");
  auto option = [&](const char* value, const char* label) {
    return absl::StrCat("<option value=\"", value, "\"", subject == value ? " selected" : "",
                        ">", label, "</option>");
  };
  return absl::StrCat(
      "<form method=\"get\" action=\"/evidence\" id=\"shared-form\">"
      "<input type=\"hidden\" name=\"q\" value=\"shared\"><h2>What did we share with a "
      "partner?</h2>",
      input("partner", "Partner"), "<label>About <select name=\"subject\">",
      option("container", "container"), option("vessel", "vessel (IMO or name)"),
      option("item", "item id"), option("person", "person pseudonym (ps:...)"),
      "</select></label>", input("value", "Number / name / id / code"),
      input("since", "Since"), input("until", "Until"),
      "<button type=\"submit\" id=\"ask-shared\">Ask</button></form>"
      "<form method=\"get\" action=\"/evidence\"><input type=\"hidden\" name=\"q\" "
      "value=\"received\"><h2>What did a partner receive from us?</h2>",
      input("partner", "Partner"), input("since", "Since"), input("until", "Until"),
      "<button type=\"submit\" id=\"ask-received\">Ask</button></form>"
      "<form method=\"get\" action=\"/evidence\"><input type=\"hidden\" name=\"q\" "
      "value=\"rule\"><h2>Which rule released a field, and who approved it?</h2>",
      input("field", "Field (e.g. containers.number)"), input("partner", "Partner (optional)"),
      "<button type=\"submit\" id=\"ask-rule\">Ask</button></form>"
      "<form method=\"get\" action=\"/evidence\"><input type=\"hidden\" name=\"q\" "
      "value=\"status\"><h2>Is the audit log intact?</h2>"
      "<button type=\"submit\" id=\"ask-status\">Check the chain</button></form>");
}

std::string Releases(const v1::FieldReleasesResponse& answer) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::FieldRelease& r : answer.releases()) {
    std::vector<std::string> how;
    for (const auto& [outcome, count] : r.outcomes()) how.push_back(absl::StrCat(outcome, " x", count));
    std::vector<std::string> steps;
    for (const v1::AuditRecord& step : r.lifecycle()) {
      steps.push_back(absl::StrCat(v1::AuditEventType_Name(step.type()), " by ", step.actor(),
                                   " at ", When(step.recorded_at())));
    }
    rows.push_back({Escape(r.policy_version()), Escape(absl::StrJoin(r.rules(), ", ")),
                    Escape(absl::StrJoin(r.partners(), ", ")), Escape(absl::StrJoin(how, ", ")),
                    Escape(r.proposed_by()), Escape(r.approved_by()),
                    Escape(absl::StrJoin(steps, "; "))});
  }
  return Table({"Policy version", "Rules", "Partners", "How", "Proposed by", "Approved by",
                "Lifecycle (audit)"},
               rows, "releases");
}

std::string Status(const v1::ChainStatusResponse& s) {
  std::string out = absl::StrCat(
      s.ok() ? OkBox("The audit log is intact.") : ErrorBox("The audit log was tampered with or damaged."),
      "<dl><dt>Records</dt><dd id=\"chain-records\">", s.records(), " (last ", s.last_sequence(),
      " at ", Escape(When(s.last_recorded_at())), ")</dd><dt>Checkpoints</dt><dd>",
      s.checkpoints(), "</dd>");
  if (s.has_last_checkpoint()) {
    absl::StrAppend(&out, "<dt>Last checkpoint</dt><dd>record ", s.last_checkpoint().sequence(),
                    " at ", Escape(When(s.last_checkpoint().recorded_at())), ", signature ",
                    s.last_checkpoint_signature_valid() ? "valid" : "NOT valid", "</dd>");
  }
  absl::StrAppend(&out, "<dt>Not yet sealed</dt><dd>", s.unsealed_tail(), " records</dd></dl>");
  for (const std::string& p : s.problems()) absl::StrAppend(&out, ErrorBox(p));
  for (const std::string& n : s.notes()) absl::StrAppend(&out, "<p>", Escape(n), "</p>");
  return out;
}

// The records that answer a `shared` or `received` question.
absl::StatusOr<v1::EvidenceRecords> AskRecords(Gateway& gateway, const Params& params) {
  const std::string& q = Param(params, "q");
  if (q == "shared") {
    absl::StatusOr<v1::SharedRequest> request = SharedRequestOf(params);
    if (!request.ok()) return request.status();
    return gateway.evidence.Shared(*request);
  }
  if (q != "received") return absl::InvalidArgumentError("q: shared or received");
  v1::ReceivedRequest request;
  request.set_partner(Param(params, "partner"));
  absl::StatusOr<v1::EvidencePeriod> period = Period(params);
  if (!period.ok()) return period.status();
  *request.mutable_period() = *period;
  return gateway.evidence.Received(request);
}

}  // namespace

std::string EvidencePage(Gateway& gateway, const Params& params) {
  const std::string& q = Param(params, "q");
  std::string answer;
  if (q == "shared" || q == "received") {
    absl::StatusOr<v1::EvidenceRecords> records = AskRecords(gateway, params);
    answer = records.ok()
                 ? absl::StrCat(RecordsTable(*records, q),
                                "<p><a id=\"csv\" href=\"/evidence/answer.csv?",
                                Escape(QueryString(params)), "\">Download as CSV</a></p>")
                 : GatewayError("asking", records.status());
  } else if (q == "rule") {
    v1::FieldReleasesRequest request;
    request.set_field(Param(params, "field"));
    request.set_partner(Param(params, "partner"));
    absl::StatusOr<v1::FieldReleasesResponse> releases = gateway.evidence.FieldReleases(request);
    answer = releases.ok() ? Releases(*releases) : GatewayError("asking", releases.status());
  } else if (q == "status") {
    absl::StatusOr<v1::ChainStatusResponse> status = gateway.evidence.ChainStatus();
    answer = status.ok() ? Status(*status) : GatewayError("asking", status.status());
  }
  return absl::StrCat(
      "<div id=\"answer\">", answer, "</div>", Forms(params),
      "<h2>Signed extract for an oversight body</h2><p><a id=\"extract\" "
      "href=\"/evidence/extract.json\">Download the signed audit extract</a> (the records, the "
      "signed checkpoint that seals them and the gateway's certificate).</p>");
}

absl::StatusOr<std::string> AnswerCsv(Gateway& gateway, const Params& params) {
  absl::StatusOr<v1::EvidenceRecords> records = AskRecords(gateway, params);
  if (!records.ok()) return records.status();
  auto quote = [](const std::string& cell) {
    // A cell starting with = + - @ would be a formula in a spreadsheet.
    std::string safe = !cell.empty() && std::string("=+-@").find(cell[0]) != std::string::npos
                           ? absl::StrCat("'", cell)
                           : cell;
    return absl::StrCat("\"", absl::StrReplaceAll(safe, {{"\"", "\"\""}}), "\"");
  };
  std::string out;
  std::vector<std::string> header;
  for (const std::string& h : RecordHeader()) header.push_back(quote(h));
  absl::StrAppend(&out, absl::StrJoin(header, ","), "\r\n");
  for (const v1::AuditRecord& r : records->records()) {
    std::vector<std::string> cells;
    for (const std::string& c : RecordCells(r)) cells.push_back(quote(c));
    absl::StrAppend(&out, absl::StrJoin(cells, ","), "\r\n");
  }
  return out;
}

absl::StatusOr<std::string> ExtractJson(Gateway& gateway, const Params& params) {
  absl::StatusOr<v1::EvidencePeriod> period = Period(params);
  if (!period.ok()) return period.status();
  v1::ExtractRequest request;
  *request.mutable_period() = *period;
  absl::StatusOr<v1::ExtractResponse> extract = gateway.evidence.Extract(request);
  if (!extract.ok()) return extract.status();
  return ToJson(*extract);
}

}  // namespace havengate::console
