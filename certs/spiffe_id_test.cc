#include "certs/spiffe_id.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::pki {
namespace {

using ::testing::HasSubstr;

TEST(SpiffeIdTest, ParsesTheThreeShapes) {
  absl::StatusOr<SpiffeId> gw = SpiffeId::Parse("spiffe://police.nl.example/gateway");
  ASSERT_TRUE(gw.ok()) << gw.status();
  EXPECT_EQ(gw->trust_domain(), "police.nl.example");
  EXPECT_EQ(gw->role(), Role::kGateway);
  EXPECT_EQ(gw->name(), "");
  EXPECT_EQ(gw->ToString(), "spiffe://police.nl.example/gateway");

  absl::StatusOr<SpiffeId> client =
      SpiffeId::Parse("spiffe://customs.nl.example/client/risk-engine_2.v1");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->role(), Role::kClient);
  EXPECT_EQ(client->name(), "risk-engine_2.v1");
  EXPECT_EQ(client->ToString(), "spiffe://customs.nl.example/client/risk-engine_2.v1");

  absl::StatusOr<SpiffeId> officer =
      SpiffeId::Parse("spiffe://port-of-antwerp.be.example/officer/anna");
  ASSERT_TRUE(officer.ok()) << officer.status();
  EXPECT_EQ(officer->role(), Role::kOfficer);
  EXPECT_EQ(officer->name(), "anna");
}

TEST(SpiffeIdTest, RejectsEverythingElse) {
  const std::string long_name(65, 'a');
  const std::string long_label(64, 'a');
  const char* bad[] = {
      "",
      "spiffe://",
      "SPIFFE://police.nl.example/gateway",         // scheme case
      "https://police.nl.example/gateway",          // scheme
      "spiffe:/police.nl.example/gateway",
      "spiffe://Police.nl.example/gateway",         // upper-case domain
      "spiffe://police.nl.example",                 // no path
      "spiffe://police.nl.example/",                // empty path
      "spiffe://police.nl.example/gateway/",        // trailing slash
      "spiffe://police.nl.example/gateway/x",       // gateway has no name
      "spiffe://police.nl.example/client",          // name missing
      "spiffe://police.nl.example/client/",         // name empty
      "spiffe://police.nl.example/client/a/b",      // extra segment
      "spiffe://police.nl.example/admin/a",         // unknown role
      "spiffe://police.nl.example/Client/a",        // role case
      "spiffe://police.nl.example/client/Anna",     // name case
      "spiffe://police.nl.example/client/..",       // dot segment
      "spiffe://police.nl.example/client/.",        // dot segment
      "spiffe://police.nl.example/client/-rf",      // leading '-'
      "spiffe://police.nl.example/client/a%2fb",    // percent-encoding
      "spiffe://police.nl.example/client/a?x=1",    // query
      "spiffe://police.nl.example/gateway?x=1",     // query
      "spiffe://police.nl.example/gateway#f",       // fragment
      "spiffe://police.nl.example:443/gateway",     // port
      "spiffe://user@police.nl.example/gateway",    // user info
      "spiffe://police..example/gateway",           // empty label
      "spiffe://.police.example/gateway",           // leading dot
      "spiffe://police.example./gateway",           // trailing dot
      "spiffe://-police.example/gateway",           // label starts with '-'
      "spiffe://police-.example/gateway",           // label ends with '-'
      "spiffe://10.0.0.1/gateway",                  // IP address
      "spiffe://police_nl.example/gateway",         // '_' in domain
      "spiffe://police.nl.example//gateway",        // double slash
      " spiffe://police.nl.example/gateway",        // whitespace
  };
  for (const char* uri : bad) {
    EXPECT_FALSE(SpiffeId::Parse(uri).ok()) << uri;
  }
  EXPECT_FALSE(
      SpiffeId::Parse("spiffe://police.nl.example/client/" + long_name).ok());
  EXPECT_TRUE(
      SpiffeId::Parse("spiffe://police.nl.example/client/" + long_name.substr(1))
          .ok());
  EXPECT_FALSE(SpiffeId::Parse("spiffe://" + long_label + ".example/gateway").ok());
  EXPECT_FALSE(
      SpiffeId::Parse(std::string("spiffe://police.nl.example/client/a\0b", 37)).ok());
}

TEST(SpiffeIdTest, ErrorsSayWhatIsWrong) {
  EXPECT_THAT(std::string(SpiffeId::Parse("spiffe://Police.example/gateway")
                              .status()
                              .message()),
              HasSubstr("lower-case"));
  EXPECT_THAT(std::string(SpiffeId::Parse("spiffe://police.example/admin/x")
                              .status()
                              .message()),
              HasSubstr("/gateway, /client/<name> or /officer/<name>"));
  EXPECT_THAT(std::string(SpiffeId::Parse("spiffe://p.example:1/gateway")
                              .status()
                              .message()),
              HasSubstr("no port"));
}

TEST(SpiffeIdTest, MakeValidatesLikeParse) {
  absl::StatusOr<SpiffeId> id = SpiffeId::Make("police.nl.example", Role::kClient, "pcs");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, *SpiffeId::Parse("spiffe://police.nl.example/client/pcs"));
  EXPECT_FALSE(SpiffeId::Make("police.nl.example", Role::kGateway, "x").ok());
  EXPECT_FALSE(SpiffeId::Make("police.nl.example", Role::kOfficer, "").ok());
  EXPECT_FALSE(SpiffeId::Make("POLICE", Role::kGateway).ok());
  EXPECT_NE(*SpiffeId::Make("a.example", Role::kClient, "x"),
            *SpiffeId::Make("a.example", Role::kOfficer, "x"));
}

TEST(SpiffeIdTest, TrustDomainUriRoundTrip) {
  EXPECT_EQ(SpiffeId::TrustDomainUri("police.nl.example"), "spiffe://police.nl.example");
  absl::StatusOr<std::string> d = SpiffeId::ParseTrustDomainUri("spiffe://police.nl.example");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "police.nl.example");
  EXPECT_FALSE(SpiffeId::ParseTrustDomainUri("spiffe://police.nl.example/gateway").ok());
}

TEST(RoleTest, NamesRoundTrip) {
  for (Role r : {Role::kGateway, Role::kClient, Role::kOfficer}) {
    absl::StatusOr<Role> parsed = ParseRole(RoleName(r));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, r);
  }
  EXPECT_FALSE(ParseRole("admin").ok());
  EXPECT_FALSE(ParseRole("Gateway").ok());
}

}  // namespace
}  // namespace havengate::pki
