#include "policy/policy_tests.h"

#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/item_paths.h"
#include "policy/suggest.h"
#include "policy/yaml_reader.h"
#include "proto/json.h"

namespace havengate::policy {
namespace {

using Severity = Diagnostic::Severity;

std::string Where(const SourceMap& sources, const YAML::Node& node) {
  SourcePos pos = PosOf(node.Mark());
  return absl::StrCat(sources.file(), ":", pos.line, ":", pos.column);
}

class CaseReader {
 public:
  CaseReader(const SourceMap& sources, const std::string& base_dir,
             std::vector<Diagnostic>* diagnostics)
      : sources_(sources), base_dir_(base_dir), diagnostics_(diagnostics) {}

  bool ok() const { return ok_; }

  void Read(const YAML::Node& node, PolicyTestCase* test) {
    test->where = Where(sources_, node);
    if (!node.IsMap()) {
      Error(node, "a test is a mapping with `name`, `item` and `expect`");
      return;
    }
    if (node["name"] && node["name"].IsScalar()) {
      test->name = node["name"].Scalar();
    } else {
      Error(node, "a test needs a `name`");
    }
    if (!CheckKeys(node, {"name", "description", "item", "patch", "received", "expect"},
                   "a test")) {
      return;
    }
    if (YAML::Node received = node["received"]) {
      if (!received.IsScalar() || (received.Scalar() != "true" && received.Scalar() != "false")) {
        Error(received, "`received` takes true or false");
      } else {
        test->received_from_partner = received.Scalar() == "true";
      }
    }
    ReadItem(node, test);
    YAML::Node expect = node["expect"];
    if (!expect || !expect.IsMap()) {
      Error(expect ? expect : node, "a test needs `expect:` with what each partner receives");
      return;
    }
    for (const auto& kv : expect) {
      const YAML::Node key = kv.first;
      const YAML::Node value = kv.second;
      PartnerExpectation e;
      e.partner = key.IsScalar() ? key.Scalar() : "";
      e.where = Where(sources_, key);
      ReadExpectation(value, &e);
      test->expect.push_back(std::move(e));
    }
  }

 private:
  void Error(const YAML::Node& node, std::string message) {
    ok_ = false;
    diagnostics_->push_back(
        sources_.AtPos(PosOf(node.Mark()), Severity::kError, std::move(message)));
  }

  bool CheckKeys(const YAML::Node& node, const std::vector<std::string>& allowed,
                 absl::string_view what) {
    bool good = true;
    for (const auto& kv : node) {
      const YAML::Node key = kv.first;
      std::string name = key.IsScalar() ? key.Scalar() : "";
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string hint = DidYouMean(name, allowed);
        if (hint.empty()) hint = absl::StrCat("; expected ", absl::StrJoin(allowed, ", "));
        Error(key, absl::StrCat("unknown key `", name, "` in ", what, hint));
        good = false;
      }
    }
    return good;
  }

  static void Merge(YAML::Node target, const YAML::Node& patch) {
    for (const auto& kv : patch) {
      const YAML::Node key = kv.first;
      const YAML::Node value = kv.second;
      const std::string& name = key.Scalar();
      YAML::Node existing = target[name];
      if (value.IsMap() && existing.IsMap()) {
        Merge(existing, value);
      } else {
        target[name] = YAML::Clone(value);
      }
    }
  }

  void ReadItem(const YAML::Node& node, PolicyTestCase* test) {
    YAML::Node item = node["item"];
    if (!item) {
      Error(node, "a test needs an `item` (a file name or the item inline)");
      return;
    }
    YAML::Node doc;
    std::string label = "item";
    if (item.IsScalar()) {
      std::string file = item.Scalar();
      if (!file.empty() && file[0] != '/' && !base_dir_.empty()) {
        file = absl::StrCat(base_dir_, "/", file);
      }
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        Error(item, absl::StrCat("cannot read item file ", file));
        return;
      }
      std::stringstream buffer;
      buffer << in.rdbuf();
      std::vector<Diagnostic> parse_errors;
      std::optional<YAML::Node> parsed = ParseYaml(buffer.str(), file, &parse_errors);
      if (!parsed.has_value()) {
        for (Diagnostic& d : parse_errors) diagnostics_->push_back(std::move(d));
        ok_ = false;
        return;
      }
      doc = *parsed;
      label = absl::StrCat("item ", file);
    } else if (item.IsMap()) {
      doc = YAML::Clone(item);
    } else {
      Error(item, "`item` is a file name or an inline item");
      return;
    }
    if (YAML::Node patch = node["patch"]) {
      if (!patch.IsMap() || !doc.IsMap()) {
        Error(patch, "`patch` is a mapping merged into the item");
        return;
      }
      Merge(doc, patch);
    }
    absl::Status parsed = ParseJson(YamlToJson(doc), &test->item);
    if (!parsed.ok()) {
      Error(item, absl::StrCat(label, ": ", parsed.message()));
    }
  }

  std::vector<std::string> Strings(const YAML::Node& node) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
    } else if (node.IsSequence()) {
      for (const auto& element : node) {
        if (element.IsScalar()) {
          out.push_back(element.Scalar());
        } else {
          Error(element, "expected a single value");
        }
      }
    } else if (!node.IsNull()) {
      Error(node, "expected a value or a list of values");
    }
    return out;
  }

  void ReadExpectation(const YAML::Node& node, PartnerExpectation* e) {
    if (!node.IsMap()) {
      Error(node, "an expectation is a mapping with receives / present / absent / "
                  "values / matches");
      return;
    }
    if (!CheckKeys(node, {"receives", "present", "absent", "values", "matches"},
                   "an expectation")) {
      return;
    }
    if (YAML::Node receives = node["receives"]) {
      if (!receives.IsScalar() || (receives.Scalar() != "true" && receives.Scalar() != "false")) {
        Error(receives, "`receives` takes true or false");
      } else {
        e->receives = receives.Scalar() == "true";
      }
    }
    if (YAML::Node present = node["present"]) e->present = Strings(present);
    if (YAML::Node absent = node["absent"]) e->absent = Strings(absent);
    if (YAML::Node values = node["values"]) {
      if (!values.IsMap()) {
        Error(values, "`values` maps field paths to expected values");
      } else {
        for (const auto& kv : values) {
          const YAML::Node key = kv.first;
          const YAML::Node value = kv.second;
          ExpectedValues expected;
          expected.exact_list = value.IsSequence();
          expected.values = Strings(value);
          if (!expected.exact_list && expected.values.empty()) {
            Error(key, "expected a value (or [] for none)");
            continue;
          }
          e->values.emplace_back(key.Scalar(), std::move(expected));
        }
      }
    }
    if (YAML::Node matches = node["matches"]) {
      if (!matches.IsMap()) {
        Error(matches, "`matches` maps field paths to regular expressions");
      } else {
        for (const auto& kv : matches) {
          const YAML::Node key = kv.first;
          const YAML::Node value = kv.second;
          if (!value.IsScalar()) {
            Error(value, "expected a regular expression");
            continue;
          }
          try {
            std::regex check(value.Scalar());
          } catch (const std::regex_error&) {
            Error(value, "not a valid regular expression");
            continue;
          }
          e->matches.emplace_back(key.Scalar(), value.Scalar());
        }
      }
    }
  }

  const SourceMap& sources_;
  std::string base_dir_;
  std::vector<Diagnostic>* diagnostics_;
  bool ok_ = true;
};

std::string Plural(size_t n, absl::string_view one) {
  return absl::StrCat(n, " ", one, n == 1 ? "" : "s");
}

}  // namespace

bool ReadTestCase(const YAML::Node& node, const SourceMap& sources,
                  const std::string& base_dir, PolicyTestCase* test,
                  std::vector<Diagnostic>* diagnostics) {
  CaseReader reader(sources, base_dir, diagnostics);
  try {
    reader.Read(node, test);
  } catch (const std::exception& e) {
    diagnostics->push_back(sources.AtPos(PosOf(node.Mark()), Severity::kError,
                                         absl::StrCat("cannot read the test: ", e.what())));
    return false;
  }
  return reader.ok();
}

absl::StatusOr<PolicyTestSuite> ParsePolicyTests(absl::string_view text,
                                                 const std::string& display_name,
                                                 const std::string& base_dir,
                                                 std::vector<Diagnostic>* diagnostics) {
  std::vector<Diagnostic> local;
  std::vector<Diagnostic>* out = diagnostics != nullptr ? diagnostics : &local;
  std::vector<Diagnostic> found;
  auto shared = std::make_shared<const std::string>(text);
  SourceMap sources(display_name, shared);
  PolicyTestSuite suite;
  suite.file = display_name;
  std::optional<YAML::Node> root = ParseYaml(*shared, display_name, &found);
  if (root.has_value()) {
    try {
      YAML::Node tests = root->IsMap() ? (*root)["tests"] : YAML::Node();
      if (!tests || !tests.IsSequence()) {
        found.push_back(sources.AtPos(PosOf(root->Mark()), Severity::kError,
                                      "a policy tests file holds `tests:`, a list of tests"));
      } else {
        for (const auto& kv : *root) {
          const YAML::Node key = kv.first;
          if (key.Scalar() != "tests" && key.Scalar() != "description") {
            found.push_back(sources.AtPos(PosOf(key.Mark()), Severity::kError,
                                          absl::StrCat("unknown key `", key.Scalar(),
                                                       "`; expected tests, description")));
          }
        }
        absl::flat_hash_set<std::string> names;
        for (const auto& element : tests) {
          PolicyTestCase test;
          ReadTestCase(element, sources, base_dir, &test, &found);
          if (!test.name.empty() && !names.insert(test.name).second) {
            found.push_back(sources.AtPos(PosOf(element.Mark()), Severity::kError,
                                          absl::StrCat("test name `", test.name,
                                                       "` is used twice")));
          }
          suite.tests.push_back(std::move(test));
        }
      }
    } catch (const std::exception& e) {
      found.push_back(sources.AtPos(SourcePos{}, Severity::kError,
                                    absl::StrCat("cannot read: ", e.what())));
    }
  }
  out->insert(out->end(), found.begin(), found.end());
  absl::Status status = ErrorsToStatus(absl::StrCat("tests file ", display_name, " is invalid"),
                                       found);
  if (!status.ok()) return status;
  return suite;
}

absl::StatusOr<PolicyTestSuite> LoadPolicyTestsFile(const std::string& path,
                                                    std::vector<Diagnostic>* diagnostics) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open tests file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  size_t slash = path.rfind('/');
  std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return ParsePolicyTests(buffer.str(), path, base_dir, diagnostics);
}

std::vector<std::string> CheckExpectation(const PartnerDecision& decision,
                                          const PartnerExpectation& e) {
  std::vector<std::string> failures;
  if (e.receives.has_value() && *e.receives != decision.released) {
    if (*e.receives) {
      failures.push_back(absl::StrCat("expected to receive the item, but it ",
                                      DecisionReasonText(decision.reason)));
    } else {
      failures.push_back(absl::StrCat(
          "expected to receive nothing, but it receives the item (matched rules: ",
          absl::StrJoin(decision.matched_rules, ", "), ")"));
    }
  }
  // The values at `path` the partner receives; nullopt (after recording
  // why) if there is nothing to compare.
  auto received = [&](const std::string& path,
                      absl::string_view what) -> std::optional<std::vector<std::string>> {
    if (!decision.released) {
      failures.push_back(absl::StrCat(path, ": expected ", what,
                                      ", but the partner receives nothing"));
      return std::nullopt;
    }
    auto values = ValuesAtPath(decision.projected, path);
    if (!values.ok()) {
      failures.push_back(std::string(values.status().message()));
      return std::nullopt;
    }
    return *std::move(values);
  };
  for (const std::string& path : e.present) {
    auto values = received(path, "present");
    if (values.has_value() && values->empty()) {
      failures.push_back(absl::StrCat(path, ": expected present, but it is absent"));
    }
  }
  for (const std::string& path : e.absent) {
    if (!decision.released) continue;  // nothing received: absent
    auto values = received(path, "absent");
    if (values.has_value() && !values->empty()) {
      failures.push_back(absl::StrCat(path, ": expected absent, but found ",
                                      Plural(values->size(), "value")));
    }
  }
  for (const auto& [path, expected] : e.values) {
    auto values = received(path, "values");
    if (!values.has_value()) continue;
    bool good;
    if (expected.exact_list) {
      good = *values == expected.values;
    } else {
      good = !values->empty();
      for (const std::string& v : *values) good &= v == expected.values[0];
    }
    if (!good) {
      failures.push_back(absl::StrCat(
          path, ": expected ",
          expected.exact_list ? absl::StrCat("[", absl::StrJoin(expected.values, ", "), "]")
                              : expected.values[0],
          ", found [", absl::StrJoin(*values, ", "), "]"));
    }
  }
  for (const auto& [path, pattern] : e.matches) {
    auto values = received(path, "a match");
    if (!values.has_value()) continue;
    std::regex re(pattern);
    bool good = !values->empty();
    for (const std::string& v : *values) good &= std::regex_search(v, re);
    if (!good) {
      failures.push_back(absl::StrCat(path, ": expected every value to match /", pattern,
                                      "/, found [", absl::StrJoin(*values, ", "), "]"));
    }
  }
  return failures;
}

std::vector<std::string> RunPolicyTest(const CompiledPolicy& policy,
                                       const PolicyTestCase& test) {
  std::vector<std::string> failures;
  DecideOptions options;
  options.received_from_partner = test.received_from_partner;
  Decision decision = policy.Decide(test.item, options);
  const PartnerExpectation* others = nullptr;
  for (const PartnerExpectation& e : test.expect) {
    if (e.partner == "*") {
      others = &e;
      continue;
    }
    if (decision.Find(e.partner) == nullptr) {
      failures.push_back(absl::StrCat(e.partner, ": not a partner in this policy",
                                      DidYouMean(e.partner, policy.partners())));
    }
  }
  for (const PartnerDecision& d : decision.partners) {
    const PartnerExpectation* expectation = others;
    for (const PartnerExpectation& e : test.expect) {
      if (e.partner == d.partner) expectation = &e;
    }
    if (expectation == nullptr) continue;
    for (const std::string& f : CheckExpectation(d, *expectation)) {
      failures.push_back(absl::StrCat(d.partner, ": ", f));
    }
  }
  return failures;
}

TestReport RunPolicyTests(const CompiledPolicy& policy, const PolicyTestSuite& suite) {
  TestReport report;
  for (const PolicyTestCase& test : suite.tests) {
    report.results.push_back(TestResult{test.name, test.where, RunPolicyTest(policy, test)});
  }
  return report;
}

int TestReport::passed() const {
  int n = 0;
  for (const TestResult& r : results) n += r.passed();
  return n;
}

int TestReport::failed() const { return static_cast<int>(results.size()) - passed(); }

std::string TestReport::ToString() const {
  std::string out;
  for (const TestResult& r : results) {
    if (r.passed()) {
      absl::StrAppend(&out, "PASS  ", r.name, "\n");
      continue;
    }
    absl::StrAppend(&out, "FAIL  ", r.name, " (", r.where, ")\n");
    for (const std::string& f : r.failures) absl::StrAppend(&out, "      ", f, "\n");
  }
  absl::StrAppend(&out, Plural(results.size(), "test"), ", ", passed(), " passed, ",
                  failed(), " failed\n");
  return out;
}

}  // namespace havengate::policy
