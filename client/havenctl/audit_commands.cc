// `havenctl audit ...`: the oversight body's tools, run offline on a copy of
// a gateway's store file (opened read-only; the gateway need not run):
// verify the evidence, export it for a SIEM, and answer the questions an
// oversight body asks — what was shared with a partner (about a
// container), what a partner received in a period, which policy versions
// and rules released a field and who proposed and approved them.
// A thin shell over havengate::evidence (evidence/). With --remote the same
// questions go to a running gateway's Evidence service, with an officer
// certificate (the gateway authorises and audits the question); `audit
// status` and `audit extract` exist only in that form.
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/evidence_client.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "client/havenctl/json_output.h"
#include "evidence/audit_store.h"
#include "evidence/evidence_proto.h"
#include "evidence/queries.h"
#include "evidence/verify.h"
#include "proto/json.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"

namespace havengate::havenctl {
namespace {

int Fail(absl::string_view command, const absl::Status& status) {
  std::cerr << "havenctl audit " << command << ": " << status.message() << "\n";
  return 1;
}

std::string When(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", FromTimestamp(t), absl::UTCTimeZone());
}

std::string When(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

std::string ItemName(const v1::ItemRef& item) {
  return absl::StrCat(item.origin(), "/", item.item_id());
}

// --since / --until, shared by the query commands.
struct RangeFlags {
  std::string since;
  std::string until;

  void AddTo(CLI::App& cmd, bool since_required = false) {
    auto* s = cmd.add_option(
        "--since", since,
        "from this time: RFC 3339 (2026-11-28T14:05:00Z) or a date "
        "(2026-11-28, UTC)");
    if (since_required) s->required();
    cmd.add_option("--until", until, "up to (not including) this time");
  }
  absl::StatusOr<evidence::TimeRange> Build() const {
    evidence::TimeRange range;
    if (!since.empty()) {
      absl::StatusOr<absl::Time> t = ParseTimeArgument(since);
      if (!t.ok()) return absl::InvalidArgumentError(
          absl::StrCat("--since: ", t.status().message()));
      range.since = *t;
    }
    if (!until.empty()) {
      absl::StatusOr<absl::Time> t = ParseTimeArgument(until);
      if (!t.ok()) return absl::InvalidArgumentError(
          absl::StrCat("--until: ", t.status().message()));
      range.until = *t;
    }
    if (range.until <= range.since) {
      return absl::InvalidArgumentError("--until must be later than --since");
    }
    return range;
  }
  std::string Describe(const evidence::TimeRange& range) const {
    if (since.empty() && until.empty()) return "in the whole log";
    std::string out;
    if (!since.empty()) absl::StrAppend(&out, "from ", When(range.since));
    if (!until.empty()) {
      absl::StrAppend(&out, out.empty() ? "" : " ", "until ", When(range.until));
    }
    return out;
  }
};

// The store file opened read-only and the period asked about.
struct QueryInput {
  std::unique_ptr<evidence::AuditStore> store;
  evidence::TimeRange range;
};

absl::StatusOr<QueryInput> OpenForQuery(const std::string& store_path,
                                        const RangeFlags& range_flags) {
  QueryInput in;
  absl::StatusOr<evidence::TimeRange> range = range_flags.Build();
  if (!range.ok()) return range.status();
  in.range = *range;
  absl::StatusOr<std::unique_ptr<evidence::AuditStore>> store =
      evidence::AuditStore::Open(store_path);
  if (!store.ok()) return store.status();
  in.store = std::move(*store);
  return in;
}

// Where a question is answered: a store file (offline) or a running
// gateway (--remote, with the connection flags).
struct AuditSource {
  std::string store;
  bool remote = false;
  ConnectionFlags connection;

  void AddTo(CLI::App& cmd) {
    cmd.add_option("--store", store, "the gateway's store file (a copy will do)");
    cmd.add_flag("--remote", remote,
                 "ask the running gateway instead (Evidence service; needs an "
                 "officer certificate: --connection or --address/--cert/--key/--ca/"
                 "--gateway-id)");
    connection.AddTo(cmd);
  }
  absl::Status Check() const {
    if (remote && !store.empty()) {
      return absl::InvalidArgumentError("give --store or --remote, not both");
    }
    if (!remote && store.empty()) {
      return absl::InvalidArgumentError("give --store FILE (offline) or --remote");
    }
    return absl::OkStatus();
  }
};

// Connects for --remote and runs `ask` on the gateway's Evidence service.
template <typename Ask>
absl::Status AskGateway(const AuditSource& source, Ask ask) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected = source.connection.Connect();
  if (!connected.ok()) return connected.status();
  client::EvidenceClient evidence(**connected);
  absl::Status status = ask(evidence);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(absl::StatusCodeToString(status.code()),
                                                    ": ", status.message()));
  }
  return absl::OkStatus();
}

void PrintJsonLines(const std::vector<v1::AuditRecord>& records) {
  JsonStyle one_line;
  one_line.pretty = false;
  for (const auto& r : records) std::cout << ToJson(r, one_line) << "\n";
}

// --- verify ------------------------------------------------------------------

struct VerifyFlags {
  std::string store;
  std::string checkpoints;
  std::vector<std::string> certs;
  int max_problems = 1000;
  bool json = false;
};

void PrintVerifyJson(const VerifyFlags& f, const evidence::VerifyResult& result) {
  const evidence::AuditChainReport& report = result.report;
  std::vector<std::string> problems;
  for (const evidence::AuditProblem& p : report.problems) {
    problems.push_back(JsonObject()
                           .String("kind", evidence::AuditProblemKindName(p.kind))
                           .Int("first_sequence", static_cast<int64_t>(p.first_sequence))
                           .Int("last_sequence", static_cast<int64_t>(p.last_sequence))
                           .String("record_type", p.record_type)
                           .String("detail", p.detail)
                           .str());
  }
  std::cout << JsonObject()
                   .String("store", f.store)
                   .Bool("ok", report.ok())
                   .Int("records", static_cast<int64_t>(report.records))
                   .Int("first_sequence", static_cast<int64_t>(report.first_sequence))
                   .Int("last_sequence", static_cast<int64_t>(report.last_sequence))
                   .Int("checkpoints", static_cast<int64_t>(report.checkpoints))
                   .Int("unsealed_tail", static_cast<int64_t>(result.unsealed_tail))
                   .String("checkpoint_file", result.checkpoint_file)
                   .Int("file_checkpoints", static_cast<int64_t>(result.file_checkpoints))
                   .Int("signatures_verified",
                        static_cast<int64_t>(result.signatures_verified))
                   .Strings("notes", result.notes)
                   .Raw("problems", absl::StrCat("[", absl::StrJoin(problems, ","), "]"))
                   .Int("problems_not_listed",
                        static_cast<int64_t>(report.problems_not_listed))
                   .str()
            << "\n";
}

int RunVerify(const VerifyFlags& f) {
  evidence::VerifyOptions options;
  options.store_path = f.store;
  options.checkpoint_file = f.checkpoints;
  options.max_problems = static_cast<size_t>(f.max_problems);
  if (!f.certs.empty()) {
    absl::StatusOr<evidence::CheckpointVerifier> verifier =
        evidence::CheckpointVerifier::FromCertificateFiles(f.certs);
    if (!verifier.ok()) return Fail("verify", verifier.status());
    options.signatures = std::move(*verifier);
  }
  absl::StatusOr<evidence::VerifyResult> result = evidence::VerifyAuditStore(options);
  if (!result.ok()) return Fail("verify", result.status());
  const evidence::AuditChainReport& report = result->report;
  if (f.json) {
    PrintVerifyJson(f, *result);
    return report.ok() ? 0 : 1;
  }

  std::cout << "store        " << f.store << "\n";
  if (report.records == 0) {
    std::cout << "records      none\n";
  } else {
    std::cout << "records      " << report.records << " (sequence "
              << report.first_sequence << ".." << report.last_sequence << "), "
              << report.checkpoints
              << (report.checkpoints == 1 ? " checkpoint, " : " checkpoints, ")
              << result->unsealed_tail << " after the last\n";
  }
  if (!result->checkpoint_file.empty()) {
    std::cout << "checkpoints  " << result->checkpoint_file << " ("
              << result->file_checkpoints << " lines)\n";
  }
  if (options.signatures.has_value()) {
    std::cout << "signatures   " << result->signatures_verified
              << " verified with " << absl::StrJoin(f.certs, ", ") << "\n";
  }
  for (const std::string& note : result->notes) {
    std::cout << "note: " << note << "\n";
  }
  if (report.ok()) {
    std::cout << "OK: the audit log is intact\n";
    return 0;
  }
  for (const evidence::AuditProblem& p : report.problems) {
    std::cout << "PROBLEM " << p.ToString() << "\n";
  }
  uint64_t total = report.problems.size() + report.problems_not_listed;
  if (report.problems_not_listed > 0) {
    std::cout << "... and " << report.problems_not_listed
              << " more problems not listed (--max-problems)\n";
  }
  std::cout << "FAILED: " << total << (total == 1 ? " problem" : " problems")
            << ": the audit log was tampered with or damaged\n";
  return 1;
}

// --- export ------------------------------------------------------------------

struct ExportFlags {
  std::string store;
  RangeFlags range;
  uint64_t after_sequence = 0;
  std::string format = "jsonl";
  std::string output;
};

int RunExport(const ExportFlags& f) {
  absl::StatusOr<QueryInput> in = OpenForQuery(f.store, f.range);
  if (!in.ok()) return Fail("export", in.status());
  evidence::ExportQuery query;
  query.range = in->range;
  query.after_sequence = f.after_sequence;
  absl::StatusOr<uint64_t> written;
  if (f.output.empty() || f.output == "-") {
    written = evidence::ExportJsonLines(*in->store, query, std::cout);
  } else {
    std::ofstream out(f.output, std::ios::trunc);
    if (!out) {
      return Fail("export",
                  absl::UnavailableError(absl::StrCat("cannot write ", f.output)));
    }
    written = evidence::ExportJsonLines(*in->store, query, out);
    if (written.ok()) {
      std::cerr << "exported " << *written << " records to " << f.output << "\n";
    }
  }
  if (!written.ok()) return Fail("export", written.status());
  return 0;
}

// --- shared ------------------------------------------------------------------

struct SharedFlags {
  AuditSource source;
  std::string partner;
  std::string container;
  std::string vessel;
  std::string item_id;
  std::string person_pseudonym;
  RangeFlags range;
  bool json = false;
};

absl::StatusOr<std::vector<v1::AuditRecord>> FindShared(const SharedFlags& f,
                                                        const evidence::SharedQuery& query) {
  if (f.source.remote) {
    v1::SharedRequest request;
    request.set_partner(query.partner);
    request.set_container(query.container);
    request.set_vessel(query.vessel);
    request.set_item_id(query.item_id);
    request.set_person_pseudonym(query.person_pseudonym);
    *request.mutable_period() = evidence::RangeToProto(query.range);
    std::vector<v1::AuditRecord> out;
    HG_RETURN_IF_ERROR(AskGateway(f.source, [&](client::EvidenceClient& evidence) {
      HG_ASSIGN_OR_RETURN(v1::EvidenceRecords records, evidence.Shared(request));
      out.assign(records.records().begin(), records.records().end());
      return absl::OkStatus();
    }));
    return out;
  }
  HG_ASSIGN_OR_RETURN(std::unique_ptr<evidence::AuditStore> store,
                      evidence::AuditStore::Open(f.source.store));
  return evidence::FindShared(*store, query);
}

int RunShared(const SharedFlags& f) {
  if (absl::Status ok = f.source.Check(); !ok.ok()) return Fail("shared", ok);
  absl::StatusOr<evidence::TimeRange> range = f.range.Build();
  if (!range.ok()) return Fail("shared", range.status());
  evidence::SharedQuery query;
  query.partner = f.partner;
  query.container = f.container;
  query.vessel = f.vessel;
  query.item_id = f.item_id;
  // Offline, evidence::FindShared refuses it: only the gateway holds the keys.
  query.person_pseudonym = f.person_pseudonym;
  query.range = *range;
  absl::StatusOr<std::vector<v1::AuditRecord>> records = FindShared(f, query);
  if (!records.ok()) return Fail("shared", records.status());
  if (f.json) {
    PrintJsonLines(*records);
    return 0;
  }
  int decided = 0, released = 0, delivered = 0, refused = 0, expired = 0;
  std::cout << absl::StrFormat("%-19s  %-7s %-16s %-34s %-3s %-10s %s\n",
                               "TIME (UTC)", "SEQ", "EVENT", "ITEM", "V",
                               "POLICY", "DETAIL");
  for (const auto& r : *records) {
    std::string detail;
    switch (r.type()) {
      case v1::SHARE_DECIDED:
        ++decided;
        if (r.released()) ++released;
        detail = r.released() ? "released" : "not released";
        if (r.released_fields_size() > 0) {
          absl::StrAppend(&detail, "; fields: ",
                          absl::StrJoin(r.released_fields(), ", "));
        }
        if (r.transformed_fields_size() > 0) {
          absl::StrAppend(&detail, "; transformed: ",
                          absl::StrJoin(r.transformed_fields(), ", "));
        }
        if (r.withheld_fields_size() > 0) {
          absl::StrAppend(&detail, "; withheld: ",
                          absl::StrJoin(r.withheld_fields(), ", "));
        }
        if (r.protecting_rules_size() > 0) {
          absl::StrAppend(&detail, "; protected by: ",
                          absl::StrJoin(r.protecting_rules(), ", "));
        }
        if (r.matched_rules_size() > 0) {
          absl::StrAppend(&detail, "; rules: ",
                          absl::StrJoin(r.matched_rules(), ", "));
        }
        break;
      case v1::ITEM_DELIVERED:
        ++delivered;
        detail = r.detail() == "retraction" ? "retraction delivered"
                                            : "delivered";
        break;
      case v1::DELIVERY_REFUSED:
        ++refused;
        detail = absl::StrCat("refused: ", r.reason());
        break;
      default:
        ++expired;
        detail = absl::StrCat("expired: ", r.reason());
        break;
    }
    std::cout << absl::StrFormat(
        "%-19s  %-7d %-16s %-34s %-3d %-10s %s\n", When(r.recorded_at()),
        r.sequence(), v1::AuditEventType_Name(r.type()), ItemName(r.item()),
        r.item().version(), r.policy_version().empty() ? "-" : r.policy_version(),
        detail);
  }
  std::cout << "\nshared with " << f.partner
            << (f.container.empty() ? ""
                                    : absl::StrCat(" about container ", f.container))
            << (f.vessel.empty() ? "" : absl::StrCat(" about vessel ", f.vessel))
            << (f.item_id.empty() ? "" : absl::StrCat(" about item ", f.item_id))
            << (f.person_pseudonym.empty()
                    ? ""
                    : absl::StrCat(" about person ", f.person_pseudonym))
            << " " << f.range.Describe(*range) << ": " << decided
            << " decisions (" << released << " released), " << delivered
            << " delivered, " << refused << " refused, " << expired
            << " expired\n";
  if (decided == 0 && delivered > 0) {
    std::cout << "note: this log holds no share decisions (SHARE_DECIDED is "
                 "recorded once the policy engine decides sharing)\n";
  }
  return 0;
}

// --- received ----------------------------------------------------------------

struct ReceivedFlags {
  AuditSource source;
  std::string partner;
  RangeFlags range;
  bool json = false;
};

absl::StatusOr<std::vector<v1::AuditRecord>> FindReceived(const ReceivedFlags& f,
                                                          const evidence::TimeRange& range) {
  if (f.source.remote) {
    v1::ReceivedRequest request;
    request.set_partner(f.partner);
    *request.mutable_period() = evidence::RangeToProto(range);
    std::vector<v1::AuditRecord> out;
    HG_RETURN_IF_ERROR(AskGateway(f.source, [&](client::EvidenceClient& evidence) {
      HG_ASSIGN_OR_RETURN(v1::EvidenceRecords records, evidence.Received(request));
      out.assign(records.records().begin(), records.records().end());
      return absl::OkStatus();
    }));
    return out;
  }
  HG_ASSIGN_OR_RETURN(std::unique_ptr<evidence::AuditStore> store,
                      evidence::AuditStore::Open(f.source.store));
  return evidence::FindReceived(*store, f.partner, range);
}

int RunReceived(const ReceivedFlags& f) {
  if (absl::Status ok = f.source.Check(); !ok.ok()) return Fail("received", ok);
  absl::StatusOr<evidence::TimeRange> range = f.range.Build();
  if (!range.ok()) return Fail("received", range.status());
  absl::StatusOr<std::vector<v1::AuditRecord>> records = FindReceived(f, *range);
  if (!records.ok()) return Fail("received", records.status());
  if (f.json) {
    PrintJsonLines(*records);
    return 0;
  }
  std::cout << absl::StrFormat("%-19s  %-7s %-34s %-3s %s\n", "TIME (UTC)",
                               "SEQ", "ITEM", "V", "WHAT");
  int items = 0, retractions = 0;
  for (const auto& r : *records) {
    bool retraction = r.detail() == "retraction";
    (retraction ? retractions : items)++;
    std::cout << absl::StrFormat("%-19s  %-7d %-34s %-3d %s\n",
                                 When(r.recorded_at()), r.sequence(),
                                 ItemName(r.item()), r.item().version(),
                                 retraction ? "retraction" : "item");
  }
  std::cout << "\n" << f.partner << " received " << items << " items and "
            << retractions << " retractions " << f.range.Describe(*range)
            << " (acknowledged by its gateway)\n";
  return 0;
}

// --- rule --------------------------------------------------------------------

struct RuleFlags {
  AuditSource source;
  std::string field;
  std::string partner;
  RangeFlags range;
  bool json = false;
};

std::string LifecycleVerb(v1::AuditEventType type) {
  switch (type) {
    case v1::POLICY_PROPOSED:
      return "proposed";
    case v1::POLICY_APPROVED:
      return "approved";
    case v1::POLICY_ACTIVATED:
      return "activated";
    case v1::POLICY_ROLLED_BACK:
      return "rolled back";
    default:
      return "rejected";
  }
}

std::vector<std::string> SetToVector(const std::set<std::string>& set) {
  return {set.begin(), set.end()};
}

// One JSON object per policy version that released the field.
void PrintReleasesJson(const RuleFlags& f,
                       const std::vector<evidence::FieldRelease>& releases) {
  for (const evidence::FieldRelease& r : releases) {
    JsonObject outcomes;
    for (const auto& [outcome, count] : r.outcomes) {
      outcomes.Int(outcome, static_cast<int64_t>(count));
    }
    std::vector<std::string> lifecycle;
    for (const v1::AuditRecord& step : r.lifecycle) {
      lifecycle.push_back(ToJson(step, {.pretty = false}));
    }
    std::cout << JsonObject()
                     .String("field", f.field)
                     .String("policy_version", r.policy_version)
                     .Int("decisions", static_cast<int64_t>(r.decisions))
                     .Raw("first_decision", ToJson(r.first_decision, {.pretty = false}))
                     .Raw("last_decision", ToJson(r.last_decision, {.pretty = false}))
                     .Strings("partners", SetToVector(r.partners))
                     .Raw("outcomes", outcomes.str())
                     .Strings("rules", SetToVector(r.rules))
                     .Strings("protecting_rules", SetToVector(r.protecting_rules))
                     .Raw("lifecycle",
                          absl::StrCat("[", absl::StrJoin(lifecycle, ","), "]"))
                     .str()
              << "\n";
  }
}

absl::StatusOr<std::vector<evidence::FieldRelease>> FindFieldReleases(
    const RuleFlags& f, const evidence::FieldQuery& query) {
  if (f.source.remote) {
    v1::FieldReleasesRequest request;
    request.set_field(query.field);
    request.set_partner(query.partner);
    *request.mutable_period() = evidence::RangeToProto(query.range);
    std::vector<evidence::FieldRelease> out;
    HG_RETURN_IF_ERROR(AskGateway(f.source, [&](client::EvidenceClient& evidence) {
      HG_ASSIGN_OR_RETURN(v1::FieldReleasesResponse answer, evidence.FieldReleases(request));
      for (const v1::FieldRelease& r : answer.releases()) {
        out.push_back(evidence::FieldReleaseFromProto(r));
      }
      return absl::OkStatus();
    }));
    return out;
  }
  HG_ASSIGN_OR_RETURN(std::unique_ptr<evidence::AuditStore> store,
                      evidence::AuditStore::Open(f.source.store));
  return evidence::FindFieldReleases(*store, query);
}

int RunRule(const RuleFlags& f) {
  if (absl::Status ok = f.source.Check(); !ok.ok()) return Fail("rule", ok);
  absl::StatusOr<evidence::TimeRange> range = f.range.Build();
  if (!range.ok()) return Fail("rule", range.status());
  evidence::FieldQuery query;
  query.field = f.field;
  query.partner = f.partner;
  query.range = *range;
  absl::StatusOr<std::vector<evidence::FieldRelease>> releases = FindFieldReleases(f, query);
  if (!releases.ok()) return Fail("rule", releases.status());
  if (f.json) {
    PrintReleasesJson(f, *releases);
    return 0;
  }
  std::cout << "field " << f.field << " "
            << (f.partner.empty() ? "" : absl::StrCat("to ", f.partner, " "))
            << f.range.Describe(*range) << ": released under "
            << releases->size() << " policy version"
            << (releases->size() == 1 ? "" : "s") << "\n";
  for (const evidence::FieldRelease& r : *releases) {
    std::vector<std::string> how;
    for (const auto& [outcome, count] : r.outcomes) {
      how.push_back(absl::StrCat(outcome, " x", count));
    }
    std::cout << "\npolicy version "
              << (r.policy_version.empty() ? "(none recorded)" : r.policy_version)
              << "\n"
              << "  decisions  " << r.decisions << ", "
              << When(r.first_decision) << " .. " << When(r.last_decision)
              << " UTC\n"
              << "  partners   " << absl::StrJoin(r.partners, ", ") << "\n"
              << "  how        " << absl::StrJoin(how, ", ") << "\n"
              << "  rules      "
              << (r.rules.empty() ? "-" : absl::StrJoin(r.rules, ", ")) << "\n";
    if (!r.protecting_rules.empty()) {
      std::cout << "  protected  " << absl::StrJoin(r.protecting_rules, ", ")
                << " (matched, may not release this item; their withhold, "
                   "redact and transforms applied)\n";
    }
    if (r.lifecycle.empty()) {
      std::cout << "  lifecycle  not in this log: no proposal, approval or "
                   "activation of this version was recorded\n";
    }
    for (const v1::AuditRecord& step : r.lifecycle) {
      std::cout << "  " << absl::StrFormat("%-10s", LifecycleVerb(step.type()))
                << " " << (step.actor().empty() ? "-" : step.actor()) << " at "
                << When(step.recorded_at()) << " UTC (record "
                << step.sequence() << ")"
                << (step.detail().empty() ? ""
                                          : absl::StrCat(": ", step.detail()))
                << "\n";
    }
  }
  return 0;
}

// --- status, extract (remote only) ------------------------------------------

struct StatusFlags {
  ConnectionFlags connection;
  bool json = false;
};

int RunStatus(const StatusFlags& f) {
  AuditSource source;
  source.remote = true;
  source.connection = f.connection;
  v1::ChainStatusResponse status;
  absl::Status asked = AskGateway(source, [&](client::EvidenceClient& evidence) {
    HG_ASSIGN_OR_RETURN(status, evidence.ChainStatus());
    return absl::OkStatus();
  });
  if (!asked.ok()) return Fail("status", asked);
  if (f.json) {
    std::cout << ToJson(status) << "\n";
    return status.ok() ? 0 : 1;
  }
  std::cout << "records      " << status.records() << ", last " << status.last_sequence()
            << " at " << When(status.last_recorded_at()) << " UTC\n"
            << "checkpoints  " << status.checkpoints();
  if (status.has_last_checkpoint()) {
    std::cout << ", last at record " << status.last_checkpoint().sequence() << " ("
              << When(status.last_checkpoint().recorded_at()) << " UTC), signature "
              << (status.last_checkpoint_signature_valid() ? "valid" : "NOT VALID");
  }
  std::cout << "; " << status.unsealed_tail() << " records after it\n";
  for (const std::string& note : status.notes()) std::cout << "note: " << note << "\n";
  for (const std::string& problem : status.problems()) {
    std::cout << "PROBLEM " << problem << "\n";
  }
  std::cout << (status.ok() ? "OK: the audit log is intact\n"
                            : "FAILED: the audit log was tampered with or damaged\n");
  return status.ok() ? 0 : 1;
}

struct ExtractFlags {
  ConnectionFlags connection;
  RangeFlags range;
  std::string output;
};

int RunExtract(const ExtractFlags& f) {
  absl::StatusOr<evidence::TimeRange> range = f.range.Build();
  if (!range.ok()) return Fail("extract", range.status());
  AuditSource source;
  source.remote = true;
  source.connection = f.connection;
  v1::ExtractRequest request;
  *request.mutable_period() = evidence::RangeToProto(*range);
  v1::ExtractResponse extract;
  absl::Status asked = AskGateway(source, [&](client::EvidenceClient& evidence) {
    HG_ASSIGN_OR_RETURN(extract, evidence.Extract(request));
    return absl::OkStatus();
  });
  if (!asked.ok()) return Fail("extract", asked);
  if (f.output.empty() || f.output == "-") {
    std::cout << ToJson(extract) << "\n";
    return 0;
  }
  std::ofstream out(f.output, std::ios::trunc);
  out << ToJson(extract) << "\n";
  if (!out) return Fail("extract", absl::UnavailableError(absl::StrCat("cannot write ", f.output)));
  std::cerr << "extracted " << extract.records_size() << " records to " << f.output << "\n";
  return 0;
}

}  // namespace

void RegisterAuditCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* audit_cmd = app.add_subcommand(
      "audit",
      "verify a gateway's audit log and ask it questions (offline, on the "
      "store file, read-only; or with --remote, of the running gateway)");
  audit_cmd->require_subcommand(1);
  RegisterAuditRequestsCommand(*audit_cmd, run);

  {
    auto* cmd = audit_cmd->add_subcommand(
        "verify",
        "check the hash chain, the checkpoint signatures and the checkpoint "
        "file; exit 1 and name each problem and its place if anything was "
        "changed, removed, inserted, reordered or cut off");
    auto f = std::make_shared<VerifyFlags>();
    cmd->add_option("--store", f->store, "the gateway's store file (a copy will do)")
        ->required();
    cmd->add_option("--checkpoints", f->checkpoints,
                    "the checkpoint file (default: <store>.checkpoints if present)");
    cmd->add_option("--cert", f->certs,
                    "the gateway's certificate, to check checkpoint signatures "
                    "(repeatable: older certificates after key rotation)");
    cmd->add_option("--max-problems", f->max_problems,
                    "list at most this many problems (default 1000)")
        ->check(CLI::Range(1, 10000000));
    cmd->add_flag("--json", f->json,
                  "one JSON object: store, ok, records, first_sequence, "
                  "last_sequence, checkpoints, unsealed_tail, checkpoint_file, "
                  "file_checkpoints, signatures_verified, notes, problems "
                  "[{kind, first_sequence, last_sequence, record_type, detail}], "
                  "problems_not_listed");
    cmd->callback([&run, f] { run = [f] { return RunVerify(*f); }; });
  }
  {
    auto* cmd = audit_cmd->add_subcommand(
        "export", "write audit records as JSON lines, e.g. for a SIEM");
    auto f = std::make_shared<ExportFlags>();
    cmd->add_option("--store", f->store, "the gateway's store file")->required();
    f->range.AddTo(*cmd);
    cmd->add_option("--after-sequence", f->after_sequence,
                    "only records after this sequence (incremental feeds)");
    cmd->add_option("--format", f->format, "output format (jsonl)")
        ->check(CLI::IsMember({"jsonl"}));
    cmd->add_option("-o,--output", f->output, "write here instead of standard output");
    cmd->callback([&run, f] { run = [f] { return RunExport(*f); }; });
  }
  {
    auto* cmd = audit_cmd->add_subcommand(
        "shared",
        "what this gateway shared with a partner (decisions and deliveries), "
        "optionally only about one container, vessel, person pseudonym or item");
    auto f = std::make_shared<SharedFlags>();
    f->source.AddTo(*cmd);
    cmd->add_option("--partner", f->partner, "partner organisation id")->required();
    auto* container = cmd->add_option("--container", f->container,
                                      "only items that list this container number");
    auto* vessel = cmd->add_option("--vessel", f->vessel,
                                   "only items that list this vessel (IMO number or name)");
    auto* item = cmd->add_option("--item", f->item_id, "only this item id");
    auto* person = cmd->add_option(
        "--pseudonym", f->person_pseudonym,
        "only items holding a person the partner received as this code (ps:...); "
        "with --remote only: the gateway recomputes the codes with its policy keys");
    container->excludes(vessel)->excludes(item)->excludes(person);
    vessel->excludes(item)->excludes(person);
    item->excludes(person);
    f->range.AddTo(*cmd);
    cmd->add_flag("--json", f->json, "the audit records as JSON lines");
    cmd->callback([&run, f] { run = [f] { return RunShared(*f); }; });
  }
  {
    auto* cmd = audit_cmd->add_subcommand(
        "received",
        "every item and retraction a partner's gateway received from this "
        "gateway in a period");
    auto f = std::make_shared<ReceivedFlags>();
    f->source.AddTo(*cmd);
    cmd->add_option("--partner", f->partner, "partner organisation id")->required();
    f->range.AddTo(*cmd);
    cmd->add_flag("--json", f->json, "the audit records as JSON lines");
    cmd->callback([&run, f] { run = [f] { return RunReceived(*f); }; });
  }
  {
    auto* cmd = audit_cmd->add_subcommand(
        "rule",
        "which policy versions and rules released a body field, to whom, and "
        "who proposed, approved and activated those versions");
    auto f = std::make_shared<RuleFlags>();
    f->source.AddTo(*cmd);
    cmd->add_option("--field", f->field,
                    "body field path, e.g. containers.number or persons.name")
        ->required();
    cmd->add_option("--partner", f->partner, "only releases to this partner");
    f->range.AddTo(*cmd);
    cmd->add_flag("--json", f->json,
                  "one JSON object per policy version and line: field, "
                  "policy_version, decisions, first_decision, last_decision, "
                  "partners, outcomes {outcome: count}, rules, protecting_rules, "
                  "lifecycle [audit records]");
    cmd->callback([&run, f] { run = [f] { return RunRule(*f); }; });
  }
  {
    auto* cmd = audit_cmd->add_subcommand(
        "status",
        "ask the running gateway for its audit chain's state: verified up to "
        "which record, the last signed checkpoint and whether its signature "
        "verifies (exit 1 if anything does not)");
    auto f = std::make_shared<StatusFlags>();
    f->connection.AddTo(*cmd);
    cmd->add_flag("--json", f->json, "the gateway's ChainStatusResponse as JSON");
    cmd->callback([&run, f] { run = [f] { return RunStatus(*f); }; });
  }
  {
    auto* cmd = audit_cmd->add_subcommand(
        "extract",
        "a signed extract from the running gateway for an oversight body: the "
        "records of a period, the signed checkpoint that seals them and the "
        "gateway's certificate, as one JSON document");
    auto f = std::make_shared<ExtractFlags>();
    f->connection.AddTo(*cmd);
    f->range.AddTo(*cmd);
    cmd->add_option("-o,--output", f->output, "write here instead of standard output");
    cmd->callback([&run, f] { run = [f] { return RunExtract(*f); }; });
  }
}

}  // namespace havengate::havenctl
