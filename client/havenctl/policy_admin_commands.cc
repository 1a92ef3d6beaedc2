// `havenctl policy ...` commands that talk to the gateway's PolicyAdmin
// service with an officer certificate: validate and measure the impact of
// a candidate at the gateway, then propose, approve (another officer),
// activate, roll back, and read the history.
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/connection_flags.h"
#include "client/policy_admin_client.h"
#include "proto/json.h"
#include "server/audit/queries.h"

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
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
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

// What every command here shares: the connection and one way to fail.
struct AdminCommand {
  ConnectionFlags connection;

  template <typename Body>
  int Run(absl::string_view name, Body body) const {
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
};

// A candidate named by a file or a stored proposal.
struct CandidateFlags {
  std::string file;
  std::string proposal;

  void AddTo(CLI::App& cmd) {
    auto* file_option = cmd.add_option("policy", file, "Candidate policy file (YAML or JSON)");
    auto* proposal_option =
        cmd.add_option("--proposal", proposal, "A stored proposal's id instead of a file");
    file_option->excludes(proposal_option);
    proposal_option->excludes(file_option);
  }

  absl::StatusOr<v1::PolicyCandidate> Build() const {
    v1::PolicyCandidate candidate;
    if (!proposal.empty()) {
      candidate.set_proposal_id(proposal);
    } else if (!file.empty()) {
      absl::StatusOr<std::string> text = ReadText(file);
      if (!text.ok()) return text.status();
      candidate.set_policy_text(*std::move(text));
    } else {
      return absl::InvalidArgumentError("give a policy file or --proposal ID");
    }
    return candidate;
  }
};

struct ValidateFlags : AdminCommand {
  CandidateFlags candidate;
};

int RunValidate(const ValidateFlags& f) {
  bool valid = false;
  int code = f.Run("validate", [&](client::PolicyAdminClient& admin) -> absl::Status {
    absl::StatusOr<v1::PolicyCandidate> candidate = f.candidate.Build();
    if (!candidate.ok()) return candidate.status();
    absl::StatusOr<v1::ValidatePolicyResponse> report = admin.Validate(*candidate);
    if (!report.ok()) return report.status();
    for (const v1::PolicyDiagnostic& d : report->diagnostics()) {
      std::cout << d.text() << "\n";
    }
    valid = report->valid();
    std::cout << (valid ? absl::StrCat("valid for this gateway: version ", report->version())
                        : std::string("not valid: it would never be activated"))
              << "\n";
    return absl::OkStatus();
  });
  return code != 0 ? code : (valid ? 0 : 1);
}

struct ImpactFlags : AdminCommand {
  CandidateFlags candidate;
  std::string since, until;
  uint32_t max_items = 0;
  bool exit_code = false;
};

int RunImpact(const ImpactFlags& f) {
  bool changed = false;
  int code = f.Run("impact", [&](client::PolicyAdminClient& admin) -> absl::Status {
    v1::DiffPolicyRequest request;
    absl::StatusOr<v1::PolicyCandidate> candidate = f.candidate.Build();
    if (!candidate.ok()) return candidate.status();
    *request.mutable_candidate() = *std::move(candidate);
    for (const auto& [text, field] :
         {std::make_pair(&f.since, &v1::DiffPolicyRequest::mutable_since),
          std::make_pair(&f.until, &v1::DiffPolicyRequest::mutable_until)}) {
      if (text->empty()) continue;
      absl::StatusOr<absl::Time> t = audit::ParseTimeArgument(*text);
      if (!t.ok()) return t.status();
      (request.*field)()->set_seconds(absl::ToUnixSeconds(*t));
    }
    request.set_max_items(f.max_items);
    absl::StatusOr<v1::DiffPolicyResponse> diff = admin.Diff(request);
    if (!diff.ok()) return diff.status();
    std::cout << "active " << diff->active_version() << " -> candidate "
              << diff->candidate_version() << ": " << diff->items_compared()
              << " stored items compared"
              << (diff->truncated() ? " (more were stored; raise --max-items)" : "")
              << "\n";
    if (diff->changes().empty()) std::cout << "no partner's view changes\n";
    for (const v1::PartnerImpact& c : diff->changes()) {
      std::cout << "== " << c.item() << " -> " << c.partner() << ": ";
      if (c.received_before() != c.received_after()) {
        std::cout << (c.received_after() ? "newly receives the item" : "no longer receives the item");
      } else {
        std::cout << "receives it differently";
      }
      std::cout << "\n";
      if (!c.gained().empty()) std::cout << "  gains   " << absl::StrJoin(c.gained(), ", ") << "\n";
      if (!c.lost().empty()) std::cout << "  loses   " << absl::StrJoin(c.lost(), ", ") << "\n";
      if (!c.changed().empty()) std::cout << "  changes " << absl::StrJoin(c.changed(), "; ") << "\n";
    }
    changed = !diff->changes().empty();
    return absl::OkStatus();
  });
  return code != 0 ? code : (f.exit_code && changed ? 1 : 0);
}

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
        "validate", absl::StrCat("Check a candidate with the gateway's own checks: "
                                 "errors, warnings, organisation, partners, key files",
                                 officer_note));
    auto f = std::make_shared<ValidateFlags>();
    f->candidate.AddTo(*cmd);
    f->connection.AddTo(*cmd);
    cmd->callback([&run, f] { run = [f] { return RunValidate(*f); }; });
  }
  {
    auto* cmd = policy_cmd.add_subcommand(
        "impact", absl::StrCat("Which partners would gain or lose which fields of the "
                               "items the gateway stored in a period, if a candidate "
                               "replaced the active policy",
                               officer_note));
    auto f = std::make_shared<ImpactFlags>();
    f->candidate.AddTo(*cmd);
    cmd->add_option("--since", f->since, "Items stored from (2026-11-01 or RFC 3339)");
    cmd->add_option("--until", f->until, "Items stored before");
    cmd->add_option("--max-items", f->max_items, "At most this many items (default 10000)");
    cmd->add_flag("--exit-code", f->exit_code, "Exit 1 if any partner's view changes");
    f->connection.AddTo(*cmd);
    cmd->callback([&run, f] { run = [f] { return RunImpact(*f); }; });
  }
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
        return f->Run("approve", [&](client::PolicyAdminClient& admin) -> absl::Status {
          absl::StatusOr<v1::PolicyProposal> p = admin.Approve(f->id, f->comment);
          if (!p.ok()) return p.status();
          PrintProposal(*p);
          return absl::OkStatus();
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
        return f->Run("activate", [&](client::PolicyAdminClient& admin) -> absl::Status {
          absl::StatusOr<v1::PolicyProposal> p = admin.Activate(f->id);
          if (!p.ok()) return p.status();
          PrintProposal(*p);
          return absl::OkStatus();
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
        return f->Run("rollback", [&](client::PolicyAdminClient& admin) -> absl::Status {
          absl::StatusOr<v1::PolicyProposal> p = admin.Rollback(f->id, f->comment);
          if (!p.ok()) return p.status();
          PrintProposal(*p);
          return absl::OkStatus();
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
