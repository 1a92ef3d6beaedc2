#include "policy/transform.h"

#include <sys/stat.h>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/policy_testing.h"
#include "policy/pseudonymiser.h"

namespace havengate::policy {
namespace {

using ::testing::HasSubstr;

TransformSpec Spec(TransformKind kind, int param = 0, std::string text = "") {
  TransformSpec s;
  s.kind = kind;
  s.param = param;
  s.text = std::move(text);
  return s;
}

TEST(PseudonymiserTest, MatchesRfc4231HmacSha256) {
  // RFC 4231, test case 2.
  auto p = Pseudonymiser::Create(SecretKey::FromBytesForTesting("Jefe"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(absl::BytesToHexString((*p)->HmacForTesting("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ((*p)->Pseudonymise("what do ya want for nothing?"),
            "ps:5bdcc146bf60754e6a042426089575c7");
}

TEST(PseudonymiserTest, LongKeysAreHashedFirst) {
  // RFC 4231, test case 6: a 131-byte key.
  auto p = Pseudonymiser::Create(SecretKey::FromBytesForTesting(std::string(131, '\xaa')));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(absl::BytesToHexString(
                (*p)->HmacForTesting("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(PseudonymiserTest, StablePerKeyDifferentAcrossKeys) {
  auto a = Pseudonymiser::Create(SecretKey::FromBytesForTesting(std::string(32, 'a')));
  auto b = Pseudonymiser::Create(SecretKey::FromBytesForTesting(std::string(32, 'b')));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->Pseudonymise("Jan Jansen"), (*a)->Pseudonymise("Jan Jansen"));
  EXPECT_NE((*a)->Pseudonymise("Jan Jansen"), (*a)->Pseudonymise("Jan Janssen"));
  EXPECT_NE((*a)->Pseudonymise("Jan Jansen"), (*b)->Pseudonymise("Jan Jansen"));
  EXPECT_THAT((*a)->Pseudonymise(""), ::testing::MatchesRegex("ps:[0-9a-f]{32}"));
}

TEST(SecretKeyTest, ReadsFilesOfAtLeast32Bytes) {
  testing::TempDir dir;
  dir.WriteFile("short.key", std::string(31, 'x'));
  dir.WriteFile("ok.key", std::string(32, 'x'));
  auto missing = SecretKey::ReadFile(dir.path() + "/missing.key");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto short_key = SecretKey::ReadFile(dir.path() + "/short.key");
  EXPECT_EQ(short_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_key.status().message(), HasSubstr("holds 31 bytes"));
  EXPECT_THAT(short_key.status().message(), ::testing::Not(HasSubstr("xxxx")));
  auto ok = SecretKey::ReadFile(dir.path() + "/ok.key");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 32u);
}

TEST(SecretKeyTest, CreateRandomKeyFileIsPrivateAndNeverOverwrites) {
  testing::TempDir dir;
  std::string path = dir.path() + "/k.key";
  ASSERT_TRUE(CreateRandomKeyFile(path).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  std::string first = testing::ReadFileOrDie(path);
  EXPECT_EQ(CreateRandomKeyFile(path).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(testing::ReadFileOrDie(path), first);
  std::string other = dir.path() + "/k2.key";
  ASSERT_TRUE(CreateRandomKeyFile(other).ok());
  EXPECT_NE(testing::ReadFileOrDie(other), first);
}

TEST(TransformTest, MaskKeepsLastCharactersAndHidesShortValues) {
  EXPECT_EQ(MaskText("RWG-20931", 3), "******931");
  EXPECT_EQ(MaskText("RWG-20931", 0), "*********");
  EXPECT_EQ(MaskText("931", 3), "***");
  EXPECT_EQ(MaskText("ab", 5), "**");
  EXPECT_EQ(MaskText("Policía", 2), "*****ía");
  EXPECT_EQ(MaskText("", 2), "");
}

TEST(TransformTest, TruncateFloorsToUnit) {
  // 2026-11-28T03:17:45Z
  const int64_t t = 1795835865;
  EXPECT_EQ(TruncateSeconds(t, v1::TruncateTime::MINUTE), 1795835820);
  EXPECT_EQ(TruncateSeconds(t, v1::TruncateTime::HOUR), 1795834800);
  EXPECT_EQ(TruncateSeconds(t, v1::TruncateTime::DAY), 1795824000);
  EXPECT_EQ(TruncateSeconds(-1, v1::TruncateTime::DAY), -86400);
  EXPECT_EQ(TruncateSeconds(-86400, v1::TruncateTime::DAY), -86400);
}

TEST(TransformTest, RoundGeoRoundsHalfAwayFromZero) {
  EXPECT_DOUBLE_EQ(RoundCoordinate(51.951287, 2), 51.95);
  EXPECT_DOUBLE_EQ(RoundCoordinate(4.034762, 3), 4.035);
  EXPECT_DOUBLE_EQ(RoundCoordinate(-75.612903, 1), -75.6);
  EXPECT_DOUBLE_EQ(RoundCoordinate(-0.5, 0), -1.0);
  EXPECT_DOUBLE_EQ(RoundCoordinate(12.5, 0), 13.0);
}

TEST(TransformTest, PrecedenceFollowsTheDocumentedOrder) {
  std::vector<TransformSpec> ordered = {
      Spec(TransformKind::kTruncateTime, v1::TruncateTime::DAY),
      Spec(TransformKind::kMask, 0), Spec(TransformKind::kReplace, 0, "x"),
      Spec(TransformKind::kPseudonymise, 0, "k"), Spec(TransformKind::kRedact)};
  for (size_t i = 0; i < ordered.size(); ++i) {
    for (size_t j = 0; j < ordered.size(); ++j) {
      EXPECT_EQ(MoreProtective(ordered[i], ordered[j]), i > j) << i << " vs " << j;
    }
  }
  EXPECT_FALSE(MoreProtective(Spec(TransformKind::kRoundGeo, 1),
                              Spec(TransformKind::kTruncateTime, 3)) &&
               MoreProtective(Spec(TransformKind::kTruncateTime, 3),
                              Spec(TransformKind::kRoundGeo, 1)));
}

TEST(TransformTest, SameKindPicksTheMoreProtectiveParameter) {
  EXPECT_TRUE(MoreProtective(Spec(TransformKind::kTruncateTime, v1::TruncateTime::DAY),
                             Spec(TransformKind::kTruncateTime, v1::TruncateTime::HOUR)));
  EXPECT_TRUE(MoreProtective(Spec(TransformKind::kRoundGeo, 1), Spec(TransformKind::kRoundGeo, 3)));
  EXPECT_TRUE(MoreProtective(Spec(TransformKind::kMask, 2), Spec(TransformKind::kMask, 4)));
  EXPECT_FALSE(MoreProtective(Spec(TransformKind::kMask, 4), Spec(TransformKind::kMask, 2)));
  // Equally protective: deterministic by name, independent of order.
  EXPECT_TRUE(MoreProtective(Spec(TransformKind::kPseudonymise, 0, "a"),
                             Spec(TransformKind::kPseudonymise, 0, "b")));
  EXPECT_FALSE(MoreProtective(Spec(TransformKind::kPseudonymise, 0, "b"),
                              Spec(TransformKind::kPseudonymise, 0, "a")));
  EXPECT_TRUE(MoreProtective(Spec(TransformKind::kReplace, 0, "A"),
                             Spec(TransformKind::kReplace, 0, "B")));
}

TEST(TransformTest, ApplicabilityFollowsFieldTypes) {
  const BodySchema& s = BodySchema::Alert();
  auto node = [&](const char* path) { return s.node(*s.Find(path)); };
  EXPECT_EQ(CheckApplicable(Spec(TransformKind::kPseudonymise), node("persons.name")), "");
  EXPECT_THAT(CheckApplicable(Spec(TransformKind::kPseudonymise), node("persons.role")),
              HasSubstr("`persons.role` is a choice from a list; pseudonymise works on text"));
  EXPECT_EQ(CheckApplicable(Spec(TransformKind::kTruncateTime, 1), node("observed_at")), "");
  EXPECT_THAT(CheckApplicable(Spec(TransformKind::kTruncateTime, 1), node("title")),
              HasSubstr("truncate_time works on times only"));
  EXPECT_EQ(CheckApplicable(Spec(TransformKind::kRoundGeo, 1), node("location.position")), "");
  EXPECT_EQ(CheckApplicable(Spec(TransformKind::kRoundGeo, 1), node("location.position.latitude")), "");
  EXPECT_THAT(CheckApplicable(Spec(TransformKind::kRoundGeo, 1), node("location")),
              HasSubstr("round_geo works on positions"));
  EXPECT_EQ(CheckApplicable(Spec(TransformKind::kRedact), node("persons")), "");
  EXPECT_THAT(CheckApplicable(Spec(TransformKind::kMask, 2), node("attachments.size_bytes")),
              HasSubstr("a whole number"));
  EXPECT_THAT(CheckApplicable(Spec(TransformKind::kRedact), s.node(0)), HasSubstr("whole body"));
}

TEST(TransformTest, SpecFromProtoChecksParameters) {
  std::string error;
  v1::Transform t;
  EXPECT_EQ(SpecFromProto(t, &error).kind, TransformKind::kNone);
  EXPECT_THAT(error, HasSubstr("choose a transform"));
  t.mutable_truncate_time();
  error.clear();
  EXPECT_EQ(SpecFromProto(t, &error).kind, TransformKind::kNone);
  EXPECT_THAT(error, HasSubstr("MINUTE, HOUR or DAY"));
  t.mutable_round_geo()->set_decimals(7);
  error.clear();
  EXPECT_EQ(SpecFromProto(t, &error).kind, TransformKind::kNone);
  EXPECT_THAT(error, HasSubstr("0 to 6"));
  t.mutable_mask()->set_keep_last(4);
  error.clear();
  TransformSpec spec = SpecFromProto(t, &error);
  EXPECT_EQ(spec.kind, TransformKind::kMask);
  EXPECT_EQ(spec.param, 4);
  EXPECT_EQ(spec.Describe(), "mask keeping the last 4 characters");
  t.mutable_pseudonymise();
  EXPECT_EQ(SpecFromProto(t, &error).kind, TransformKind::kNone);
}

TEST(SchemaTest, PreorderRangesAndPaths) {
  const BodySchema& s = BodySchema::Alert();
  int location = *s.Find("location");
  int position = *s.Find("location.position");
  int latitude = *s.Find("location.position.latitude");
  EXPECT_LT(location, position);
  EXPECT_LT(position, latitude);
  EXPECT_LE(s.node(position).end, s.node(location).end);
  EXPECT_TRUE(s.node(position).geo_point);
  EXPECT_TRUE(s.node(*s.Find("observed_at")).leaf);
  EXPECT_EQ(s.node(*s.Find("observed_at")).type, ValueType::kTimestamp);
  EXPECT_TRUE(s.node(*s.Find("containers")).repeated);
  EXPECT_EQ(*s.Find("*"), 0);
  EXPECT_EQ(s.node(0).end, s.size());
  // Every node's path resolves back to it.
  for (int i = 1; i < s.size(); ++i) EXPECT_EQ(*s.Find(s.node(i).path), i);
  EXPECT_TRUE(BodySchema::Report().Find("related_item_ids").ok());
  EXPECT_FALSE(BodySchema::Alert().Find("related_item_ids").ok());
}

TEST(SchemaTest, FindExplainsWhatIsWrong) {
  const BodySchema& s = BodySchema::Alert();
  EXPECT_THAT(s.Find("containers.numbr").status().message(),
              HasSubstr("`containers` has no field `numbr` (did you mean `number`?)"));
  EXPECT_THAT(s.Find("observed_at.seconds").status().message(),
              HasSubstr("`observed_at` is a time and has no sub-fields"));
  EXPECT_THAT(s.Find("summary").status().message(), HasSubstr("an alert has no field `summary`"));
  EXPECT_THAT(BodySchema::Report().Find("category").status().message(),
              HasSubstr("a report has no field `category`"));
}

TEST(FieldSetTest, RangeOperationsAcrossWords) {
  FieldSet a(150), b(150);
  a.SetRange(60, 70);
  EXPECT_TRUE(a.AllInRange(60, 70));
  EXPECT_FALSE(a.AllInRange(59, 70));
  EXPECT_TRUE(a.AnyInRange(0, 61));
  EXPECT_FALSE(a.AnyInRange(70, 150));
  b.SetRange(0, 150);
  EXPECT_TRUE(a.IsSubsetOf(b));
  EXPECT_FALSE(b.IsSubsetOf(a));
  b.Subtract(a);
  EXPECT_FALSE(b.AnyInRange(60, 70));
  EXPECT_TRUE(b.AllInRange(70, 150));
  b |= a;
  EXPECT_TRUE(b.AllInRange(0, 150));
  b.Clear();
  EXPECT_TRUE(b.Empty());
}

}  // namespace
}  // namespace havengate::policy
