#include "proto/identifiers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate {
namespace {

using ::testing::HasSubstr;

TEST(ContainerNumberTest, AcceptsValidNumbers) {
  for (const char* number : {"CSQU3054383", "ZEPU0037255", "MSCU1234566"}) {
    EXPECT_TRUE(ValidateContainerNumber(number).ok()) << number;
  }
}

TEST(ContainerNumberTest, RejectsWrongCheckDigitAndSaysWhichIsExpected) {
  absl::Status status = ValidateContainerNumber("CSQU3054384");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("check digit is 4, expected 3"));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("CSQU")));
}

TEST(ContainerNumberTest, RejectsMalformedNumbers) {
  for (const char* number : {"", "CSQU305438", "CSQX3054383", "csqu3054383",
                             "CS1U3054383", "CSQU30543833", "CSQU30A4383"}) {
    EXPECT_EQ(ValidateContainerNumber(number).code(),
              absl::StatusCode::kInvalidArgument)
        << number;
  }
}

TEST(ContainerNumberTest, CheckDigitSkipsMultiplesOfEleven) {
  // 'K' would be 21 and 'L' 23 (22 is skipped); 'V' is 34 (33 skipped).
  EXPECT_EQ(ContainerCheckDigit("CSQU305438"), 3);
  EXPECT_EQ(ContainerCheckDigit("ZEPU003725"), 5);
}

TEST(ImoNumberTest, AcceptsValidNumbers) {
  for (const char* imo : {"IMO9319466", "IMO8814275", "IMO7710525"}) {
    EXPECT_TRUE(ValidateImoNumber(imo).ok()) << imo;
  }
}

TEST(ImoNumberTest, RejectsWrongCheckDigitAndFormat) {
  EXPECT_THAT(ValidateImoNumber("IMO9319467").message(),
              HasSubstr("check digit is 7, expected 6"));
  for (const char* imo : {"9319466", "IMO931946", "IMO93194660", "IMOX319466"}) {
    EXPECT_EQ(ValidateImoNumber(imo).code(), absl::StatusCode::kInvalidArgument)
        << imo;
  }
}

TEST(MmsiTest, RequiresNineDigitsWithShipStationPrefix) {
  EXPECT_TRUE(ValidateMmsi("244123456").ok());
  EXPECT_TRUE(ValidateMmsi("205123456").ok());
  EXPECT_THAT(ValidateMmsi("45545454").message(), HasSubstr("9 digits"));
  EXPECT_FALSE(ValidateMmsi("24412345a").ok());
  EXPECT_FALSE(ValidateMmsi("944123456").ok());
}

TEST(UnLocodeTest, AcceptsPortsAndRejectsOthers) {
  for (const char* code : {"NLRTM", "BEANR", "DEHAM", "ECGYE", "DEBRV"}) {
    EXPECT_TRUE(ValidateUnLocode(code).ok()) << code;
  }
  for (const char* code : {"nlrtm", "NLRT", "NLRTMX", "N1RTM", "NLRT1"}) {
    EXPECT_FALSE(ValidateUnLocode(code).ok()) << code;
  }
}

TEST(EoriTest, Format) {
  EXPECT_TRUE(ValidateEori("NL123456789").ok());
  EXPECT_FALSE(ValidateEori("NL").ok());
  EXPECT_FALSE(ValidateEori("nl123456789").ok());
  EXPECT_FALSE(ValidateEori("NL1234567890123456").ok());
}

TEST(OrganisationIdTest, Format) {
  EXPECT_TRUE(ValidateOrganisationId("police-nl").ok());
  EXPECT_TRUE(ValidateOrganisationId("port-rtm").ok());
  EXPECT_FALSE(ValidateOrganisationId("Police-NL").ok());
  EXPECT_FALSE(ValidateOrganisationId("-police").ok());
  EXPECT_FALSE(ValidateOrganisationId("p").ok());
}

TEST(ItemIdTest, Format) {
  EXPECT_TRUE(ValidateItemId("01JDXQ7V9T2M3N4P5Q6R7S8T9V").ok());
  EXPECT_TRUE(ValidateItemId("rtm-2026:001.a_b").ok());
  EXPECT_FALSE(ValidateItemId("").ok());
  EXPECT_FALSE(ValidateItemId("has space").ok());
  EXPECT_FALSE(ValidateItemId(std::string(129, 'a')).ok());
}

TEST(IsoDateTest, ChecksTheCalendar) {
  EXPECT_TRUE(ValidateIsoDate("1984-02-29").ok());
  EXPECT_FALSE(ValidateIsoDate("1985-02-29").ok());
  EXPECT_FALSE(ValidateIsoDate("1985-13-01").ok());
  EXPECT_FALSE(ValidateIsoDate("85-01-01").ok());
}

}  // namespace
}  // namespace havengate
