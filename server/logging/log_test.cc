#include "server/logging/log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::log {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

TEST(LogTest, TextLineHasEventAndFieldsAndQuotesSpaces) {
  std::string line = FormatLineForTesting(
      Format::kText, "info", "item_ingested",
      {{"origin", "police-nl"}, {"cursor", 42}, {"reason", "two words"}});
  EXPECT_THAT(line, HasSubstr(" INFO item_ingested origin=police-nl cursor=42"));
  EXPECT_THAT(line, EndsWith("reason=\"two words\""));
}

TEST(LogTest, JsonLineEscapesEverything) {
  std::string line = FormatLineForTesting(
      Format::kJson, "warn", "call_rejected",
      {{"reason", "bad \"quote\"\nnext"}, {"code", 7}});
  EXPECT_THAT(line, HasSubstr("\"level\":\"warn\",\"event\":\"call_rejected\""));
  EXPECT_THAT(line, HasSubstr("\"reason\":\"bad \\\"quote\\\"\\nnext\""));
  EXPECT_THAT(line, EndsWith("\"code\":\"7\"}"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace havengate::log
