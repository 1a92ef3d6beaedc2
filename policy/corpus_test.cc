// Runs the data-driven policy corpus in tests/policy_corpus/ (format in its
// README.md): for each case, the policy loads or fails with exactly the
// expected errors at the expected line:column, produces exactly the
// expected warnings, and every partner sees what the case expects.
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/plan.h"
#include "policy/policy_testing.h"
#include "policy/policy_tests.h"

namespace havengate::policy {
namespace {

namespace fs = std::filesystem;

std::string CorpusDir() { return testing::SourceDir() + "/tests/policy_corpus"; }

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(CorpusDir(), ec)) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Strings(const YAML::Node& node) {
  std::vector<std::string> out;
  if (node && node.IsSequence()) {
    for (const auto& element : node) out.push_back(element.Scalar());
  }
  return out;
}

// "line:column: text" -> does `d` match?
bool Matches(const std::string& expected, const Diagnostic& d) {
  std::vector<std::string> parts = absl::StrSplit(expected, absl::MaxSplits(':', 2));
  int line = 0, column = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &line) ||
      !absl::SimpleAtoi(parts[1], &column)) {
    ADD_FAILURE() << "expectation must be \"line:column: text\": " << expected;
    return false;
  }
  std::string text = parts[2].substr(parts[2].empty() || parts[2][0] != ' ' ? 0 : 1);
  return d.line == line && d.column == column && d.message.find(text) != std::string::npos;
}

// Every expectation matches a distinct diagnostic and no diagnostic is left.
void ExpectExactly(const std::vector<std::string>& expected,
                   const std::vector<Diagnostic>& actual, absl::string_view what) {
  std::vector<bool> used(actual.size(), false);
  for (const std::string& e : expected) {
    bool found = false;
    for (size_t i = 0; i < actual.size() && !found; ++i) {
      if (!used[i] && Matches(e, actual[i])) used[i] = found = true;
    }
    EXPECT_TRUE(found) << "expected " << what << " not reported: " << e;
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_TRUE(used[i]) << "unexpected " << what << ": " << actual[i].ToString();
  }
}

class CorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusTest, Case) {
  std::string path = absl::StrCat(CorpusDir(), "/", GetParam(), ".yaml");
  auto text = std::make_shared<const std::string>(testing::ReadFileOrDie(path));
  std::vector<Diagnostic> parse_errors;
  std::optional<YAML::Node> root = ParseYaml(*text, path, &parse_errors);
  ASSERT_TRUE(root.has_value()) << FormatDiagnostics(parse_errors);
  for (const auto& kv : *root) {
    std::string key = kv.first.Scalar();
    EXPECT_TRUE(key == "description" || key == "policy" || key == "tests" || key == "errors" ||
                key == "warnings" || key == "missing_key_files")
        << "unknown key in case: " << key;
  }
  ASSERT_TRUE((*root)["description"]) << "every case says what it shows";
  ASSERT_TRUE((*root)["policy"]) << "every case has a policy";

  testing::TempDir keys;
  std::vector<std::string> missing = Strings((*root)["missing_key_files"]);
  int seed = 1;
  if (YAML::Node key_list = (*root)["policy"]["keys"]) {
    for (const auto& key : key_list) {
      std::string file = key["file"].Scalar();
      if (std::find(missing.begin(), missing.end(), file) == missing.end()) {
        testing::WriteKeyFile(keys.path() + "/" + file, seed++);
      }
    }
  }

  SourceMap sources(path, text);
  std::vector<Diagnostic> diagnostics;
  auto policy = CompileYamlNode((*root)["policy"], sources, keys.path(), &diagnostics);
  std::vector<Diagnostic> errors, warnings;
  for (const Diagnostic& d : diagnostics) {
    (d.severity == Diagnostic::Severity::kError ? errors : warnings).push_back(d);
  }

  if (YAML::Node expected_errors = (*root)["errors"]) {
    EXPECT_FALSE(policy.ok()) << "the policy should not load";
    ExpectExactly(Strings(expected_errors), errors, "error");
    return;
  }
  ASSERT_TRUE(policy.ok()) << FormatDiagnostics(diagnostics);
  ExpectExactly(Strings((*root)["warnings"]), warnings, "warning");

  YAML::Node tests = (*root)["tests"];
  if (!tests) return;
  int count = 0;
  for (const auto& node : tests) {
    PolicyTestCase test;
    std::vector<Diagnostic> test_errors;
    ASSERT_TRUE(ReadTestCase(node, sources, CorpusDir(), &test, &test_errors))
        << FormatDiagnostics(test_errors);
    for (const std::string& failure : RunPolicyTest(**policy, test)) {
      ADD_FAILURE() << test.where << " " << test.name << ": " << failure;
    }
    ++count;
  }
  EXPECT_GT(count, 0);
}

INSTANTIATE_TEST_SUITE_P(PolicyCorpus, CorpusTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(CorpusSizeTest, AtLeastFortyCases) { EXPECT_GE(CaseNames().size(), 40u); }

}  // namespace
}  // namespace havengate::policy
