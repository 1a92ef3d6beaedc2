// `havenctl policy ...`: the policy officers' offline tools (no gateway
// needed) — check a policy, preview what each partner would receive of an
// item and why, run a policy's tests, see the impact of a change, and set
// up key files on a new machine. A thin shell over havengate::policy.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/havenctl/commands.h"
#include "policy/diff.h"
#include "policy/policy.h"
#include "policy/policy_tests.h"
#include "policy/yaml_reader.h"
#include "proto/item_validation.h"
#include "proto/json.h"

namespace havengate::havenctl {
namespace {

using policy::CompiledPolicy;
using policy::Diagnostic;

// Loads a policy, printing its diagnostics; nullptr after printing errors.
std::shared_ptr<const CompiledPolicy> Load(const std::string& path, bool show_warnings) {
  std::vector<Diagnostic> diagnostics;
  auto loaded = policy::LoadPolicyFile(path, &diagnostics);
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == Diagnostic::Severity::kError || show_warnings) {
      std::cerr << d.ToString() << "\n";
    }
  }
  if (!loaded.ok()) {
    std::cerr << "havenctl policy: " << loaded.status().message() << "\n";
    return nullptr;
  }
  return *loaded;
}

absl::StatusOr<v1::Item> ReadItem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open item file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<v1::Item> item = ParseJsonAs<v1::Item>(buffer.str());
  if (!item.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", item.status().message()));
  }
  // An invalid item would be refused by a gateway; still worth previewing,
  // so only warn.
  if (absl::Status valid = ValidateItem(*item); !valid.ok()) {
    std::cerr << "warning: " << path << " would not pass ingest validation: "
              << valid.message() << "\n";
  }
  return item;
}

std::string Plural(size_t n, absl::string_view one) {
  return absl::StrCat(n, " ", one, n == 1 ? "" : "s");
}

struct CheckFlags {
  std::string policy;
};

int RunCheck(const CheckFlags& f) {
  std::vector<Diagnostic> diagnostics;
  auto loaded = policy::LoadPolicyFile(f.policy, &diagnostics);
  std::cout << policy::FormatDiagnostics(diagnostics);
  int errors = policy::Count(diagnostics, Diagnostic::Severity::kError);
  int warnings = policy::Count(diagnostics, Diagnostic::Severity::kWarning);
  if (!loaded.ok()) {
    if (errors == 0) std::cout << loaded.status().message() << "\n";
    std::cout << f.policy << ": " << Plural(errors, "error") << ", "
              << Plural(warnings, "warning") << "; the policy cannot be used\n";
    return 1;
  }
  const CompiledPolicy& p = **loaded;
  std::cout << f.policy << ": OK: policy of " << p.organisation() << ", version "
            << p.version() << ", " << Plural(p.partners().size(), "partner") << ", "
            << Plural(p.source().rules_size(), "rule") << ", " << Plural(warnings, "warning")
            << "\n";
  return 0;
}

struct PreviewFlags {
  std::string policy;
  std::string item;
  std::string partner;
  bool explain = false;
  bool json = false;
  bool received = false;
};

int RunPreview(const PreviewFlags& f) {
  auto p = Load(f.policy, false);
  if (p == nullptr) return 1;
  absl::StatusOr<v1::Item> item = ReadItem(f.item);
  if (!item.ok()) {
    std::cerr << "havenctl policy preview: " << item.status().message() << "\n";
    return 1;
  }
  if (!f.partner.empty() &&
      std::find(p->partners().begin(), p->partners().end(), f.partner) == p->partners().end()) {
    std::cerr << "havenctl policy preview: `" << f.partner << "` is not a partner in "
              << f.policy << " (partners: " << absl::StrJoin(p->partners(), ", ") << ")\n";
    return 2;
  }
  policy::DecideOptions options;
  options.explain = f.explain;
  options.received_from_partner = f.received;
  policy::Decision decision = p->Decide(*item, options);
  std::vector<std::string> json_partners;
  for (const policy::PartnerDecision& d : decision.partners) {
    if (!f.partner.empty() && d.partner != f.partner) continue;
    if (f.json) {
      std::vector<std::string> rules;
      for (absl::string_view r : d.matched_rules) rules.push_back(policy::JsonQuote(r));
      std::string entry = absl::StrCat(
          "{\"partner\":", policy::JsonQuote(d.partner),
          ",\"released\":", d.released ? "true" : "false",
          ",\"reason\":", policy::JsonQuote(policy::DecisionReasonText(d.reason)),
          ",\"matched_rules\":[", absl::StrJoin(rules, ","), "]");
      if (d.released) absl::StrAppend(&entry, ",\"item\":", ToJson(d.projected, {.pretty = false}));
      if (d.explanation != nullptr) {
        absl::StrAppend(&entry, ",\"explanation\":", policy::JsonQuote(d.explanation->ToString()));
      }
      json_partners.push_back(entry + "}");
      continue;
    }
    std::cout << "== " << d.partner << ": " << policy::DecisionReasonText(d.reason) << "\n";
    if (d.released) std::cout << ToJson(d.projected) << "\n";
    if (d.explanation != nullptr) std::cout << d.explanation->ToString();
  }
  if (f.json) {
    std::cout << "{\"policy_version\":" << policy::JsonQuote(decision.policy_version)
              << ",\"partners\":[" << absl::StrJoin(json_partners, ",") << "]}\n";
  }
  return 0;
}

struct TestFlags {
  std::string policy;
  std::string tests;
};

int RunTests(const TestFlags& f) {
  auto p = Load(f.policy, false);
  if (p == nullptr) return 1;
  std::vector<Diagnostic> diagnostics;
  auto suite = policy::LoadPolicyTestsFile(f.tests, &diagnostics);
  for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
  if (!suite.ok()) {
    std::cerr << "havenctl policy test: " << suite.status().message() << "\n";
    return 1;
  }
  policy::TestReport report = policy::RunPolicyTests(*p, *suite);
  std::cout << report.ToString();
  return report.failed() == 0 ? 0 : 1;
}

struct DiffFlags {
  std::string old_policy;
  std::string new_policy;
  std::vector<std::string> items;
  bool received = false;
  bool exit_code = false;
};

int RunDiff(const DiffFlags& f) {
  auto before = Load(f.old_policy, false);
  auto after = Load(f.new_policy, false);
  if (before == nullptr || after == nullptr) return 1;
  std::vector<policy::NamedItem> items;
  for (const std::string& path : f.items) {
    absl::StatusOr<v1::Item> item = ReadItem(path);
    if (!item.ok()) {
      std::cerr << "havenctl policy diff: " << item.status().message() << "\n";
      return 1;
    }
    items.push_back({path, *std::move(item)});
  }
  policy::DecideOptions options;
  options.received_from_partner = f.received;
  policy::PolicyDiff diff = policy::DiffPolicies(*before, *after, items, options);
  std::cout << diff.ToString();
  return f.exit_code && !diff.empty() ? 1 : 0;
}

struct KeygenFlags {
  std::string policy;
};

int RunKeygen(const KeygenFlags& f) {
  auto created = policy::CreateMissingKeyFiles(f.policy);
  if (!created.ok()) {
    std::cerr << "havenctl policy keygen: " << created.status().message() << "\n";
    return 1;
  }
  for (const std::string& file : *created) std::cout << "created " << file << "\n";
  if (created->empty()) std::cout << "all key files exist; nothing created\n";
  return 0;
}

}  // namespace

void RegisterPolicyCommands(CLI::App& app, CommandRunner& run) {
  CLI::App* policy_cmd = app.add_subcommand(
      "policy", "Check, preview, test and compare sharing policies (offline); "
                "propose, approve and activate them at the gateway (officers)");
  policy_cmd->require_subcommand(1);
  {
    auto* cmd = policy_cmd->add_subcommand(
        "check", "Report every error and warning as file:line:column; exit 0 only "
                 "if the policy has no errors");
    auto f = std::make_shared<CheckFlags>();
    cmd->add_option("policy", f->policy, "Policy file (YAML or JSON)")->required();
    cmd->callback([&run, f] { run = [f] { return RunCheck(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "preview", "Show what each partner would receive of an item, and why");
    auto f = std::make_shared<PreviewFlags>();
    cmd->add_option("policy", f->policy, "Policy file")->required();
    cmd->add_option("item", f->item, "Item file (proto3 JSON)")->required();
    cmd->add_option("--partner", f->partner, "Only this partner");
    cmd->add_flag("--explain", f->explain, "Say which rules matched and why each field "
                                           "was released, transformed or withheld");
    cmd->add_flag("--json", f->json, "One JSON document instead of text");
    cmd->add_flag("--received", f->received,
                  "Treat the item as received from a partner (re-sharing)");
    cmd->callback([&run, f] { run = [f] { return RunPreview(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "test", "Run a policy's tests; exit 1 if any fails");
    auto f = std::make_shared<TestFlags>();
    cmd->add_option("policy", f->policy, "Policy file")->required();
    cmd->add_option("tests", f->tests, "Policy tests file (YAML)")->required();
    cmd->callback([&run, f] { run = [f] { return RunTests(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "diff", "Which partners gain or lose which fields of the given items when "
                "OLD is replaced by NEW");
    auto f = std::make_shared<DiffFlags>();
    cmd->add_option("old", f->old_policy, "Current policy file")->required();
    cmd->add_option("new", f->new_policy, "Proposed policy file")->required();
    cmd->add_option("items", f->items, "Item files (proto3 JSON)")->required();
    cmd->add_flag("--received", f->received, "Treat the items as received from a partner");
    cmd->add_flag("--exit-code", f->exit_code, "Exit 1 if any partner's view changes");
    cmd->callback([&run, f] { run = [f] { return RunDiff(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "keygen", "Create the policy's missing pseudonymisation key files (32 random "
                  "bytes each, mode 0600); never overwrites");
    auto f = std::make_shared<KeygenFlags>();
    cmd->add_option("policy", f->policy, "Policy file")->required();
    cmd->callback([&run, f] { run = [f] { return RunKeygen(*f); }; });
  }
  RegisterPolicyAdminCommands(*policy_cmd, run);
}

}  // namespace havengate::havenctl
