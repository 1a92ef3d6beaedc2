#include "proto/json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "havengate/v1/item.pb.h"

namespace havengate {
namespace {

using ::testing::HasSubstr;

TEST(JsonTest, RoundTripsWithProtoFieldNames) {
  auto item = ParseJsonAs<v1::Item>(
      R"({"itemId": "a1", "alert": {"persons": [{"dateOfBirth": "1980-01-01"}]}})");
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->alert().persons(0).date_of_birth(), "1980-01-01");
  std::string json = ToJson(*item, {.pretty = false});
  EXPECT_THAT(json, HasSubstr("\"date_of_birth\":\"1980-01-01\""));
  auto again = ParseJsonAs<v1::Item>(json);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->SerializeAsString(), item->SerializeAsString());
}

TEST(JsonTest, UnknownFieldIsNamedWithItsPath) {
  auto item = ParseJsonAs<v1::Item>(
      R"({"item_id": "a", "alert": {"containers": [{"number": "x", "colour": "red"}]}})");
  ASSERT_FALSE(item.ok());
  EXPECT_EQ(item.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(item.status().message(),
            "alert.containers[0]: unknown field \"colour\"");
}

TEST(JsonTest, UnknownEnumNameIsNamed) {
  auto item = ParseJsonAs<v1::Item>(R"({"alert": {"category": "SEIZ"}})");
  ASSERT_FALSE(item.ok());
  EXPECT_THAT(item.status().message(), HasSubstr("alert.category"));
  EXPECT_THAT(item.status().message(), HasSubstr("havengate.v1.Alert.Category"));
}

TEST(JsonTest, MalformedJsonIsReported) {
  auto item = ParseJsonAs<v1::Item>(R"({"item_id": "a",)");
  ASSERT_FALSE(item.ok());
  EXPECT_THAT(item.status().message(), HasSubstr("malformed JSON"));
}

TEST(JsonTest, BadTimeIsExplained) {
  auto item = ParseJsonAs<v1::Item>(R"({"alert": {"observed_at": "yesterday"}})");
  ASSERT_FALSE(item.ok());
  EXPECT_THAT(item.status().message(), HasSubstr("alert.observed_at: is not a time"));
}

TEST(JsonTest, QuoteEscapes) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

}  // namespace
}  // namespace havengate
