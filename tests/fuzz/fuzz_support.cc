#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "google/protobuf/stubs/logging.h"
#include "policy/policy_testing.h"
#include "yaml-cpp/yaml.h"

namespace havengate::fuzz {
namespace {

namespace fs = std::filesystem;
using policy::testing::SourceDir;

// Regular files with `extension` in `dir`, sorted.
std::vector<fs::path> FilesIn(const std::string& dir, const std::string& extension) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == extension) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Removed at exit (not after a crash).
policy::testing::TempDir& KeyTempDir() {
  static policy::testing::TempDir dir;
  return dir;
}

// Loads `text` with its key files written into KeyDir(); a fixed policy
// that does not load is a broken checkout, not a finding.
std::shared_ptr<const policy::CompiledPolicy> LoadFixed(const std::string& name,
                                                        const std::string& text) {
  std::vector<policy::Diagnostic> diagnostics;
  auto loaded = policy::testing::LoadWithKeys(text, KeyTempDir(), &diagnostics);
  if (!loaded.ok()) {
    std::fprintf(stderr, "fixed policy %s does not load: %s\n", name.c_str(),
                 policy::FormatDiagnostics(diagnostics).c_str());
    std::abort();
  }
  return *loaded;
}

std::vector<FixedPolicy> LoadFixedPolicies() {
  std::vector<FixedPolicy> out;
  std::error_code ec;
  std::vector<fs::path> orgs;
  for (const auto& entry : fs::directory_iterator(SourceDir() + "/deploy/policies", ec)) {
    if (entry.is_directory()) orgs.push_back(entry.path());
  }
  std::sort(orgs.begin(), orgs.end());
  for (const fs::path& org : orgs) {
    std::string name = "deploy/policies/" + org.filename().string();
    out.push_back({name, LoadFixed(name, policy::testing::ReadFileOrDie(
                                             (org / "policy.yaml").string()))});
  }
  for (const fs::path& file : FilesIn(SourceDir() + "/tests/policy_corpus", ".yaml")) {
    YAML::Node root = YAML::LoadFile(file.string());
    // Cases that must not load, or that load only without some key file.
    if (!root["policy"] || root["errors"] || root["missing_key_files"]) continue;
    std::string name = "tests/policy_corpus/" + file.stem().string();
    out.push_back({name, LoadFixed(name, YAML::Dump(root["policy"]))});
  }
  return out;
}

// Parsing arbitrary bytes makes protobuf log an error for every string
// that is not UTF-8 (hundreds of megabytes an hour); the targets judge
// results, not logs.
const bool kProtobufQuiet = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

std::function<std::string()>& FailureContext() {
  static auto* describe = new std::function<std::string()>;
  return *describe;
}

}  // namespace

void SetFailureContext(std::function<std::string()> describe) {
  FailureContext() = std::move(describe);
}

void Fail(const std::string& what) {
  if (FailureContext()) std::fprintf(stderr, "%s\n", FailureContext()().c_str());
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

const std::vector<v1::Item>& SampleItems() {
  static const auto* items = [] {
    auto* out = new std::vector<v1::Item>;
    for (const fs::path& file : FilesIn(SourceDir() + "/deploy/samples", ".json")) {
      out->push_back(policy::testing::SampleItem(file.filename().string()));
    }
    return out;
  }();
  return *items;
}

const std::vector<FixedPolicy>& FixedPolicies() {
  static const auto* policies = new std::vector<FixedPolicy>(LoadFixedPolicies());
  return *policies;
}

const std::string& KeyDir() {
  FixedPolicies();  // writes the key files
  return KeyTempDir().path();
}

bool NamesSpecialFiles(absl::string_view text) {
  for (absl::string_view dir : {"/dev", "/proc", "/sys"}) {
    if (absl::StrContains(text, dir)) return true;
  }
  return false;
}

}  // namespace havengate::fuzz
