// The `requests` section: its diagnostics at their place, its defaults,
// which partner may ask for which fields, and the one-off release body.
#include "policy/field_requests.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/item_paths.h"
#include "policy/policy.h"
#include "policy/policy_testing.h"

namespace havengate::policy {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using testing::LoadWithKeys;
using testing::TempDir;

constexpr char kHeader[] = R"(organisation: police-nl
version: "7"
partners:
  - id: customs-nl
  - id: port-rtm
rules:
  - name: r
    to: customs-nl
    share: [title]
)";

std::string Errors(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == Diagnostic::Severity::kError) out += d.ToString() + "\n";
  }
  return out;
}

TEST(FieldRequestsPolicyTest, NoSectionMeansNoPartnerMayAsk) {
  TempDir dir;
  auto policy = LoadWithKeys(kHeader, dir);
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto terms = (*policy)->FieldRequestTermsFor("customs-nl", {"persons.name"});
  EXPECT_EQ(terms.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(terms.status().message()),
              AllOf(HasSubstr("customs-nl"), HasSubstr("no fields"), HasSubstr("version 7")));
}

TEST(FieldRequestsPolicyTest, RulesGiveTermsWithDefaults) {
  TempDir dir;
  std::vector<Diagnostic> diagnostics;
  auto policy = LoadWithKeys(std::string(kHeader) + R"(requests:
  - from: [customs-nl]
    fields: [persons, containers.number]
  - from: [customs-nl, port-rtm]
    fields: [vessels.imo]
    approvers: 3
    expires_after: 30m
    may_reshare: true
)", dir, &diagnostics);
  ASSERT_TRUE(policy.ok()) << Errors(diagnostics);
  // A message path allows its sub-fields; defaults: four eyes, 72h, no
  // re-sharing.
  auto terms =
      (*policy)->FieldRequestTermsFor("customs-nl", {"persons.name", "containers.number"});
  ASSERT_TRUE(terms.ok()) << terms.status();
  EXPECT_EQ(terms->approvals_needed, 2);
  EXPECT_EQ(terms->expires_after, absl::Hours(72));
  EXPECT_FALSE(terms->may_reshare);
  auto vessel = (*policy)->FieldRequestTermsFor("port-rtm", {"vessels.imo"});
  ASSERT_TRUE(vessel.ok());
  EXPECT_EQ(vessel->approvals_needed, 3);
  EXPECT_EQ(vessel->expires_after, absl::Minutes(30));
  EXPECT_TRUE(vessel->may_reshare);
  // Every field must be allowed by one rule; the refusal names the field.
  auto mixed = (*policy)->FieldRequestTermsFor("customs-nl", {"persons.name", "vessels.imo",
                                                              "title"});
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(mixed.status().message()), HasSubstr("`title`"));
  auto apart = (*policy)->FieldRequestTermsFor("customs-nl", {"persons.name", "vessels.imo"});
  EXPECT_EQ(apart.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(apart.status().message()), HasSubstr("separate requests"));
  auto port = (*policy)->FieldRequestTermsFor("port-rtm", {"persons.name"});
  EXPECT_EQ(port.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("`persons.name`"));
  // `persons` covers `persons.name`, but `persons.na` is not under it.
  EXPECT_TRUE(FieldPathCovers("persons", "persons.name"));
  EXPECT_FALSE(FieldPathCovers("persons.na", "persons.name"));
}

TEST(FieldRequestsPolicyTest, MistakesAreReportedAtTheirPlace) {
  TempDir dir;
  std::vector<Diagnostic> diagnostics;
  auto policy = LoadWithKeys(std::string(kHeader) + R"(requests:
  - from: [customs-nI]
    fields: [persons.nmae]
    approvers: 9
    expires_after: soon
  - fields: [title]
)", dir, &diagnostics);
  ASSERT_FALSE(policy.ok());
  const std::string errors = Errors(diagnostics);
  EXPECT_THAT(errors, AllOf(HasSubstr(":11:"), HasSubstr("`customs-nI` is not a partner"),
                            HasSubstr("did you mean `customs-nl`")));
  EXPECT_THAT(errors, AllOf(HasSubstr(":12:"), HasSubstr("persons.nmae")));
  EXPECT_THAT(errors, AllOf(HasSubstr(":13:"), HasSubstr("approvers: 1 to 5")));
  EXPECT_THAT(errors, AllOf(HasSubstr(":14:"), HasSubstr("`soon` is not a duration")));
  EXPECT_THAT(errors, HasSubstr("needs `from:`"));

  diagnostics.clear();
  policy = LoadWithKeys(std::string(kHeader) + R"(requests:
  - from: [customs-nl]
    fields: [persons.name]
    expires_after: 200000h
)", dir, &diagnostics);
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Errors(diagnostics), HasSubstr("between 1s and 90 days"));

  diagnostics.clear();
  policy = LoadWithKeys(std::string(kHeader) + R"(requests:
  - from: [customs-nl]
    feilds: [persons.name]
)", dir, &diagnostics);
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Errors(diagnostics), HasSubstr("feilds"));
}

TEST(FieldRequestsPolicyTest, OneApproverIsAllowedWithAWarning) {
  TempDir dir;
  std::vector<Diagnostic> diagnostics;
  auto policy = LoadWithKeys(std::string(kHeader) + R"(requests:
  - {from: [customs-nl], fields: [persons.name], approvers: 1}
)", dir, &diagnostics);
  ASSERT_TRUE(policy.ok()) << Errors(diagnostics);
  bool warned = false;
  for (const Diagnostic& d : (*policy)->warnings()) {
    warned |= d.ToString().find("second pair of eyes") != std::string::npos;
  }
  EXPECT_TRUE(warned);
}

TEST(FieldRequestsPolicyTest, ReleaseKeepsOnlyTheApprovedFields) {
  v1::Item item;
  item.set_item_id("x");
  item.mutable_classification()->set_tlp(v1::Classification::AMBER);
  v1::IntelligenceReport* r = item.mutable_report();
  r->set_title("t");
  r->add_containers()->set_number("MSCU4812360");
  for (const char* name : {"A", "B"}) {
    v1::Person* p = r->add_persons();
    p->set_name(name);
    p->set_document_number(std::string("D") + name);
    p->set_badge_id("badge");
  }
  r->mutable_location()->set_unlocode("NLRTM");
  v1::Item release = KeepOnlyFields(item, {"persons.name", "location"});
  EXPECT_THAT(PresentLeafPaths(release),
              UnorderedElementsAre("persons.name", "location.unlocode"));
  ASSERT_EQ(release.report().persons_size(), 2);
  EXPECT_EQ(release.report().persons(1).name(), "B");
  EXPECT_EQ(release.report().persons(1).document_number(), "");
  EXPECT_EQ(release.item_id(), "x");
  EXPECT_EQ(release.classification().tlp(), v1::Classification::AMBER);
}

}  // namespace
}  // namespace havengate::policy
