// The `matching` section: its diagnostics, and which keys an item yields.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/matching.h"
#include "policy/policy.h"
#include "policy/policy_testing.h"

namespace havengate::policy {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::LoadWithKeys;
using testing::TempDir;

constexpr char kHeader[] = R"(organisation: police-nl
version: "1"
partners:
  - id: customs-nl
keys:
  - {name: shared, file: shared.key}
  - {name: other, file: other.key}
rules:
  - name: r
    to: customs-nl
    share: [title]
    transform: {persons.name: {pseudonymise: {key: other}}}
)";

std::string Errors(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == Diagnostic::Severity::kError) out += d.ToString() + "\n";
  }
  return out;
}

std::vector<std::string> KeyStrings(const std::vector<v1::MatchKey>& keys) {
  std::vector<std::string> out;
  for (const v1::MatchKey& k : keys) {
    out.push_back(v1::MatchKeyType_Name(k.type()) + "=" + k.key());
  }
  return out;
}

v1::Item Sample() {
  v1::Item item;
  item.set_item_id("x");
  auto* alert = item.mutable_alert();
  auto* c = alert->add_containers();
  c->set_number("mscu4812360 ");
  c->set_seal_number("SL-1");
  auto* v = alert->add_vessels();
  v->set_imo("IMO9319466");
  v->set_mmsi("244123456");
  auto* p = alert->add_persons();
  p->set_name("Kevin Brouwer");
  p->set_badge_id("RWG-20931");
  p->set_document_number("NX1234567");
  auto* masked = alert->add_persons();
  masked->set_badge_id("******931");
  auto* coded = alert->add_persons();
  coded->set_name("ps:00112233445566778899aabbccddeeff");
  auto* co = alert->add_companies();
  co->set_name("  Fresh  Fruit BV ");
  co->set_eori("nl123456789");
  return item;
}

TEST(MatchingTest, DefaultIndexesContainersAndVesselsOnly) {
  TempDir dir;
  auto policy = LoadWithKeys(kHeader, dir);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(KeyStrings((*policy)->MatchKeys(Sample())),
              ElementsAre("CONTAINER_NUMBER=MSCU4812360", "VESSEL_IMO=IMO9319466",
                          "VESSEL_MMSI=244123456"));
  EXPECT_FALSE((*policy)->IndexesMatchKeyType(v1::BADGE_ID));
}

TEST(MatchingTest, PersonalValuesAreIndexedAsPseudonymsUnderTheMatchingKeyOnly) {
  TempDir dir;
  std::vector<Diagnostic> diagnostics;
  auto policy = LoadWithKeys(std::string(kHeader) + R"(matching:
  index: [person_name, badge_id, document_number, company_name, company_eori, seal_number]
  key: shared
)", dir, &diagnostics);
  ASSERT_TRUE(policy.ok()) << Errors(diagnostics);
  std::vector<v1::MatchKey> keys = (*policy)->MatchKeys(Sample());
  std::vector<std::string> strings = KeyStrings(keys);
  for (const std::string& s : strings) {
    EXPECT_THAT(s, ::testing::Not(HasSubstr("Kevin")));
    EXPECT_THAT(s, ::testing::Not(HasSubstr("RWG-20931")));
    EXPECT_THAT(s, ::testing::Not(HasSubstr("NX1234567")));
    EXPECT_THAT(s, ::testing::Not(HasSubstr("931")));  // the masked badge: no key
  }
  // Two names (one in clear made a code, one code kept), one badge, one
  // document, company name and EORI normalised, the seal.
  ASSERT_EQ(keys.size(), 7u) << ::testing::PrintToString(strings);
  EXPECT_THAT(strings, ::testing::Contains("PERSON_NAME=ps:00112233445566778899aabbccddeeff"));
  EXPECT_THAT(strings, ::testing::Contains("COMPANY_NAME=FRESH FRUIT BV"));
  EXPECT_THAT(strings, ::testing::Contains("COMPANY_EORI=NL123456789"));
  EXPECT_THAT(strings, ::testing::Contains("SEAL_NUMBER=SL-1"));
  for (const v1::MatchKey& k : keys) {
    if (IsPersonalMatchKeyType(k.type())) {
      EXPECT_TRUE(IsPseudonymCode(k.key())) << k.key();
    }
  }
  // The badge is indexed as the code the pseudonymise transform would send
  // under the same key: a partner's code meets it.
  auto badge = (*policy)->MatchKeyFor(v1::BADGE_ID, "RWG-20931");
  ASSERT_TRUE(badge.ok());
  EXPECT_THAT(strings, ::testing::Contains("BADGE_ID=" + badge->key()));
}

TEST(MatchingTest, DifferentKeysGiveDifferentCodes) {
  TempDir a, b;
  const std::string matching = R"(matching: {index: [badge_id], key: shared}
)";
  auto first = LoadWithKeys(std::string(kHeader) + matching, a);
  ASSERT_TRUE(first.ok());
  testing::WriteKeyFile(b.path() + "/shared.key", 99);
  auto second = LoadWithKeys(std::string(kHeader) + matching, b);
  ASSERT_TRUE(second.ok());
  EXPECT_NE((*first)->MatchKeyFor(v1::BADGE_ID, "RWG-20931")->key(),
            (*second)->MatchKeyFor(v1::BADGE_ID, "RWG-20931")->key());
}

TEST(MatchingTest, MistakesAreReportedAtTheirPlace) {
  TempDir dir;
  std::vector<Diagnostic> diagnostics;
  auto policy = LoadWithKeys(std::string(kHeader) + R"(matching:
  index: [container_number, badge_id]
)", dir, &diagnostics);
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Errors(diagnostics),
              AllOf(HasSubstr(":14:"), HasSubstr("indexing BADGE_ID (personal data) "
                                                 "needs `matching.key`")));

  diagnostics.clear();
  policy = LoadWithKeys(std::string(kHeader) + R"(matching:
  index: [badge_id]
  key: shraed
)", dir, &diagnostics);
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Errors(diagnostics), AllOf(HasSubstr("`shraed` is not defined under `keys:`"),
                                         HasSubstr("shared")));

  diagnostics.clear();
  policy = LoadWithKeys(std::string(kHeader) + R"(matching:
  index: [container_numbr]
)", dir, &diagnostics);
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Errors(diagnostics), HasSubstr("container_numbr"));
}

TEST(MatchingTest, ValuesGivenByOfficersBecomeKeysOrClearErrors) {
  TempDir dir;
  auto policy = LoadWithKeys(kHeader, dir);
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ((*policy)->MatchKeyFor(v1::CONTAINER_NUMBER, "mscu4812360")->key(),
            "MSCU4812360");
  // No matching key: a personal value in clear gives no key, and the error
  // does not repeat it.
  auto badge = (*policy)->MatchKeyFor(v1::BADGE_ID, "RWG-20931");
  ASSERT_FALSE(badge.ok());
  EXPECT_THAT(badge.status().message(), ::testing::Not(HasSubstr("RWG")));
  EXPECT_TRUE((*policy)
                  ->MatchKeyFor(v1::BADGE_ID, "ps:00112233445566778899aabbccddeeff")
                  .ok());
  EXPECT_EQ(ParseMatchKeyType("Badge_ID").value(), v1::BADGE_ID);
  EXPECT_THAT(ParseMatchKeyType("badge").status().message(), HasSubstr("badge_id"));
}

TEST(MatchingTest, HitQuestionsAreAnsweredOnlyAsTheAnswerRulesSay) {
  TempDir dir;
  auto none = LoadWithKeys(kHeader, dir);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)->AnswersHitQuestion("customs-nl", v1::CONTAINER_NUMBER));

  auto some = LoadWithKeys(std::string(kHeader) + R"(matching:
  answer: [{to: [customs-nl], key_types: [container_number]}]
  contact: desk@police.nl.example
)", dir);
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_TRUE((*some)->AnswersHitQuestion("customs-nl", v1::CONTAINER_NUMBER));
  EXPECT_FALSE((*some)->AnswersHitQuestion("customs-nl", v1::VESSEL_IMO));
  EXPECT_FALSE((*some)->AnswersHitQuestion("port-rtm", v1::CONTAINER_NUMBER));

  std::vector<Diagnostic> diagnostics;
  auto bad = LoadWithKeys(std::string(kHeader) + R"(matching:
  answer: [{to: [custom-nl], key_types: [badge_id]}]
)", dir, &diagnostics);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Errors(diagnostics),
              AllOf(HasSubstr("`custom-nl` is not a partner"),
                    HasSubstr("BADGE_ID is not indexed")));
}

}  // namespace
}  // namespace havengate::policy
