// `havenctl policy ...`: the policy officers' offline tools (no gateway
// needed) — check a policy, preview what each partner would receive of an
// item and why, run a policy's tests, see the impact of a change, and set
// up key files on a new machine. A thin shell over havengate::policy.
// validate, preview and diff also ask the gateway with --remote
// (policy_remote.h).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/havenctl/commands.h"
#include "client/havenctl/json_output.h"
#include "client/havenctl/policy_remote.h"
#include "policy/diff.h"
#include "policy/policy.h"
#include "policy/policy_tests.h"
#include "policy/preview.h"
#include "policy/yaml_reader.h"
#include "proto/item_validation.h"
#include "proto/json.h"

namespace havengate::havenctl {
namespace {

using policy::CompiledPolicy;
using policy::Diagnostic;

// "-" names standard input wherever havenctl policy reads a file.
constexpr char kStdin[] = "-";
constexpr char kStdinName[] = "<stdin>";

std::string ReadStdin() {
  std::stringstream buffer;
  buffer << std::cin.rdbuf();
  return buffer.str();
}

// A policy file, or standard input for "-" (key files then relative to the
// working directory).
absl::StatusOr<std::shared_ptr<const CompiledPolicy>> LoadPolicyArgument(
    const std::string& path, std::vector<Diagnostic>* diagnostics) {
  if (path != kStdin) return policy::LoadPolicyFile(path, diagnostics);
  return policy::LoadPolicyText(ReadStdin(), kStdinName,
                                std::filesystem::current_path().string(),
                                diagnostics);
}

std::string DisplayName(const std::string& path) {
  return path == kStdin ? kStdinName : path;
}

// Loads a policy, printing its diagnostics; nullptr after printing errors.
std::shared_ptr<const CompiledPolicy> Load(const std::string& path, bool show_warnings) {
  std::vector<Diagnostic> diagnostics;
  auto loaded = LoadPolicyArgument(path, &diagnostics);
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

// An item file (proto3 JSON), or standard input for "-".
absl::StatusOr<v1::Item> ReadItem(const std::string& file) {
  const std::string path = DisplayName(file);
  std::string text;
  if (file == kStdin) {
    text = ReadStdin();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open item file ", path));
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
  }
  absl::StatusOr<v1::Item> item = ParseJsonAs<v1::Item>(text);
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
  bool json = false;
};

std::string DiagnosticJson(const Diagnostic& d) {
  return JsonObject()
      .String("severity", d.severity == Diagnostic::Severity::kError ? "error" : "warning")
      .String("file", d.file)
      .Int("line", d.line)
      .Int("column", d.column)
      .String("message", d.message)
      .str();
}

constexpr char kCheckJsonHelp[] =
    "One JSON object: file, ok, errors, warnings, diagnostics [{severity, "
    "file, line, column, message}]; if ok also organisation, version, "
    "partners, rules (counts); if not, problem";

int PrintCheckJson(const CheckFlags& f,
                   const absl::StatusOr<std::shared_ptr<const CompiledPolicy>>& loaded,
                   const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> items;
  for (const Diagnostic& d : diagnostics) items.push_back(DiagnosticJson(d));
  JsonObject out;
  out.String("file", DisplayName(f.policy))
      .Bool("ok", loaded.ok())
      .Int("errors", policy::Count(diagnostics, Diagnostic::Severity::kError))
      .Int("warnings", policy::Count(diagnostics, Diagnostic::Severity::kWarning))
      .Raw("diagnostics", absl::StrCat("[", absl::StrJoin(items, ","), "]"));
  if (loaded.ok()) {
    const CompiledPolicy& p = **loaded;
    out.String("organisation", p.organisation())
        .String("version", p.version())
        .Int("partners", static_cast<int64_t>(p.partners().size()))
        .Int("rules", p.source().rules_size());
  } else {
    out.String("problem", loaded.status().message());
  }
  std::cout << out.str() << "\n";
  return loaded.ok() ? 0 : 1;
}

int RunCheck(const CheckFlags& f) {
  std::vector<Diagnostic> diagnostics;
  auto loaded = LoadPolicyArgument(f.policy, &diagnostics);
  if (f.json) return PrintCheckJson(f, loaded, diagnostics);
  std::cout << policy::FormatDiagnostics(diagnostics);
  int errors = policy::Count(diagnostics, Diagnostic::Severity::kError);
  int warnings = policy::Count(diagnostics, Diagnostic::Severity::kWarning);
  const std::string name = DisplayName(f.policy);
  if (!loaded.ok()) {
    if (errors == 0) std::cout << loaded.status().message() << "\n";
    std::cout << name << ": " << Plural(errors, "error") << ", "
              << Plural(warnings, "warning") << "; the policy cannot be used\n";
    return 1;
  }
  const CompiledPolicy& p = **loaded;
  std::cout << name << ": OK: policy of " << p.organisation() << ", version "
            << p.version() << ", " << Plural(p.partners().size(), "partner") << ", "
            << Plural(p.source().rules_size(), "rule") << ", " << Plural(warnings, "warning")
            << "\n";
  return 0;
}

struct ValidateFlags {
  std::string policy;
  bool json = false;
  RemoteFlags remote;
};

int RunValidate(const ValidateFlags& f) {
  if (f.remote.enabled) return RunRemoteValidate(f.remote, f.policy, f.json);
  if (f.policy.empty() || f.remote.names_stored_policy()) {
    std::cerr << "havenctl policy validate: give a policy file (--proposal and "
                 "--version need --remote)\n";
    return 2;
  }
  return RunCheck(CheckFlags{f.policy, f.json});
}

struct PreviewFlags {
  // POLICY ITEM; with --remote and --proposal, --version or --active: ITEM.
  std::vector<std::string> files;
  std::string partner;
  bool explain = false;
  bool json = false;
  bool received = false;
  bool active = false;
  RemoteFlags remote;
};

int RunPreview(const PreviewFlags& f) {
  const bool stored = f.remote.enabled && (f.active || f.remote.names_stored_policy());
  const size_t expected = stored ? 1 : 2;
  if (f.files.size() != expected || (!f.remote.enabled && (f.active || f.remote.names_stored_policy()))) {
    std::cerr << "havenctl policy preview: give POLICY ITEM, or with --remote and "
                 "--proposal, --version or --active only ITEM\n";
    return 2;
  }
  const std::string policy_file = stored ? "" : f.files[0];
  absl::StatusOr<v1::Item> item = ReadItem(f.files.back());
  if (!item.ok()) {
    std::cerr << "havenctl policy preview: " << item.status().message() << "\n";
    return 1;
  }
  const PreviewPrintOptions print{f.partner, f.json};
  if (f.remote.enabled) {
    v1::PreviewPolicyRequest request;
    *request.mutable_item() = *std::move(item);
    request.set_received_from_partner(f.received);
    request.set_explain(f.explain);
    return RunRemotePreview(f.remote, policy_file, f.active, request, print);
  }
  auto p = Load(policy_file, false);
  if (p == nullptr) return 1;
  policy::DecideOptions options;
  options.explain = f.explain;
  options.received_from_partner = f.received;
  return PrintPreview(policy::ToPreview(p->Decide(*item, options)), print);
}

struct TestFlags {
  std::string policy;
  std::string tests;
  bool json = false;
};

void PrintTestReportJson(const TestFlags& f, const policy::TestReport& report) {
  std::vector<std::string> results;
  for (const policy::TestResult& r : report.results) {
    results.push_back(JsonObject()
                          .String("name", r.name)
                          .String("where", r.where)
                          .Bool("passed", r.passed())
                          .Strings("failures", r.failures)
                          .str());
  }
  std::cout << JsonObject()
                   .String("policy", DisplayName(f.policy))
                   .String("tests", f.tests)
                   .Int("passed", report.passed())
                   .Int("failed", report.failed())
                   .Raw("results", absl::StrCat("[", absl::StrJoin(results, ","), "]"))
                   .str()
            << "\n";
}

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
  if (f.json) {
    PrintTestReportJson(f, report);
  } else {
    std::cout << report.ToString();
  }
  return report.failed() == 0 ? 0 : 1;
}

struct DiffFlags {
  // OLD NEW ITEM...; with --remote: the candidate (none with --proposal or
  // --version).
  std::vector<std::string> files;
  bool received = false;
  bool exit_code = false;
  bool json = false;
  RemoteFlags remote;
  RemoteDiffFlags at_gateway;
};

void PrintDiffJson(const policy::PolicyDiff& diff) {
  std::vector<std::string> changes;
  for (const policy::PartnerChange& c : diff.changes) {
    changes.push_back(JsonObject()
                          .String("item", c.item)
                          .String("partner", c.partner)
                          .Bool("received_before", c.received_before)
                          .Bool("received_after", c.received_after)
                          .Strings("gained", c.gained)
                          .Strings("lost", c.lost)
                          .Strings("changed", c.changed)
                          .str());
  }
  std::cout << JsonObject()
                   .String("old_version", diff.old_version)
                   .String("new_version", diff.new_version)
                   .Bool("changed", !diff.empty())
                   .Raw("changes", absl::StrCat("[", absl::StrJoin(changes, ","), "]"))
                   .str()
            << "\n";
}

int RunDiff(const DiffFlags& f) {
  if (f.remote.enabled) {
    if (f.files.size() != (f.remote.names_stored_policy() ? 0u : 1u)) {
      std::cerr << "havenctl policy diff --remote: give one candidate policy file, or "
                   "--proposal ID or --version LABEL (the items are the gateway's)\n";
      return 2;
    }
    RemoteDiffFlags flags = f.at_gateway;
    flags.exit_code = f.exit_code;
    flags.json = f.json;
    return RunRemoteDiff(f.remote, f.files.empty() ? "" : f.files[0], flags);
  }
  if (f.files.size() < 3 || f.remote.names_stored_policy()) {
    std::cerr << "havenctl policy diff: give OLD NEW ITEM... (or --remote CANDIDATE)\n";
    return 2;
  }
  auto before = Load(f.files[0], false);
  auto after = Load(f.files[1], false);
  if (before == nullptr || after == nullptr) return 1;
  std::vector<policy::NamedItem> items;
  for (size_t i = 2; i < f.files.size(); ++i) {
    absl::StatusOr<v1::Item> item = ReadItem(f.files[i]);
    if (!item.ok()) {
      std::cerr << "havenctl policy diff: " << item.status().message() << "\n";
      return 1;
    }
    items.push_back({f.files[i], *std::move(item)});
  }
  policy::DecideOptions options;
  options.received_from_partner = f.received;
  policy::PolicyDiff diff = policy::DiffPolicies(*before, *after, items, options);
  if (f.json) {
    PrintDiffJson(diff);
  } else {
    std::cout << diff.ToString();
  }
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
    cmd->add_option("policy", f->policy, "Policy file (YAML or JSON); - reads standard input")
        ->required();
    cmd->add_flag("--json", f->json, kCheckJsonHelp);
    cmd->callback([&run, f] { run = [f] { return RunCheck(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "validate", "Like check; with --remote the gateway checks it too: its "
                    "organisation, configured peers and key files");
    auto f = std::make_shared<ValidateFlags>();
    cmd->add_option("policy", f->policy,
                    "Policy file (YAML or JSON); - reads standard input (not with --remote)");
    cmd->add_flag("--json", f->json,
                  absl::StrCat(kCheckJsonHelp, "; with --remote the gateway's "
                               "ValidatePolicyResponse (proto3 JSON: valid, version, "
                               "diagnostics)"));
    f->remote.AddTo(*cmd);
    cmd->callback([&run, f] { run = [f] { return RunValidate(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "preview", "Show what each partner would receive of an item, and why "
                   "(with --remote: decided at the gateway)");
    auto f = std::make_shared<PreviewFlags>();
    cmd->add_option("files", f->files,
                    "POLICY ITEM: policy file and item file (proto3 JSON), either "
                    "of them - for standard input; with --remote and --proposal, "
                    "--version or --active: ITEM only")
        ->required();
    cmd->add_option("--partner", f->partner, "Only this partner");
    cmd->add_flag("--explain", f->explain, "Say which rules matched and why each field "
                                           "was released, transformed or withheld");
    cmd->add_flag("--json", f->json, "One JSON document instead of text");
    cmd->add_flag("--received", f->received,
                  "Treat the item as received from a partner (re-sharing)");
    cmd->add_flag("--active", f->active, "With --remote: under the gateway's active policy");
    f->remote.AddTo(*cmd);
    cmd->callback([&run, f] { run = [f] { return RunPreview(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "test", "Run a policy's tests; exit 1 if any fails");
    auto f = std::make_shared<TestFlags>();
    cmd->add_option("policy", f->policy, "Policy file; - reads standard input")
        ->required();
    cmd->add_option("tests", f->tests, "Policy tests file (YAML)")->required();
    cmd->add_flag("--json", f->json,
                  "One JSON object: policy, tests, passed, failed (counts), results "
                  "[{name, where, passed, failures}]");
    cmd->callback([&run, f] { run = [f] { return RunTests(*f); }; });
  }
  {
    auto* cmd = policy_cmd->add_subcommand(
        "diff", "Which partners gain or lose which fields of the given items when "
                "OLD is replaced by NEW; with --remote, of the items the gateway "
                "stored in a period when CANDIDATE replaces the active policy");
    auto f = std::make_shared<DiffFlags>();
    cmd->add_option("files", f->files,
                    "OLD NEW ITEM...: policy files and item files (proto3 JSON); "
                    "with --remote: CANDIDATE (none with --proposal or --version)");
    cmd->add_flag("--received", f->received, "Treat the items as received from a partner");
    cmd->add_flag("--exit-code", f->exit_code, "Exit 1 if any partner's view changes");
    cmd->add_flag("--json", f->json,
                  "One JSON object: old_version, new_version, changed, changes "
                  "[{item, partner, received_before, received_after, gained, lost, "
                  "changed}]; with --remote the gateway's DiffPolicyResponse "
                  "(proto3 JSON)");
    cmd->add_option("--since", f->at_gateway.since,
                    "With --remote: items stored from (2026-11-01 or RFC 3339)");
    cmd->add_option("--until", f->at_gateway.until,
                    "With --remote: items stored before (exclusive)");
    cmd->add_option("--base-version", f->at_gateway.base_version,
                    "With --remote: compare with this version of the gateway's history "
                    "instead of the active policy");
    cmd->add_option("--max-items", f->at_gateway.max_items,
                    "With --remote: at most this many items, newest first (default 10000)");
    cmd->add_flag("--items", f->at_gateway.items,
                  "With --remote: also list the change of every item and partner");
    f->remote.AddTo(*cmd);
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
