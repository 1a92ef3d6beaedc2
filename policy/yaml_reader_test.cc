#include "policy/yaml_reader.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "havengate/v1/policy.pb.h"

namespace havengate::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

struct Read {
  v1::SharingPolicy policy;
  std::vector<Diagnostic> diagnostics;
  SourceMap map;
  bool ok = false;
};

Read ReadText(const std::string& text) {
  Read r;
  auto shared = std::make_shared<const std::string>(text);
  r.map = SourceMap("p.yaml", shared);
  std::optional<YAML::Node> root = ParseYaml(*shared, "p.yaml", &r.diagnostics);
  if (!root.has_value()) return r;
  r.ok = ReadYamlMessage(*root, &r.policy, "", &r.map, &r.diagnostics);
  return r;
}

TEST(YamlReaderTest, ReadsNestedMessagesRepeatedFieldsAndMaps) {
  Read r = ReadText(R"(organisation: police-nl
version: "1"
partners:
  - {id: customs-nl, kind: CUSTOMS}
rules:
  - name: a
    to: [customs-nl]
    kinds: [ALERT, REPORT]
    share: [title]
    forward_received: true
    transform:
      persons.name: {pseudonymise: {key: k}}
      observed_at: {truncate_time: {unit: HOUR}}
)");
  ASSERT_TRUE(r.ok) << FormatDiagnostics(r.diagnostics);
  ASSERT_THAT(r.policy.rules(), SizeIs(1));
  const v1::Rule& rule = r.policy.rules(0);
  EXPECT_EQ(rule.kinds_size(), 2);
  EXPECT_TRUE(rule.forward_received());
  EXPECT_EQ(rule.transform().at("persons.name").pseudonymise().key(), "k");
  EXPECT_EQ(rule.transform().at("observed_at").truncate_time().unit(), v1::TruncateTime::HOUR);
  EXPECT_EQ(r.policy.partners(0).kind(), v1::Partner::CUSTOMS);
}

TEST(YamlReaderTest, ShortFormsAndCaseInsensitiveEnums) {
  Read r = ReadText(R"(rules:
  - to: customs-nl
    kinds: alert
    transform:
      persons.name: redact
      persons.badge_id: {mask: 3}
      title: {replace: "[removed]"}
      observed_at: {truncate_time: day}
      location.position: {round_geo: 2}
      persons.employer: {pseudonymise: k1}
)");
  ASSERT_TRUE(r.ok) << FormatDiagnostics(r.diagnostics);
  const v1::Rule& rule = r.policy.rules(0);
  EXPECT_EQ(rule.to(0), "customs-nl");
  EXPECT_EQ(rule.kinds(0), v1::ALERT);
  EXPECT_TRUE(rule.transform().at("persons.name").has_redact());
  EXPECT_EQ(rule.transform().at("persons.badge_id").mask().keep_last(), 3u);
  EXPECT_EQ(rule.transform().at("title").replace().with(), "[removed]");
  EXPECT_EQ(rule.transform().at("observed_at").truncate_time().unit(), v1::TruncateTime::DAY);
  EXPECT_EQ(rule.transform().at("location.position").round_geo().decimals(), 2u);
  EXPECT_EQ(rule.transform().at("persons.employer").pseudonymise().key(), "k1");
}

TEST(YamlReaderTest, AcceptsJsonIncludingCamelCaseNames) {
  Read r = ReadText(
      "{\n  \"organisation\": \"police-nl\",\n  \"rules\": [{\"name\": \"a\", "
      "\"forwardReceived\": true, \"allowRestricted\": [\"RED\"]}]\n}\n");
  ASSERT_TRUE(r.ok) << FormatDiagnostics(r.diagnostics);
  EXPECT_TRUE(r.policy.rules(0).forward_received());
  EXPECT_EQ(r.policy.rules(0).allow_restricted(0), v1::RED);
}

TEST(YamlReaderTest, CollectsEveryErrorWithLineAndColumn) {
  Read r = ReadText(R"(organisation: police-nl
rules:
  - name: a
    shar: [title]
    kinds: [ALRT]
    forward_received: maybe
  - name: b
    name: c
    transform:
      title: {mask: 2, replace: x}
)");
  EXPECT_FALSE(r.ok);
  std::vector<std::string> lines;
  for (const Diagnostic& d : r.diagnostics) lines.push_back(d.ToString());
  EXPECT_THAT(lines, ::testing::UnorderedElementsAre(
      HasSubstr("p.yaml:4:5: error: unknown field `shar` in `Rule` (did you mean `share`?)"),
      HasSubstr("p.yaml:5:13: error: `ALRT` is not a valid `kinds`"),
      HasSubstr("p.yaml:6:23: error: `forward_received` takes true or false"),
      HasSubstr("p.yaml:8:5: error: `name` is given twice"),
      HasSubstr("p.yaml:10:24: error: `Transform` takes exactly one of")));
}

TEST(YamlReaderTest, SyntaxErrorHasPosition) {
  std::vector<Diagnostic> diagnostics;
  EXPECT_FALSE(ParseYaml("rules: [a, b\n", "x.yaml", &diagnostics).has_value());
  ASSERT_THAT(diagnostics, SizeIs(1));
  EXPECT_EQ(diagnostics[0].line, 2);
  EXPECT_THAT(diagnostics[0].message, HasSubstr("not valid YAML"));
}

TEST(YamlReaderTest, WrongShapesAreExplained) {
  Read r = ReadText("rules: {name: a}\npartners:\n  - [x]\nversion: [1]\n");
  EXPECT_FALSE(r.ok);
  std::string all = FormatDiagnostics(r.diagnostics);
  EXPECT_THAT(all, HasSubstr("p.yaml:1:8: error: `rules` is a list"));
  EXPECT_THAT(all, HasSubstr("p.yaml:3:5: error: expected the fields of `Partner`"));
  EXPECT_THAT(all, HasSubstr("p.yaml:4:10: error: `version` takes text"));
}

TEST(YamlReaderTest, NumbersAreRangeChecked) {
  Read r = ReadText("rules:\n  - transform:\n      x: {round_geo: {decimals: -1}}\n");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(FormatDiagnostics(r.diagnostics), HasSubstr("3:33: error: `decimals` takes a whole number of 0 or more"));
}

// Positions inside a `when` string, for each way YAML can write it.
struct InsideCase {
  std::string yaml;
  std::string needle;  // the character to locate (first occurrence in the value)
  int line;
  int column;
};

class InsideValueTest : public ::testing::TestWithParam<InsideCase> {};

TEST_P(InsideValueTest, PointsAtTheCharacter) {
  const InsideCase& c = GetParam();
  Read r = ReadText(c.yaml);
  ASSERT_TRUE(r.ok) << FormatDiagnostics(r.diagnostics);
  const std::string& when = r.policy.rules(0).when();
  size_t offset = when.find(c.needle);
  ASSERT_NE(offset, std::string::npos) << when;
  SourcePos pos = r.map.InsideValue("rules[0].when", when, offset);
  EXPECT_EQ(pos.line, c.line) << c.yaml;
  EXPECT_EQ(pos.column, c.column) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(
    Styles, InsideValueTest,
    ::testing::Values(
        InsideCase{"rules:\n  - when: severity >= HIGHH\n", "HIGHH", 2, 23},
        InsideCase{"rules:\n  - when: \"a == \\\"x\\\" && bb\"\n", "bb", 2, 26},
        InsideCase{"rules:\n  - when: 'a == ''x'' && bb'\n", "bb", 2, 26},
        InsideCase{"rules:\n  - when: |\n      a == 1 &&\n      bb\n", "bb", 4, 7},
        InsideCase{"rules:\n  - when: >\n      a == 1 &&\n        bb\n", "bb", 4, 9},
        InsideCase{"rules:\n  - when: a == 1 &&\n      bb == 2\n", "bb", 3, 7},
        InsideCase{"{\"rules\": [{\"when\": \"x\\ty && zz\"}]}", "zz", 1, 30}));

TEST(YamlReaderTest, YamlToJsonKeepsQuotedNumbersAsText) {
  std::vector<Diagnostic> d;
  auto node = ParseYaml("a: 1\nb: '1'\nc: [true, x, 2.5]\nd: null\ne: 2026-11-28\n", "x", &d);
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(YamlToJson(*node),
            R"({"a":1,"b":"1","c":[true,"x",2.5],"d":null,"e":"2026-11-28"})");
}

TEST(YamlReaderTest, AliasBombIsRefused) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'h'; ++c) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += std::string(i ? ", *" : "*") + prev;
    text += "]\n";
    prev = c;
  }
  text += "rules:\n  - share: *h\n";
  Read r = ReadText(text);
  EXPECT_FALSE(r.ok);
}

// Found by tests/fuzz (fuzz_policy): a rule name with a byte that is not
// UTF-8 loaded, and every audit record naming the rule could then not be
// parsed again.
TEST(YamlReaderTest, TextThatIsNotUtf8IsAnError) {
  Read r = ReadText("version: \"1\"\nrules:\n  - {name: \"a\xff\", to: [x]}\n"
                    "  - name: b\n    transform: {\"title\xc3\": redact}\n");
  EXPECT_FALSE(r.ok);
  ASSERT_THAT(r.diagnostics, SizeIs(2)) << FormatDiagnostics(r.diagnostics);
  EXPECT_EQ(r.diagnostics[0].line, 3);
  EXPECT_THAT(r.diagnostics[0].message, HasSubstr("`name` is not valid UTF-8 text"));
  EXPECT_EQ(r.diagnostics[1].line, 5);
  EXPECT_THAT(r.diagnostics[1].message, HasSubstr("a key must be valid UTF-8 text"));
  // Well-formed text in any script still reads.
  EXPECT_TRUE(ReadText("version: \"Policía € 𝄞\"\n").ok);
}

}  // namespace
}  // namespace havengate::policy
