// `havenctl policy ...` commands that talk to the gateway's PolicyAdmin
// service with an officer certificate: propose, approve (another officer),
// activate, roll back, read the history; and the `--remote` forms of
// validate, preview and diff (policy_remote.h).
#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "client/havenctl/policy_remote.h"
#include "client/policy_admin_client.h"
#include "policy/diff.h"
#include "proto/json.h"
#include "proto/timestamp.h"

namespace havengate::havenctl {
namespace {

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", FromTimestamp(t),
                          absl::UTCTimeZone());
}

void PrintProposal(const v1::PolicyProposal& p) {
  std::cout << "proposal " << p.id() << "  version " << p.version() << "  "
            << v1::PolicyProposal::State_Name(p.state()) << "  " << p.digest()
            << "\n  proposed  " << FormatTime(p.proposed_at()) << " by "
            << p.proposed_by();
  if (!p.comment().empty()) std::cout << ": " << p.comment();
  std::cout << "\n";
  if (!p.approved_by().empty()) {
    std::cout << "  approved  " << FormatTime(p.approved_at()) << " by "
              << p.approved_by();
    if (!p.approval_comment().empty()) std::cout << ": " << p.approval_comment();
    std::cout << "\n";
  }
  if (!p.activated_by().empty()) {
    std::cout << "  activated " << FormatTime(p.activated_at()) << " by "
              << p.activated_by() << "\n";
  }
}

// Connects with the officer's certificate and runs `body`; prints a failure
// as "havenctl policy NAME: CODE: message" and exits 1.
template <typename Body>
int RunAdmin(const ConnectionFlags& connection, absl::string_view name, Body body) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected = connection.Connect();
  if (!connected.ok()) {
    std::cerr << "havenctl policy " << name << ": " << connected.status().message() << "\n";
    return 1;
  }
  client::PolicyAdminClient admin(**connected);
  absl::Status status = body(admin);
  if (!status.ok()) {
    std::cerr << "havenctl policy " << name << ": "
              << absl::StatusCodeToString(status.code()) << ": " << status.message()
              << "\n";
    return 1;
  }
  return 0;
}

// What every command here shares: the connection and one way to fail.
struct AdminCommand {
  ConnectionFlags connection;

  template <typename Body>
  int Run(absl::string_view name, Body body) const {
    return RunAdmin(connection, name, std::move(body));
  }

  // A lifecycle step whose answer is the proposal: prints it.
  int RunStep(absl::string_view name,
              const std::function<absl::StatusOr<v1::PolicyProposal>(
                  client::PolicyAdminClient&)>& step) const {
    return Run(name, [&](client::PolicyAdminClient& admin) -> absl::Status {
      absl::StatusOr<v1::PolicyProposal> p = step(admin);
      if (!p.ok()) return p.status();
      PrintProposal(*p);
      return absl::OkStatus();
    });
  }
};

absl::StatusOr<google::protobuf::Timestamp> ParseTimestamp(absl::string_view flag,
                                                          const std::string& text) {
  absl::StatusOr<absl::Time> t = ParseTimeArgument(text);
  if (!t.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", t.status().message()));
  }
  return ToTimestamp(*t);
}

// "now receives 2 items, receives 12 items differently"
std::string SummaryLine(const v1::PartnerImpactSummary& s) {
  std::vector<std::string> parts;
  auto items = [](uint32_t n) { return absl::StrCat(n, n == 1 ? " item" : " items"); };
  if (s.items_gained() > 0) parts.push_back(absl::StrCat("now receives ", items(s.items_gained())));
  if (s.items_lost() > 0) {
    parts.push_back(absl::StrCat("NO LONGER RECEIVES ", items(s.items_lost())));
  }
  if (s.items_changed() > 0) {
    parts.push_back(absl::StrCat("receives ", items(s.items_changed()), " differently"));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

void RemoteFlags::AddTo(CLI::App& cmd) {
  cmd.add_flag("--remote", enabled,
               "Ask the gateway (PolicyAdmin, with an officer certificate): its own "
               "checks, its stored items");
  auto* proposal_option = cmd.add_option(
      "--proposal", proposal, "With --remote: a stored proposal's id instead of a file");
  auto* version_option = cmd.add_option(
      "--version", version, "With --remote: a version label of the gateway's history "
                            "instead of a file");
  proposal_option->excludes(version_option);
  version_option->excludes(proposal_option);
  connection.AddTo(cmd);
}

absl::StatusOr<v1::PolicyCandidate> RemoteFlags::Candidate(const std::string& file) const {
  v1::PolicyCandidate candidate;
  if (!proposal.empty()) {
    candidate.set_proposal_id(proposal);
  } else if (!version.empty()) {
    candidate.set_version(version);
  } else if (!file.empty()) {
    absl::StatusOr<std::string> text = ReadText(file);
    if (!text.ok()) return text.status();
    candidate.set_policy_text(*std::move(text));
  } else {
    return absl::InvalidArgumentError("give a policy file, --proposal ID or --version LABEL");
  }
  return candidate;
}

int RunRemoteValidate(const RemoteFlags& remote, const std::string& file,
                      bool json) {
  bool valid = false;
  int code = RunAdmin(remote.connection, "validate",
                      [&](client::PolicyAdminClient& admin) -> absl::Status {
    absl::StatusOr<v1::PolicyCandidate> candidate = remote.Candidate(file);
    if (!candidate.ok()) return candidate.status();
    absl::StatusOr<v1::ValidatePolicyResponse> report = admin.Validate(*candidate);
    if (!report.ok()) return report.status();
    valid = report->valid();
    if (json) {
      std::cout << ToJson(*report, {.pretty = false}) << "\n";
      return absl::OkStatus();
    }
    for (const v1::PolicyDiagnostic& d : report->diagnostics()) {
      std::cout << d.text() << "\n";
    }
    std::cout << (valid ? absl::StrCat("valid for this gateway: version ", report->version())
                        : std::string("not valid: it would never be activated"))
              << "\n";
    return absl::OkStatus();
  });
  return code != 0 ? code : (valid ? 0 : 1);
}

int PrintPreview(const v1::PreviewPolicyResponse& preview,
                 const PreviewPrintOptions& print) {
  if (!print.partner.empty()) {
    std::vector<std::string> partners;
    for (const v1::PartnerView& view : preview.partners()) partners.push_back(view.partner());
    if (std::find(partners.begin(), partners.end(), print.partner) == partners.end()) {
      std::cerr << "havenctl policy preview: `" << print.partner
                << "` is not a partner of policy " << preview.policy_version()
                << " (partners: " << absl::StrJoin(partners, ", ") << ")\n";
      return 2;
    }
  }
  std::vector<std::string> json_partners;
  for (const v1::PartnerView& view : preview.partners()) {
    if (!print.partner.empty() && view.partner() != print.partner) continue;
    if (print.json) {
      std::vector<std::string> rules;
      for (const std::string& r : view.matched_rules()) rules.push_back(JsonQuote(r));
      std::vector<std::string> protecting;
      for (const std::string& r : view.protecting_rules()) {
        protecting.push_back(JsonQuote(r));
      }
      std::string entry = absl::StrCat(
          "{\"partner\":", JsonQuote(view.partner()),
          ",\"released\":", view.released() ? "true" : "false",
          ",\"reason\":", JsonQuote(view.reason()),
          ",\"matched_rules\":[", absl::StrJoin(rules, ","), "]",
          ",\"protecting_rules\":[", absl::StrJoin(protecting, ","), "]");
      if (view.released()) {
        absl::StrAppend(&entry, ",\"item\":", ToJson(view.item(), {.pretty = false}));
      }
      if (!view.explanation().empty()) {
        absl::StrAppend(&entry, ",\"explanation\":", JsonQuote(view.explanation()));
      }
      json_partners.push_back(entry + "}");
      continue;
    }
    std::cout << "== " << view.partner() << ": " << view.reason() << "\n";
    if (view.released()) std::cout << ToJson(view.item()) << "\n";
    std::cout << view.explanation();
  }
  if (print.json) {
    std::cout << "{\"policy_version\":" << JsonQuote(preview.policy_version())
              << ",\"partners\":[" << absl::StrJoin(json_partners, ",") << "]}\n";
  }
  return 0;
}

int RunRemotePreview(const RemoteFlags& remote, const std::string& file, bool active,
                     const v1::PreviewPolicyRequest& request,
                     const PreviewPrintOptions& print) {
  int printed = 0;
  int code = RunAdmin(remote.connection, "preview",
                      [&](client::PolicyAdminClient& admin) -> absl::Status {
    v1::PreviewPolicyRequest ask = request;
    if (!active) {
      absl::StatusOr<v1::PolicyCandidate> candidate = remote.Candidate(file);
      if (!candidate.ok()) return candidate.status();
      *ask.mutable_candidate() = *std::move(candidate);
    }
    absl::StatusOr<v1::PreviewPolicyResponse> preview = admin.Preview(ask);
    if (!preview.ok()) return preview.status();
    printed = PrintPreview(*preview, print);
    return absl::OkStatus();
  });
  return code != 0 ? code : printed;
}

int RunRemoteDiff(const RemoteFlags& remote, const std::string& file,
                  const RemoteDiffFlags& flags) {
  bool changed = false;
  int code = RunAdmin(remote.connection, "diff",
                      [&](client::PolicyAdminClient& admin) -> absl::Status {
    v1::DiffPolicyRequest request;
    absl::StatusOr<v1::PolicyCandidate> candidate = remote.Candidate(file);
    if (!candidate.ok()) return candidate.status();
    *request.mutable_candidate() = *std::move(candidate);
    if (!flags.base_version.empty()) request.mutable_base()->set_version(flags.base_version);
    if (!flags.since.empty()) {
      absl::StatusOr<google::protobuf::Timestamp> t = ParseTimestamp("--since", flags.since);
      if (!t.ok()) return t.status();
      *request.mutable_since() = *t;
    }
    if (!flags.until.empty()) {
      absl::StatusOr<google::protobuf::Timestamp> t = ParseTimestamp("--until", flags.until);
      if (!t.ok()) return t.status();
      *request.mutable_until() = *t;
    }
    request.set_max_items(flags.max_items);
    absl::StatusOr<v1::DiffPolicyResponse> diff = admin.Diff(request);
    if (!diff.ok()) return diff.status();
    changed = !diff->changes().empty();
    if (flags.json) {
      std::cout << ToJson(*diff, {.pretty = false}) << "\n";
      return absl::OkStatus();
    }
    std::cout << "policy " << diff->base_version() << " -> " << diff->candidate_version()
              << ": " << diff->items_compared() << " stored items compared"
              << (diff->truncated() ? " (more were stored in the period; raise --max-items)"
                                    : "")
              << "\n";
    if (diff->partners().empty()) std::cout << "no partner's view of these items changes\n";
    for (const v1::PartnerImpactSummary& s : diff->partners()) {
      std::cout << "== " << s.partner() << ": " << SummaryLine(s) << "\n";
      for (const std::string& f : s.gained()) std::cout << "  + " << f << "\n";
      for (const std::string& f : s.lost()) std::cout << "  - " << f << "\n";
      for (const std::string& f : s.changed()) std::cout << "  ~ " << f << "\n";
    }
    if (flags.items && !diff->changes().empty()) {
      policy::PolicyDiff items;
      for (const v1::PartnerImpact& c : diff->changes()) {
        policy::PartnerChange& change = items.changes.emplace_back();
        change.item = c.item();
        change.partner = c.partner();
        change.received_before = c.received_before();
        change.received_after = c.received_after();
        change.gained.assign(c.gained().begin(), c.gained().end());
        change.lost.assign(c.lost().begin(), c.lost().end());
        change.changed.assign(c.changed().begin(), c.changed().end());
      }
      std::cout << "item by item:\n" << items.ChangesToString();
    }
    changed = !diff->changes().empty();
    return absl::OkStatus();
  });
  return code != 0 ? code : (flags.exit_code && changed ? 1 : 0);
}

namespace {

struct ProposeFlags : AdminCommand {
  std::string file, comment;
};

struct DecideFlags : AdminCommand {
  std::string id, comment;
};

struct HistoryFlags : AdminCommand {
  bool json = false;
  bool text = false;
};

}  // namespace

void RegisterPolicyAdminCommands(CLI::App& policy_cmd, CommandRunner& run) {
  const char* officer_note = " (at the gateway; needs an officer certificate)";
  {
    auto* cmd = policy_cmd.add_subcommand(
        "propose", absl::StrCat("Store a candidate for another officer's approval",
                                officer_note));
    auto f = std::make_shared<ProposeFlags>();
    cmd->add_option("policy", f->file, "Candidate policy file")->required();
    cmd->add_option("--comment", f->comment, "Why the policy changes")->required();
    f->connection.AddTo(*cmd);
    cmd->callback([&run, f] {
      run = [f] {
        return f->Run("propose", [&](client::PolicyAdminClient& admin) -> absl::Status {
          absl::StatusOr<std::string> text = ReadText(f->file);
          if (!text.ok()) return text.status();
          absl::StatusOr<v1::PolicyProposal> p = admin.Propose(*text, f->comment);
          if (!p.ok()) return p.status();
          PrintProposal(*p);
          std::cout << "another officer approves it with: havenctl policy approve "
                    << p->id() << "\n";
          return absl::OkStatus();
        });
      };
    });
  }
  {
    auto* cmd = policy_cmd.add_subcommand(
        "approve", absl::StrCat("Approve another officer's proposal (four eyes)",
                                officer_note));
    auto f = std::make_shared<DecideFlags>();
    cmd->add_option("proposal", f->id, "Proposal id")->required();
    cmd->add_option("--comment", f->comment, "What was checked");
    f->connection.AddTo(*cmd);
    cmd->callback([&run, f] {
      run = [f] {
        return f->RunStep("approve", [&](client::PolicyAdminClient& admin) {
          return admin.Approve(f->id, f->comment);
        });
      };
    });
  }
  {
    auto* cmd = policy_cmd.add_subcommand(
        "activate", absl::StrCat("Make an approved proposal the active policy",
                                 officer_note));
    auto f = std::make_shared<DecideFlags>();
    cmd->add_option("proposal", f->id, "Proposal id")->required();
    f->connection.AddTo(*cmd);
    cmd->callback([&run, f] {
      run = [f] {
        return f->RunStep("activate", [&](client::PolicyAdminClient& admin) {
          return admin.Activate(f->id);
        });
      };
    });
  }
  {
    auto* cmd = policy_cmd.add_subcommand(
        "rollback", absl::StrCat("Make an earlier active version active again",
                                 officer_note));
    auto f = std::make_shared<DecideFlags>();
    cmd->add_option("version", f->id, "Version label that was active before")->required();
    cmd->add_option("--comment", f->comment, "Why")->required();
    f->connection.AddTo(*cmd);
    cmd->callback([&run, f] {
      run = [f] {
        return f->RunStep("rollback", [&](client::PolicyAdminClient& admin) {
          return admin.Rollback(f->id, f->comment);
        });
      };
    });
  }
  {
    auto* cmd = policy_cmd.add_subcommand(
        "history", absl::StrCat("Every proposal and every version that was active, "
                                "newest first",
                                officer_note));
    auto f = std::make_shared<HistoryFlags>();
    cmd->add_flag("--json", f->json, "One JSON object per line");
    cmd->add_flag("--text", f->text, "Include each policy's text (with --json)");
    f->connection.AddTo(*cmd);
    cmd->callback([&run, f] {
      run = [f] {
        return f->Run("history", [&](client::PolicyAdminClient& admin) -> absl::Status {
          absl::StatusOr<v1::PolicyHistoryResponse> history = admin.History(f->text);
          if (!history.ok()) return history.status();
          for (const v1::PolicyProposal& p : history->proposals()) {
            if (f->json) {
              std::cout << ToJson(p, {.pretty = false}) << "\n";
            } else {
              PrintProposal(p);
            }
          }
          return absl::OkStatus();
        });
      };
    });
  }
}

}  // namespace havengate::havenctl
