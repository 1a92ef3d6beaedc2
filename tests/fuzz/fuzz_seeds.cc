// Writes the seed corpora of the fuzz targets from the realistic inputs in
// the tree, into tests/fuzz/corpus/<target>/ (run from the repository root
// after the policies, samples or corpus change; see README.md):
//   build/tests/fuzz/fuzz_seeds tests/fuzz
// policy:     deploy/policies/*/policy.yaml, and the policy of every case in
//             tests/policy_corpus (those that must fail to load too);
// condition:  every `when` in them, after a byte for the rule's kind;
// item_json:  deploy/samples/*.json, and the items of the deploy policy
//             tests and the corpus cases as JSON;
// projection: those items in binary after the byte of the policy that
//             tests them (fuzz_support.h's order) and a flags byte.
// Regression inputs for findings are added to the corpora by hand. Also
// writes the libFuzzer dictionaries tests/fuzz/dict/<target>.dict (field
// and enum names from the descriptors, operators, YAML and JSON syntax).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "havengate/v1/policy.pb.h"
#include "policy/policy_testing.h"
#include "policy/policy_tests.h"
#include "policy/yaml_reader.h"
#include "proto/json.h"
#include "tests/fuzz/fuzz_support.h"
#include "yaml-cpp/yaml.h"

namespace havengate::fuzz {
namespace {

namespace fs = std::filesystem;
using policy::testing::ReadFileOrDie;
using policy::testing::SourceDir;

class Writer {
 public:
  explicit Writer(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }
  // Writes `content` as `name` unless the same content was written already.
  void Write(const std::string& name, const std::string& content) {
    if (!seen_.insert(content).second) return;
    std::ofstream(dir_ / name, std::ios::binary) << content;
    ++count_;
  }
  int count() const { return count_; }

 private:
  fs::path dir_;
  std::set<std::string> seen_;
  int count_ = 0;
};

std::vector<fs::path> Sorted(const std::string& dir, bool directories) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (directories ? entry.is_directory() : entry.path().extension() == ".yaml" ||
                                                 entry.path().extension() == ".json") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A policy's `when`s, each after a byte for the kind it is checked for.
void WriteConditions(const YAML::Node& policy, const std::string& stem, Writer& out) {
  if (!policy.IsMap() || !policy["rules"] || !policy["rules"].IsSequence()) return;
  int n = 0;
  for (const YAML::Node& rule : policy["rules"]) {
    ++n;
    if (!rule.IsMap() || !rule["when"] || !rule["when"].IsScalar()) continue;
    std::string kinds = rule["kinds"] ? YAML::Dump(rule["kinds"]) : "";
    char kind = kinds.find("REPORT") != std::string::npos && kinds.find("ALERT") == std::string::npos
                    ? 1 : 0;
    out.Write(absl::StrCat(stem, "-rule", n), std::string(1, kind) + rule["when"].Scalar());
  }
}

size_t PolicyIndex(const std::string& name) {
  const std::vector<FixedPolicy>& policies = FixedPolicies();
  for (size_t i = 0; i < policies.size(); ++i) {
    if (policies[i].name == name) return i;
  }
  return policies.size();
}

void WriteItems(const std::vector<policy::PolicyTestCase>& tests, const std::string& policy,
                const std::string& stem, Writer& json, Writer& projection) {
  size_t index = PolicyIndex(policy);
  int n = 0;
  for (const policy::PolicyTestCase& test : tests) {
    ++n;
    json.Write(absl::StrCat(stem, "-", n, ".json"), ToJson(test.item));
    if (index >= FixedPolicies().size()) continue;
    // Explain every other one: explanations have their own code paths.
    char flags = static_cast<char>((test.received_from_partner ? 1 : 0) | (n % 2 == 0 ? 2 : 0));
    projection.Write(absl::StrCat(stem, "-", n),
                     std::string{static_cast<char>(index), flags} + test.item.SerializeAsString());
  }
}

// ------------------------------------------------------------ dictionaries

// Field names and enum value names of `d` and the messages it holds.
void CollectNames(const google::protobuf::Descriptor* d, std::set<std::string>* fields,
                  std::set<std::string>* enums,
                  std::set<const google::protobuf::Descriptor*>* seen) {
  if (!seen->insert(d).second) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    fields->insert(f->name());
    fields->insert(f->json_name());
    if (f->enum_type() != nullptr) {
      for (int v = 0; v < f->enum_type()->value_count(); ++v) {
        enums->insert(f->enum_type()->value(v)->name());
      }
    }
    if (f->message_type() != nullptr) CollectNames(f->message_type(), fields, enums, seen);
  }
}

// A libFuzzer dictionary: one quoted token a line.
void WriteDictionary(const fs::path& path, const std::set<std::string>& tokens) {
  std::ofstream out(path, std::ios::binary);
  out << "# Written by fuzz_seeds (tests/fuzz/fuzz_seeds.cc); do not edit.\n";
  for (const std::string& token : tokens) {
    out << '"';
    for (unsigned char c : token) {
      if (c == '"' || c == '\\') {
        out << '\\' << c;
      } else if (c < 0x20 || c >= 0x7f) {
        out << absl::StrFormat("\\x%02X", c);
      } else {
        out << c;
      }
    }
    out << "\"\n";
  }
}

void WriteDictionaries(const fs::path& dir) {
  std::set<const google::protobuf::Descriptor*> seen;
  std::set<std::string> item_fields, item_enums;
  CollectNames(v1::Item::descriptor(), &item_fields, &item_enums, &seen);
  seen.clear();
  std::set<std::string> policy_fields, policy_enums;
  CollectNames(v1::SharingPolicy::descriptor(), &policy_fields, &policy_enums, &seen);

  std::set<std::string> json = {"{", "}", "[", "]", ",", "true", "false", "null", "\"\"",
                                "\"2026-11-28T03:17:45Z\"", "\"1970-01-01T00:00:00.123456789Z\"",
                                "1e308", "-0", "\"NaN\"", "\"Infinity\"", "\"\\ud800\""};
  for (const std::string& f : item_fields) json.insert(absl::StrCat("\"", f, "\":"));
  for (const std::string& e : item_enums) json.insert(absl::StrCat("\"", e, "\""));
  WriteDictionary(dir / "item_json.dict", json);

  std::set<std::string> condition = {"&&", "||", "!", "==", "!=", "<", "<=", ">", ">=", " in ",
                                     "[", "]", "(", ")", ".", ",", "has(", ".exists(", ".all(",
                                     "size(", ".size()", ".startsWith(", ".endsWith(",
                                     ".contains(", "timestamp(\"2026-11-28T00:00:00Z\")",
                                     "true", "false", "42u", "1.5", "'text'", "\"NLRTM\"",
                                     "classification.", "origin", "item_id", "version",
                                     "created_at"};
  condition.insert(item_fields.begin(), item_fields.end());
  condition.insert(item_enums.begin(), item_enums.end());
  WriteDictionary(dir / "condition.dict", condition);

  std::set<std::string> policy = {": ", "- ", "{", "}", "[", "]", ", ", "\n  ", "\n    - ",
                                  "&a ", "*a", "<<: ", "|\n", ">\n", "!!str ", "'", "\"",
                                  "\"*\"", "persons.name", "location.position",
                                  "containers.number", "keys/correlation.key", "police-nl",
                                  "customs-nl"};
  for (const std::string& f : policy_fields) policy.insert(f + ": ");
  policy.insert(policy_enums.begin(), policy_enums.end());
  policy.insert(item_fields.begin(), item_fields.end());
  policy.insert(item_enums.begin(), item_enums.end());
  WriteDictionary(dir / "policy.dict", policy);
}

int Run(const fs::path& fuzz_dir) {
  const fs::path root = fuzz_dir / "corpus";
  Writer policies(root / "policy"), conditions(root / "condition"),
      items(root / "item_json"), projection(root / "projection");
  const std::string source = SourceDir();
  std::vector<policy::Diagnostic> diagnostics;

  for (const fs::path& sample : Sorted(source + "/deploy/samples", false)) {
    items.Write(sample.filename().string(), ReadFileOrDie(sample.string()));
  }
  for (const fs::path& org : Sorted(source + "/deploy/policies", true)) {
    std::string stem = "deploy-" + org.filename().string();
    std::string text = ReadFileOrDie((org / "policy.yaml").string());
    policies.Write(stem + ".yaml", text);
    WriteConditions(YAML::Load(text), stem, conditions);
    auto suite = policy::LoadPolicyTestsFile((org / "policy_tests.yaml").string(), &diagnostics);
    if (suite.ok()) {
      WriteItems(suite->tests, "deploy/policies/" + org.filename().string(), stem, items,
                 projection);
    }
  }
  for (const fs::path& file : Sorted(source + "/tests/policy_corpus", false)) {
    std::string stem = "corpus-" + file.stem().string();
    auto text = std::make_shared<const std::string>(ReadFileOrDie(file.string()));
    std::optional<YAML::Node> root = policy::ParseYaml(*text, file.string(), &diagnostics);
    if (!root.has_value() || !(*root)["policy"]) continue;
    policies.Write(stem + ".yaml", YAML::Dump((*root)["policy"]));
    WriteConditions((*root)["policy"], stem, conditions);
    if (!(*root)["tests"]) continue;
    // As policy/corpus_test.cc reads them.
    policy::SourceMap sources(file.string(), text);
    std::vector<policy::PolicyTestCase> tests;
    for (const YAML::Node& node : (*root)["tests"]) {
      policy::PolicyTestCase test;
      if (policy::ReadTestCase(node, sources, file.parent_path().string(), &test, &diagnostics)) {
        tests.push_back(std::move(test));
      }
    }
    WriteItems(tests, "tests/policy_corpus/" + file.stem().string(), stem, items, projection);
  }
  fs::create_directories(fuzz_dir / "dict");
  WriteDictionaries(fuzz_dir / "dict");
  std::printf("seeds written to %s: policy %d, condition %d, item_json %d, projection %d\n",
              root.c_str(), policies.count(), conditions.count(), items.count(),
              projection.count());
  return 0;
}

}  // namespace
}  // namespace havengate::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FUZZ_DIR (tests/fuzz)\n", argv[0]);
    return 2;
  }
  return havengate::fuzz::Run(argv[1]);
}
