#include "certs/x509.h"

#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "certs/ca.h"
#include "certs/pki_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::pki {
namespace {

using ::testing::HasSubstr;

class X509Test : public ::testing::Test {
 protected:
  void SetUp() override {
    police_.emplace(testing::MakeCa(Path("police-ca"), "police-nl", "police.nl.example"));
    customs_.emplace(
        testing::MakeCa(Path("customs-ca"), "customs-nl", "customs.nl.example"));
  }

  std::string Path(absl::string_view name) const { return dir_.Path(name); }
  Certificate Issue(const CertificateAuthority& ca, Role role,
                    const CertificateOverridesForTesting* o = nullptr) {
    const std::string name =
        absl::StrCat(role == Role::kGateway ? "gw" : "n", ++counter_);
    return testing::IssueCert(ca, role, name, Path("out"), {}, o).certificate;
  }
  TrustAnchor PoliceAnchor(std::optional<Crl> crl = std::nullopt) const {
    return TrustAnchor{"police.nl.example", police_->certificate(), std::move(crl)};
  }
  // The reason VerifyPeerCertificate gives, or "ok".
  std::string Verify(const Certificate& leaf, const TrustAnchor& anchor,
                     absl::Time at, Purpose purpose = Purpose::kClientAuth) {
    absl::StatusOr<SpiffeId> id = VerifyPeerCertificate(leaf, {}, anchor, {at, purpose});
    if (id.ok()) return "ok";
    EXPECT_TRUE(absl::IsUnauthenticated(id.status())) << id.status();
    std::optional<RejectReason> reason = GetRejectReason(id.status());
    EXPECT_TRUE(reason.has_value()) << id.status();
    last_message_ = std::string(id.status().message());
    return reason.has_value() ? std::string(RejectReasonName(*reason)) : "?";
  }

  testing::TempDir dir_{"hg-x509-test"};
  int counter_ = 0;
  std::optional<CertificateAuthority> police_;
  std::optional<CertificateAuthority> customs_;
  std::string last_message_;
};

TEST_F(X509Test, ValidCertificateVerifiesWithItsIdentity) {
  Certificate client = Issue(*police_, Role::kClient);
  absl::StatusOr<SpiffeId> id =
      VerifyPeerCertificate(client, {}, PoliceAnchor(), {absl::Now(), Purpose::kClientAuth});
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role(), Role::kClient);
  EXPECT_EQ(id->trust_domain(), "police.nl.example");
}

TEST_F(X509Test, ValidityWindowIsCheckedAtTheGivenTime) {
  Certificate client = Issue(*police_, Role::kClient);
  EXPECT_EQ(Verify(client, PoliceAnchor(), client.not_after() + absl::Seconds(1)),
            "expired");
  EXPECT_THAT(last_message_, HasSubstr("certificate expired at"));
  EXPECT_EQ(Verify(client, PoliceAnchor(), client.not_before() - absl::Seconds(1)),
            "not_yet_valid");
  EXPECT_EQ(Verify(client, PoliceAnchor(), client.not_after() - absl::Seconds(1)), "ok");
}

TEST_F(X509Test, ExpiredCaIsNamedAsSuch) {
  Certificate client = Issue(*police_, Role::kClient);
  EXPECT_EQ(Verify(client, PoliceAnchor(),
                   police_->certificate().not_after() + absl::Hours(1)),
            "expired");
  EXPECT_THAT(last_message_, HasSubstr("CA certificate expired"));
}

TEST_F(X509Test, ReasonsForBadCertificates) {
  const absl::Time now = absl::Now();
  struct Case {
    std::string label;
    CertificateOverridesForTesting overrides;
    Role role;
    std::string want;
  };
  std::vector<Case> cases;
  auto add = [&](std::string label, Role role, std::string want,
                 auto&& edit) {
    Case c{std::move(label), {}, role, std::move(want)};
    edit(c.overrides);
    cases.push_back(std::move(c));
  };
  add("self-signed", Role::kClient, "self_signed",
      [](auto& o) { o.self_signed = true; });
  add("serverAuth only", Role::kClient, "bad_key_usage",
      [](auto& o) { o.extended_key_usage = std::vector<int>{NID_server_auth}; });
  add("no EKU", Role::kClient, "bad_key_usage",
      [](auto& o) { o.extended_key_usage = std::vector<int>{}; });
  add("no key usage", Role::kClient, "bad_key_usage",
      [](auto& o) { o.key_usage = 0u; });
  add("keyEncipherment only", Role::kClient, "bad_key_usage",
      [](auto& o) { o.key_usage = uint32_t{KU_KEY_ENCIPHERMENT}; });
  add("leaf may sign certificates", Role::kClient, "bad_key_usage",
      [](auto& o) { o.key_usage = uint32_t{KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN}; });
  add("no URI SAN", Role::kClient, "missing_spiffe_id",
      [](auto& o) { o.uri_sans = std::vector<std::string>{}; });
  add("two URI SANs", Role::kClient, "invalid_spiffe_id", [](auto& o) {
    o.uri_sans = std::vector<std::string>{"spiffe://police.nl.example/client/a",
                                          "spiffe://police.nl.example/client/b"};
  });
  add("not a SPIFFE id", Role::kClient, "invalid_spiffe_id", [](auto& o) {
    o.uri_sans = std::vector<std::string>{"https://police.nl.example/client/a"};
  });
  add("other trust domain", Role::kClient, "unknown_trust_domain", [](auto& o) {
    o.uri_sans = std::vector<std::string>{"spiffe://customs.nl.example/client/a"};
  });
  add("expired", Role::kClient, "expired", [&](auto& o) {
    o.not_before = now - absl::Hours(2);
    o.not_after = now - absl::Hours(1);
  });
  add("not yet valid", Role::kClient, "not_yet_valid", [&](auto& o) {
    o.not_before = now + absl::Hours(1);
    o.not_after = now + absl::Hours(2);
  });
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    Certificate cert = Issue(*police_, c.role, &c.overrides);
    EXPECT_EQ(Verify(cert, PoliceAnchor(), now), c.want) << last_message_;
  }
}

TEST_F(X509Test, OnlyTheClaimedDomainsCaCounts) {
  const absl::Time now = absl::Now();
  Certificate customs_client = Issue(*customs_, Role::kClient);
  // Verified against the police anchor (as if it claimed police): refused.
  CertificateOverridesForTesting claim_police;
  claim_police.uri_sans = std::vector<std::string>{"spiffe://police.nl.example/gateway"};
  Certificate forged = Issue(*customs_, Role::kGateway, &claim_police);
  EXPECT_EQ(Verify(forged, PoliceAnchor(), now), "unknown_issuer");
  EXPECT_TRUE(SignedBy(forged, customs_->certificate()));
  EXPECT_FALSE(SignedBy(forged, police_->certificate()));
  // Against its own CA the forged identity breaks the name constraints.
  absl::Status nc = VerifyCertificate(
      forged, {}, {"customs.nl.example", customs_->certificate(), std::nullopt},
      {now, Purpose::kClientAuth});
  EXPECT_EQ(GetRejectReason(nc), RejectReason::kNameConstraintViolation) << nc;
  EXPECT_EQ(Verify(customs_client, PoliceAnchor(), now), "unknown_trust_domain");
}

TEST_F(X509Test, PurposeMustMatch) {
  Certificate client = Issue(*police_, Role::kClient);
  EXPECT_EQ(Verify(client, PoliceAnchor(), absl::Now(), Purpose::kServerAuth),
            "bad_key_usage");
  Certificate gateway = Issue(*police_, Role::kGateway);
  EXPECT_EQ(Verify(gateway, PoliceAnchor(), absl::Now(), Purpose::kServerAuth), "ok");
  EXPECT_EQ(Verify(gateway, PoliceAnchor(), absl::Now(), Purpose::kClientAuth), "ok");
}

TEST_F(X509Test, CrlIsHonouredAndMustBeFresh) {
  const absl::Time now = absl::Now();
  Certificate revoked = Issue(*police_, Role::kClient);
  Certificate good = Issue(*police_, Role::kClient);
  ASSERT_TRUE(police_->RevokeCertificate(revoked, now).ok());
  absl::StatusOr<Crl> crl = police_->WriteCrl(absl::Hours(24), "", now);
  ASSERT_TRUE(crl.ok());
  EXPECT_EQ(Verify(revoked, PoliceAnchor(*crl), now), "revoked");
  EXPECT_THAT(last_message_, HasSubstr(revoked.SerialHex()));
  EXPECT_EQ(Verify(good, PoliceAnchor(*crl), now), "ok");
  // Without the CRL nobody knows.
  EXPECT_EQ(Verify(revoked, PoliceAnchor(), now), "ok");
  // A CRL past its nextUpdate fails closed.
  EXPECT_EQ(Verify(good, PoliceAnchor(*crl), now + absl::Hours(25)), "crl_unavailable");
  // A CRL of another CA is no CRL for this one.
  absl::StatusOr<Crl> other = customs_->WriteCrl(absl::Hours(24), Path("c.crl"), now);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->CheckIssuedBy(police_->certificate()).ok());
  EXPECT_EQ(Verify(good, PoliceAnchor(*other), now), "crl_unavailable");
}

TEST_F(X509Test, CaValidation) {
  EXPECT_TRUE(ValidateCaCertificate(police_->certificate(), "police.nl.example").ok());
  absl::Status wrong = ValidateCaCertificate(police_->certificate(), "customs.nl.example");
  EXPECT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("police.nl.example"));
  EXPECT_FALSE(ValidateCaCertificate(Issue(*police_, Role::kGateway), "police.nl.example").ok());
}

TEST_F(X509Test, PemParsing) {
  Certificate gw = Issue(*police_, Role::kGateway);
  const std::string pem = gw.ToPem();
  absl::StatusOr<Certificate> back = Certificate::FromPem(pem);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->SerialHex(), gw.SerialHex());
  EXPECT_EQ(back->Sha256Fingerprint().size(), 64u);
  absl::StatusOr<std::vector<Certificate>> two =
      ParsePemCertificates(pem + police_->certificate().ToPem());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);
  EXPECT_FALSE(Certificate::FromPem(pem + pem).ok());
  EXPECT_FALSE(Certificate::FromPem("").ok());
  EXPECT_FALSE(Certificate::FromPem("garbage").ok());
  std::string corrupt = pem;
  corrupt[corrupt.size() / 2] ^= 0x11;
  EXPECT_FALSE(Certificate::FromPem(corrupt).ok());
  EXPECT_FALSE(GetRejectReason(absl::InternalError("x")).has_value());
}

TEST_F(X509Test, PrivateKeyFilesAreOwnerOnlyAndNeverOverwritten) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateP256();
  ASSERT_TRUE(key.ok());
  const std::string path = Path("k.pem");
  ASSERT_TRUE(key->WriteToNewFile(path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::Status again = key->WriteToNewFile(path);
  EXPECT_TRUE(absl::IsAlreadyExists(again));
  EXPECT_THAT(std::string(again.message()), HasSubstr(path));
  EXPECT_TRUE(PrivateKey::ReadFile(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(PrivateKey::ReadFile(path).status()));
  // A symlink planted at the target is not followed.
  ASSERT_EQ(symlink(Path("elsewhere").c_str(), Path("link.pem").c_str()), 0);
  EXPECT_FALSE(key->WriteToNewFile(Path("link.pem")).ok());
  EXPECT_FALSE(std::filesystem::exists(Path("elsewhere")));
}

}  // namespace
}  // namespace havengate::pki
