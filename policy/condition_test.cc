#include "policy/condition.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "havengate/v1/policy.pb.h"
#include "policy/policy_testing.h"

namespace havengate::policy {
namespace {

using ::testing::HasSubstr;

struct EvalCase {
  const char* when;
  bool expected;
};

class ConditionEvalTest : public ::testing::TestWithParam<EvalCase> {};

TEST_P(ConditionEvalTest, EvaluatesOnThePinFraudSample) {
  static const v1::Item item = testing::SampleItem("pin_code_fraud_rtm.json");
  std::vector<ConditionError> errors;
  auto c = Condition::Compile(GetParam().when, v1::ALERT, &errors);
  ASSERT_NE(c, nullptr) << GetParam().when << ": "
                        << (errors.empty() ? "" : errors[0].message);
  Condition::Result expected =
      GetParam().expected ? Condition::Result::kTrue : Condition::Result::kFalse;
  EXPECT_EQ(c->Evaluate(item), expected) << GetParam().when;
}

INSTANTIATE_TEST_SUITE_P(
    Expressions, ConditionEvalTest,
    ::testing::Values(
        EvalCase{"category == PIN_CODE_FRAUD", true},
        EvalCase{"category != PIN_CODE_FRAUD", false},
        EvalCase{"PIN_CODE_FRAUD == category", true},
        EvalCase{"severity >= HIGH", true},
        EvalCase{"severity > HIGH", false},
        EvalCase{"severity < CRITICAL", true},
        EvalCase{"classification.tlp <= AMBER", true},
        EvalCase{"classification.tlp < AMBER", false},
        EvalCase{"classification.tlp == RED", false},
        EvalCase{"classification.handling_code == H0", true},
        EvalCase{"origin == \"police-nl\"", true},
        EvalCase{"item_id.startsWith('01JDQ')", true},
        EvalCase{"version == 1", true},
        EvalCase{"version >= 1u", true},
        EvalCase{"version < 0", false},
        EvalCase{"location.unlocode in [\"NLRTM\", \"BEANR\"]", true},
        EvalCase{"location.unlocode in [\"DEHAM\",]", false},
        EvalCase{"location.position.latitude > 51.9", true},
        EvalCase{"location.position.latitude > 52", false},
        EvalCase{"location.position.longitude > -1.5e1", true},
        EvalCase{"containers.exists(c, c.number.startsWith(\"MSCU\"))", true},
        EvalCase{"containers.all(c, c.port_of_loading == \"ECGYE\")", true},
        EvalCase{"containers.all(c, c.pin_release_status == PIN_COMPROMISED)", false},
        EvalCase{"containers.exists(c, c.pin_release_status in [PIN_BLOCKED, PIN_USED])", true},
        EvalCase{"persons.exists(p, p.role == EMPLOYEE && has(p.badge_id))", true},
        EvalCase{"persons.exists(p, p.role == SUSPECT)", false},
        EvalCase{"size(containers) == 2", true},
        EvalCase{"containers.size() == 2", true},
        EvalCase{"size(title) > 10 && title.size() < 200", true},
        EvalCase{"has(location.position)", true},
        EvalCase{"has(location.position.latitude)", true},
        EvalCase{"has(vessels)", true},
        EvalCase{"has(companies)", false},
        EvalCase{"has(reporter.contact)", false},
        EvalCase{"has(source) && source.reliability <= B", true},
        EvalCase{"!(category == SEIZURE)", true},
        EvalCase{"!!(category == SEIZURE)", false},
        EvalCase{"title.contains(\"ECT Delta\") && title.endsWith('Delta')", true},
        EvalCase{"(severity == LOW || severity == HIGH) && location.terminal == \"ECT Delta\"", true},
        EvalCase{"severity == LOW || severity == MEDIUM", false},
        EvalCase{"vessels.exists(v, v.imo == \"IMO9482316\")", true},
        EvalCase{"\"CSQU3054383\" in [\"X\"]", false},
        EvalCase{"observed_at > timestamp(\"2026-11-28T03:00:00Z\")", true},
        EvalCase{"observed_at < timestamp(\"2026-11-28T03:00:00+00:00\")", false},
        EvalCase{"created_at == timestamp(\"2026-11-28T09:42:00Z\")", true},
        EvalCase{"companies.exists(c, c.eori.startsWith(\"NL\"))", false},
        EvalCase{"companies.all(c, c.eori.startsWith(\"NL\"))", true},
        EvalCase{"containers.exists(c, persons.exists(p, p.nationality == \"NL\") && "
                 "c.number == \"CSQU3054383\")",
                 true},
        EvalCase{"\"customs-nl\" in classification.reshare_to", false},
        EvalCase{"reporter.contact == \"\"", true},
        EvalCase{"classification.no_reshare == false", true},
        EvalCase{"1 == 1", true},
        EvalCase{"false", false},
        EvalCase{"1 < 2u && 2.5 > 2 && -1 < 0u", true},
        EvalCase{"'b' > 'a'", true}));

TEST(ConditionTest, InListFieldAndRepeatedStrings) {
  v1::Item item;
  item.mutable_report()->set_title("t");
  item.mutable_report()->add_related_item_ids("A-1");
  item.mutable_report()->add_related_item_ids("B-2");
  item.mutable_classification()->add_reshare_to("customs-nl");
  for (auto [when, expected] : std::vector<std::pair<std::string, bool>>{
           {"\"B-2\" in related_item_ids", true},
           {"\"C-3\" in related_item_ids", false},
           {"related_item_ids.exists(i, i.startsWith(\"A\"))", true},
           {"related_item_ids.all(i, i.size() == 3)", true},
           {"\"customs-nl\" in classification.reshare_to", true}}) {
    std::vector<ConditionError> errors;
    auto c = Condition::Compile(when, v1::REPORT, &errors);
    ASSERT_NE(c, nullptr) << when;
    EXPECT_EQ(c->Evaluate(item) == Condition::Result::kTrue, expected) << when;
  }
}

TEST(ConditionTest, SizeCountsCharactersNotBytes) {
  v1::Item item;
  item.mutable_alert()->set_title("Policía");
  std::vector<ConditionError> errors;
  auto c = Condition::Compile("size(title) == 7", v1::ALERT, &errors);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Evaluate(item), Condition::Result::kTrue);
}

TEST(ConditionTest, WrongBodyKindFailsClosed) {
  std::vector<ConditionError> errors;
  auto c = Condition::Compile("title == \"x\"", v1::ALERT, &errors);
  ASSERT_NE(c, nullptr);
  v1::Item report;
  report.mutable_report()->set_title("x");
  EXPECT_EQ(c->Evaluate(report), Condition::Result::kError);
  EXPECT_EQ(c->Evaluate(v1::Item()), Condition::Result::kError);
}

TEST(ConditionTest, ConstantsAndRequiredLevels) {
  std::vector<ConditionError> errors;
  EXPECT_EQ(Condition::Compile("1 == 2", v1::ALERT, &errors)->constant(), false);
  EXPECT_EQ(Condition::Compile("true || false", v1::ALERT, &errors)->constant(), true);
  EXPECT_FALSE(Condition::Compile("severity == HIGH", v1::ALERT, &errors)->constant().has_value());
  auto c = Condition::Compile(
      "classification.tlp == RED && severity >= HIGH && classification.handling_code == H3",
      v1::ALERT, &errors);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->required_levels(), (1u << v1::RED) | (1u << v1::H3));
  auto either = Condition::Compile("classification.tlp == RED || severity >= HIGH",
                                   v1::ALERT, &errors);
  EXPECT_EQ(either->required_levels(), 0u);
  EXPECT_TRUE(errors.empty());
}

struct ErrorCase {
  const char* when;
  size_t offset;
  const char* message;
};

class ConditionErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConditionErrorTest, ReportsWhereAndWhy) {
  std::vector<ConditionError> errors;
  auto c = Condition::Compile(GetParam().when, v1::ALERT, &errors);
  EXPECT_EQ(c, nullptr) << GetParam().when;
  ASSERT_FALSE(errors.empty()) << GetParam().when;
  EXPECT_EQ(errors[0].offset, GetParam().offset) << GetParam().when;
  EXPECT_THAT(errors[0].message, HasSubstr(GetParam().message)) << GetParam().when;
}

INSTANTIATE_TEST_SUITE_P(
    Problems, ConditionErrorTest,
    ::testing::Values(
        ErrorCase{"severity >= HIGHH", 12, "`HIGHH` is not a value of `severity`; choose one of: LOW, MEDIUM, HIGH, CRITICAL (did you mean `HIGH`?)"},
        ErrorCase{"category = PIN_CODE_FRAUD", 9, "use `==`"},
        ErrorCase{"category == SEIZURE and severity == HIGH", 20, "use `&&`"},
        ErrorCase{"containers.number == \"X\"", 11, "`containers` is a list; to test its elements write e.g. `containers.exists(x, x.number == ...)`"},
        ErrorCase{"titel == \"x\"", 0, "`titel` is not a field of an alert or its envelope (did you mean `title`?)"},
        ErrorCase{"severity == AMBER", 12, "`AMBER` is not a value of `severity`"},
        ErrorCase{"severity == 3", 9, "cannot use `==` between a `Severity` value and a whole number; compare with a name"},
        ErrorCase{"title.startsWith(3)", 17, "startsWith() takes text"},
        ErrorCase{"(category == SEIZURE", 20, "expected `)`"},
        ErrorCase{"summary == \"x\"", 0, "`summary` is not a field of an alert"},
        ErrorCase{"title == \"abc", 9, "no closing \""},
        ErrorCase{"severity < HIGH < CRITICAL", 16, "cannot be chained"},
        ErrorCase{"containers.exists(title, true)", 18, "already the name of a field"},
        ErrorCase{"has(1)", 4, "has() takes a field"},
        ErrorCase{"location.position == 1", 18, "cannot use `==` between a group of fields"},
        ErrorCase{"size(severity) > 1", 0, "size() works on text and lists"},
        ErrorCase{"matches(title, \"x\")", 0, "unknown function `matches`"},
        ErrorCase{"persons[0].name == \"x\"", 7, "indexing with [..] is not supported"},
        ErrorCase{"title", 0, "a condition must be true or false"},
        ErrorCase{"severity + 1 > 2", 9, "arithmetic"},
        ErrorCase{"observed_at > timestamp(\"yesterday\")", 24, "RFC 3339"},
        ErrorCase{"location.position.lat > 1", 18, "`GeoPoint` has no field `lat`"},
        ErrorCase{"title.seconds == 1", 6, "text has no fields"},
        ErrorCase{"category in [SEIZURE, AMBER]", 22, "`AMBER` is not a value of `category`"},
        ErrorCase{"title in [1, 2]", 10, "this list holds a whole number but `title` is text"},
        ErrorCase{"category == SEIZURE &&", 22, "ends too early"},
        ErrorCase{"null == title", 0, "`null` is not supported"},
        ErrorCase{"title == \"a\\q\"", 11, "unknown escape"},
        ErrorCase{"12abc == 1", 0, "is not a number"},
        ErrorCase{"-title == 1", 0, "only numbers can be negative"},
        ErrorCase{"severity == HIGH )", 17, "expected `&&`, `||` or the end"},
        ErrorCase{"PIN_CODE_FRAUD == SEIZURE", 0, "`PIN_CODE_FRAUD` is not a field"}));

TEST(ConditionTest, AllErrorsOfBothSidesAreReported) {
  std::vector<ConditionError> errors;
  EXPECT_EQ(Condition::Compile("titel == \"x\" && severity == HIGHH", v1::ALERT, &errors),
            nullptr);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].offset, 0u);
  EXPECT_EQ(errors[1].offset, 28u);
}

TEST(ConditionTest, DeepNestingIsRefused) {
  std::string deep(200, '(');
  deep += "true" + std::string(200, ')');
  std::vector<ConditionError> errors;
  EXPECT_EQ(Condition::Compile(deep, v1::ALERT, &errors), nullptr);
  ASSERT_FALSE(errors.empty());
  EXPECT_THAT(errors[0].message, HasSubstr("nested too deeply"));
  std::string bangs(200, '!');
  errors.clear();
  EXPECT_EQ(Condition::Compile(bangs + "true", v1::ALERT, &errors), nullptr);
}

TEST(ConditionTest, OverlongConditionIsRefused) {
  std::string text = "title == \"" + std::string(kMaxConditionBytes, 'x') + "\"";
  std::vector<ConditionError> errors;
  EXPECT_EQ(Condition::Compile(text, v1::ALERT, &errors), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message, HasSubstr("longer than"));
}

TEST(ConditionTest, ReportFieldsTypeCheckForReports) {
  std::vector<ConditionError> errors;
  EXPECT_NE(Condition::Compile("summary.contains(\"PIN\")", v1::REPORT, &errors), nullptr);
  EXPECT_EQ(Condition::Compile("category == SEIZURE", v1::REPORT, &errors), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message, HasSubstr("`category` is not a field of a report"));
}

}  // namespace
}  // namespace havengate::policy
