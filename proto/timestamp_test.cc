#include "proto/timestamp.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate {
namespace {

using ::testing::HasSubstr;

TEST(TimestampTest, RoundTripsToTheNanosecond) {
  const absl::Time t = absl::FromUnixSeconds(1'800'000'000) +
                       absl::Nanoseconds(123'456'789);
  google::protobuf::Timestamp ts = ToTimestamp(t);
  EXPECT_EQ(ts.seconds(), 1'800'000'000);
  EXPECT_EQ(ts.nanos(), 123'456'789);
  EXPECT_EQ(FromTimestamp(ts), t);
}

TEST(TimestampTest, NanosStayPositiveBeforeTheEpoch) {
  google::protobuf::Timestamp ts =
      ToTimestamp(absl::UnixEpoch() - absl::Milliseconds(1500));
  EXPECT_EQ(ts.seconds(), -2);
  EXPECT_EQ(ts.nanos(), 500'000'000);
}

TEST(ParseTimeArgumentTest, AcceptsRfc3339AndDates) {
  EXPECT_EQ(*ParseTimeArgument("2026-11-28T14:05:00Z"),
            absl::FromUnixSeconds(1795874700));
  EXPECT_EQ(*ParseTimeArgument("2026-11-28"), absl::FromUnixSeconds(1795824000));
  EXPECT_THAT(ParseTimeArgument("yesterday").status().message(),
              HasSubstr("RFC 3339"));
}

}  // namespace
}  // namespace havengate
