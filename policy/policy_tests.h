// Policy unit tests, as `havenctl policy test POLICY TESTS.yaml` runs them:
// sample items and, per partner, what it must (not) receive. Officers write
// them beside a policy so that a change that leaks or loses a field fails
// before anyone approves it.
//
// File format (YAML):
//   tests:
//     - name: PIN fraud reaches customs without informant details
//       item: ../../samples/pin_code_fraud_rtm.json   # or an inline item
//       patch: {classification: {tlp: RED}}          # optional, merged in
//       received: false                              # item came from a partner
//       expect:
//         customs-nl:
//           receives: true
//           present: [containers.number, persons.name]
//           absent: [source, persons.document_number]
//           values: {location.unlocode: NLRTM, containers.number: [MSCU4812360, CSQU3054383]}
//           matches: {persons.name: "^ps:[0-9a-f]{32}$"}
//         "*": {receives: false}                     # every partner not named
// Paths are relative to the body (or name an envelope field such as
// `classification.tlp`). `values` with one value requires every value at the
// path to equal it; with a list, the exact list in order. `matches` takes
// ECMAScript regular expressions that every value must match.
//
// Loading reports problems as Diagnostics with file:line:column; running
// never fails, it reports. Thread-compatible.
#ifndef HAVENGATE_POLICY_POLICY_TESTS_H_
#define HAVENGATE_POLICY_POLICY_TESTS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/item.pb.h"
#include "policy/diagnostic.h"
#include "policy/policy.h"

namespace YAML {
class Node;
}

namespace havengate::policy {

class SourceMap;

struct ExpectedValues {
  std::vector<std::string> values;
  bool exact_list = false;  // written as a list: compare the whole list
};

struct PartnerExpectation {
  std::string partner;  // "*" for every partner not named otherwise
  std::string where;    // "file:line:column" of the expectation
  std::optional<bool> receives;
  std::vector<std::string> present;
  std::vector<std::string> absent;
  std::vector<std::pair<std::string, ExpectedValues>> values;
  std::vector<std::pair<std::string, std::string>> matches;
};

struct PolicyTestCase {
  std::string name;
  std::string where;  // "file:line:column"
  v1::Item item;
  bool received_from_partner = false;
  std::vector<PartnerExpectation> expect;
};

struct PolicyTestSuite {
  std::string file;
  std::vector<PolicyTestCase> tests;
};

// Reads a tests file; item files are relative to its directory. On any
// problem returns INVALID_ARGUMENT and appends diagnostics.
[[nodiscard]] absl::StatusOr<PolicyTestSuite> LoadPolicyTestsFile(
    const std::string& path, std::vector<Diagnostic>* diagnostics);
[[nodiscard]] absl::StatusOr<PolicyTestSuite> ParsePolicyTests(
    absl::string_view text, const std::string& display_name,
    const std::string& base_dir, std::vector<Diagnostic>* diagnostics);

// Reads one test case from `node` (a mapping with item / expect / ...).
// Shared with the policy corpus, whose cases carry the same fields. Returns
// false after appending diagnostics.
bool ReadTestCase(const YAML::Node& node, const SourceMap& sources,
                  const std::string& base_dir, PolicyTestCase* test,
                  std::vector<Diagnostic>* diagnostics);

// What went wrong for one partner in one test, naming the fields.
std::vector<std::string> CheckExpectation(const PartnerDecision& decision,
                                          const PartnerExpectation& expectation);

struct TestResult {
  std::string name;
  std::string where;
  // "customs-nl: persons.document_number: expected absent, found 1 value"
  std::vector<std::string> failures;
  bool passed() const { return failures.empty(); }
};

struct TestReport {
  std::vector<TestResult> results;
  int passed() const;
  int failed() const;
  // "PASS name" / "FAIL name (where)" lines with failures indented, and a
  // summary line.
  std::string ToString() const;
};

// Runs every test against `policy`.
TestReport RunPolicyTests(const CompiledPolicy& policy, const PolicyTestSuite& suite);

// The failures of one test.
std::vector<std::string> RunPolicyTest(const CompiledPolicy& policy,
                                       const PolicyTestCase& test);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_POLICY_TESTS_H_
