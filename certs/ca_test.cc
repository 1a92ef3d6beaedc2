#include "certs/ca.h"

#include "certs/pki_testing.h"

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::pki {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// The extension of `cert` with `nid`, and whether it is critical.
X509_EXTENSION* Extension(const Certificate& cert, int nid) {
  int idx = X509_get_ext_by_NID(cert.native(), nid, -1);
  return idx < 0 ? nullptr : X509_get_ext(cert.native(), idx);
}

using testing::IssueCert;
using testing::ReadAll;

class CaTest : public ::testing::Test {
 protected:
  std::string Path(absl::string_view name) const { return dir_.Path(name); }
  CertificateAuthority Police(absl::Time now = absl::InfinitePast()) {
    CaOptions options{"police-nl", "police.nl.example"};
    options.now = now;
    absl::StatusOr<CertificateAuthority> ca =
        CertificateAuthority::Create(Path("police-ca"), options);
    EXPECT_TRUE(ca.ok()) << ca.status();
    return *std::move(ca);
  }
  IssuedCertificate Issue(const CertificateAuthority& ca, Role role,
                          const std::string& name, const std::string& dir,
                          std::vector<std::string> dns = {}) {
    return IssueCert(ca, role, name, Path(dir), std::move(dns));
  }

  testing::TempDir dir_{"hg-ca-test"};
};

TEST_F(CaTest, CreateWritesAProperOrganisationCa) {
  const absl::Time now = absl::Now();
  CertificateAuthority ca = Police(now);
  EXPECT_EQ(ca.organisation_id(), "police-nl");
  EXPECT_EQ(ca.trust_domain(), "police.nl.example");
  EXPECT_EQ(ModeOf(Path("police-ca")), 0700u);
  EXPECT_EQ(ModeOf(Path("police-ca/ca.key")), 0600u);
  EXPECT_EQ(ModeOf(Path("police-ca/ca.crt")), 0644u);

  const Certificate& cert = ca.certificate();
  EXPECT_TRUE(cert.IsCa());
  EXPECT_EQ(cert.Subject(), "CN=havengate CA police-nl,O=police-nl");
  EXPECT_EQ(cert.Issuer(), cert.Subject());
  EXPECT_TRUE(ValidateCaCertificate(cert, "police.nl.example").ok());
  EXPECT_THAT(cert.UriSans(), ElementsAre("spiffe://police.nl.example"));
  EXPECT_LE(cert.not_before(), now);
  EXPECT_GE(cert.not_before(), now - kBackdate - absl::Seconds(1));
  EXPECT_NEAR(absl::ToDoubleHours(cert.not_after() - now),
              absl::ToDoubleHours(kDefaultCaLifetime), 0.01);
  // ECDSA P-256, SHA-256.
  EVP_PKEY* key = X509_get0_pubkey(cert.native());
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  char group[64] = {};
  size_t group_len = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_get_signature_nid(cert.native()), NID_ecdsa_with_SHA256);
  // basicConstraints CA:TRUE pathlen:0 critical; keyUsage critical.
  ASSERT_NE(Extension(cert, NID_basic_constraints), nullptr);
  EXPECT_TRUE(X509_EXTENSION_get_critical(Extension(cert, NID_basic_constraints)));
  EXPECT_EQ(X509_get_pathlen(cert.native()), 0);
  ASSERT_NE(Extension(cert, NID_key_usage), nullptr);
  EXPECT_TRUE(X509_EXTENSION_get_critical(Extension(cert, NID_key_usage)));
  EXPECT_EQ(X509_get_key_usage(cert.native()), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
  // nameConstraints: critical, permitted URI = own trust domain only.
  ASSERT_NE(Extension(cert, NID_name_constraints), nullptr);
  EXPECT_TRUE(X509_EXTENSION_get_critical(Extension(cert, NID_name_constraints)));
  NAME_CONSTRAINTS* nc = static_cast<NAME_CONSTRAINTS*>(
      X509_get_ext_d2i(cert.native(), NID_name_constraints, nullptr, nullptr));
  ASSERT_NE(nc, nullptr);
  ASSERT_EQ(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 1);
  GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 0)->base;
  EXPECT_EQ(base->type, GEN_URI);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(
                            base->d.uniformResourceIdentifier))),
            "police.nl.example");
  NAME_CONSTRAINTS_free(nc);
  // An empty CRL is published right away.
  absl::StatusOr<Crl> crl = Crl::ReadFile(ca.crl_file());
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_TRUE(crl->CheckIssuedBy(cert).ok());
  EXPECT_THAT(crl->RevokedSerials(), IsEmpty());
}

TEST_F(CaTest, CreateNeverOverwritesAnExistingCa) {
  CertificateAuthority ca = Police();
  const std::string key_before = ReadAll(Path("police-ca/ca.key"));
  absl::StatusOr<CertificateAuthority> again = CertificateAuthority::Create(
      Path("police-ca"), {"police-nl", "police.nl.example"});
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(again.status()));
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("ca.key"));
  EXPECT_EQ(ReadAll(Path("police-ca/ca.key")), key_before);
}

TEST_F(CaTest, CreateValidatesItsInput) {
  EXPECT_FALSE(CertificateAuthority::Create(Path("a"), {"Police", "police.example"}).ok());
  EXPECT_FALSE(CertificateAuthority::Create(Path("b"), {"police-nl", "Police.example"}).ok());
  EXPECT_FALSE(CertificateAuthority::Create(Path("c"), {"police-nl", "10.1.1.1"}).ok());
  CaOptions too_long{"police-nl", "police.example"};
  too_long.lifetime = absl::Hours(24 * 365 * 30);
  EXPECT_FALSE(CertificateAuthority::Create(Path("d"), too_long).ok());
}

TEST_F(CaTest, OpenReadsItBackAndChecksTheKey) {
  CertificateAuthority created = Police();
  absl::StatusOr<CertificateAuthority> opened =
      CertificateAuthority::Open(Path("police-ca"));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->organisation_id(), "police-nl");
  EXPECT_EQ(opened->trust_domain(), "police.nl.example");
  EXPECT_EQ(opened->certificate().SerialHex(), created.certificate().SerialHex());

  ASSERT_EQ(chmod(Path("police-ca/ca.key").c_str(), 0644), 0);
  absl::StatusOr<CertificateAuthority> loose =
      CertificateAuthority::Open(Path("police-ca"));
  ASSERT_FALSE(loose.ok());
  EXPECT_THAT(std::string(loose.status().message()), HasSubstr("chmod 600"));
}

TEST_F(CaTest, GatewayCertificateHasTheRightFields) {
  const absl::Time now = absl::Now();
  CertificateAuthority ca = Police();
  IssuedCertificate gw = Issue(ca, Role::kGateway, "", "gw", {"localhost", "gw1.police.example"});
  EXPECT_EQ(gw.cert_file, Path("gw/gateway.crt"));
  EXPECT_EQ(gw.key_file, Path("gw/gateway.key"));
  EXPECT_EQ(ModeOf(gw.key_file), 0600u);
  EXPECT_EQ(ModeOf(Path("gw")), 0700u);
  const Certificate& cert = gw.certificate;
  EXPECT_THAT(cert.UriSans(), ElementsAre("spiffe://police.nl.example/gateway"));
  EXPECT_THAT(cert.DnsSans(), ElementsAre("localhost", "gw1.police.example"));
  EXPECT_EQ(cert.Subject(), "CN=gateway,O=police-nl");
  EXPECT_EQ(cert.Issuer(), ca.certificate().Subject());
  EXPECT_FALSE(cert.IsCa());
  EXPECT_TRUE(X509_EXTENSION_get_critical(Extension(cert, NID_basic_constraints)));
  EXPECT_TRUE(X509_EXTENSION_get_critical(Extension(cert, NID_key_usage)));
  EXPECT_EQ(X509_get_key_usage(cert.native()), KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(X509_get_extended_key_usage(cert.native()), XKU_SSL_SERVER | XKU_SSL_CLIENT);
  EXPECT_NEAR(absl::ToDoubleHours(cert.not_after() - now),
              absl::ToDoubleHours(kDefaultGatewayLifetime), 0.01);
  EXPECT_NEAR(absl::ToDoubleMinutes(now - cert.not_before()),
              absl::ToDoubleMinutes(kBackdate), 0.1);
  // AKI of the leaf = SKI of the CA.
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(cert.native());
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca.certificate().native());
  ASSERT_NE(aki, nullptr);
  ASSERT_NE(ski, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki, ski), 0);
  absl::StatusOr<PrivateKey> key = PrivateKey::ReadFile(gw.key_file);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(key->Matches(cert));
  EXPECT_TRUE(VerifyPeerCertificate(cert, {}, {"police.nl.example", ca.certificate(), std::nullopt},
                                    {absl::Now(), Purpose::kServerAuth})
                  .ok());
}

TEST_F(CaTest, ClientAndOfficerCertificatesAuthenticateClientsOnly) {
  CertificateAuthority ca = Police();
  IssuedCertificate client = Issue(ca, Role::kClient, "case-system", "c");
  IssuedCertificate officer = Issue(ca, Role::kOfficer, "anna", "c");
  EXPECT_EQ(client.cert_file, Path("c/case-system.crt"));
  EXPECT_THAT(client.certificate.UriSans(),
              ElementsAre("spiffe://police.nl.example/client/case-system"));
  EXPECT_THAT(officer.certificate.UriSans(),
              ElementsAre("spiffe://police.nl.example/officer/anna"));
  EXPECT_THAT(client.certificate.DnsSans(), IsEmpty());
  for (const IssuedCertificate* c : {&client, &officer}) {
    EXPECT_EQ(X509_get_extended_key_usage(c->certificate.native()), XKU_SSL_CLIENT);
  }
}

TEST_F(CaTest, SerialsAreRandom128Bit) {
  CertificateAuthority ca = Police();
  std::set<std::string> serials = {ca.certificate().SerialHex()};
  for (int i = 0; i < 8; ++i) {
    IssuedCertificate c = Issue(ca, Role::kClient, absl::StrCat("c", i), "many");
    const ASN1_INTEGER* serial = X509_get0_serialNumber(c.certificate.native());
    EXPECT_LE(ASN1_STRING_length(serial), 17);  // <= 128 bits (+ sign octet)
    EXPECT_GE(ASN1_STRING_length(serial), 8);
    serials.insert(c.certificate.SerialHex());
  }
  EXPECT_EQ(serials.size(), 9u);
}

TEST_F(CaTest, IssueNeverOverwritesAKey) {
  CertificateAuthority ca = Police();
  IssuedCertificate first = Issue(ca, Role::kClient, "pcs", "out");
  const std::string key_before = ReadAll(first.key_file);
  IssueRequest request;
  request.role = Role::kClient;
  request.name = "pcs";
  absl::StatusOr<IssuedCertificate> again = ca.Issue(request, Path("out"));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(again.status()));
  EXPECT_THAT(std::string(again.status().message()), HasSubstr(first.key_file));
  EXPECT_EQ(ReadAll(first.key_file), key_before);
  // Nothing was recorded for the refused request.
  absl::StatusOr<std::vector<IndexEntry>> index = ca.ListIssued();
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->size(), 1u);
}

TEST_F(CaTest, IssueValidatesNamesAndLifetimes) {
  CaOptions short_lived{"police-nl", "police.nl.example"};
  short_lived.lifetime = absl::Hours(24 * 30);
  absl::StatusOr<CertificateAuthority> ca =
      CertificateAuthority::Create(Path("short-ca"), short_lived);
  ASSERT_TRUE(ca.ok());
  IssueRequest request;
  request.role = Role::kClient;
  request.name = "pcs";
  absl::StatusOr<IssuedCertificate> outliving = ca->Issue(request, Path("x"));
  ASSERT_FALSE(outliving.ok());
  EXPECT_THAT(std::string(outliving.status().message()), HasSubstr("outlive its CA"));
  request.lifetime = absl::Hours(24 * 7);
  EXPECT_TRUE(ca->Issue(request, Path("x")).ok());

  for (const char* name : {"../escape", "Upper", "", "a/b", ".hidden"}) {
    IssueRequest bad;
    bad.role = Role::kClient;
    bad.name = name;
    EXPECT_FALSE(ca->Issue(bad, Path("y")).ok()) << name;
  }
  IssueRequest bad_dns;
  bad_dns.role = Role::kGateway;
  bad_dns.dns_names = {"*.police.example"};
  EXPECT_FALSE(ca->Issue(bad_dns, Path("y")).ok());
  IssueRequest too_long;
  too_long.role = Role::kClient;
  too_long.name = "pcs2";
  too_long.lifetime = kMaxLeafLifetime + absl::Hours(24);
  EXPECT_FALSE(ca->Issue(too_long, Path("y")).ok());
}

TEST_F(CaTest, RevocationAndCrl) {
  const absl::Time now = absl::Now();
  CertificateAuthority ca = Police();
  IssuedCertificate a = Issue(ca, Role::kClient, "a", "out");
  IssuedCertificate b = Issue(ca, Role::kClient, "b", "out");

  absl::StatusOr<IndexEntry> revoked = ca.RevokeSerial(a.certificate.SerialHex(), now);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->revoked);
  EXPECT_EQ(revoked->spiffe_id, "spiffe://police.nl.example/client/a");
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ca.RevokeSerial(a.certificate.SerialHex()).status()));
  EXPECT_TRUE(absl::IsNotFound(ca.RevokeSerial("abcdef").status()));
  // Serials are accepted in any case, with 0x and leading zeros.
  EXPECT_TRUE(ca.RevokeSerial("0x00" + absl::AsciiStrToUpper(b.certificate.SerialHex())).ok());

  const int64_t first_number = Crl::ReadFile(ca.crl_file())->crl_number();
  absl::StatusOr<Crl> crl = ca.WriteCrl(absl::Hours(24 * 7), "", now);
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_EQ(crl->crl_number(), first_number + 1);
  EXPECT_TRUE(crl->CheckIssuedBy(ca.certificate()).ok());
  EXPECT_TRUE(crl->IsRevoked(a.certificate));
  EXPECT_TRUE(crl->IsRevoked(b.certificate));
  EXPECT_EQ(absl::ToUnixSeconds(crl->this_update()), absl::ToUnixSeconds(now));
  EXPECT_EQ(absl::ToUnixSeconds(crl->next_update()),
            absl::ToUnixSeconds(now + absl::Hours(24 * 7)));
  // Written where gateways watch it, readable by them.
  absl::StatusOr<Crl> on_disk = Crl::ReadFile(ca.crl_file());
  ASSERT_TRUE(on_disk.ok());
  EXPECT_EQ(on_disk->crl_number(), crl->crl_number());
  EXPECT_EQ(ModeOf(ca.crl_file()), 0644u);

  absl::StatusOr<Crl> elsewhere = ca.WriteCrl(kDefaultCrlValidity, Path("pub.crl"));
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_EQ(elsewhere->crl_number(), first_number + 2);
  EXPECT_TRUE(Crl::ReadFile(Path("pub.crl")).ok());

  absl::StatusOr<std::vector<IndexEntry>> index = ca.ListIssued();
  ASSERT_TRUE(index.ok());
  ASSERT_EQ(index->size(), 2u);
  EXPECT_TRUE((*index)[0].revoked);
  EXPECT_TRUE((*index)[1].revoked);
}

TEST_F(CaTest, RevokeCertificateChecksTheIssuer) {
  CertificateAuthority police = Police();
  absl::StatusOr<CertificateAuthority> customs = CertificateAuthority::Create(
      Path("customs-ca"), {"customs-nl", "customs.nl.example"});
  ASSERT_TRUE(customs.ok());
  IssuedCertificate theirs = Issue(*customs, Role::kClient, "x", "out");
  absl::Status wrong = police.RevokeCertificate(theirs.certificate).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(wrong));
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("not issued by"));
  IssuedCertificate ours = Issue(police, Role::kClient, "y", "out");
  EXPECT_TRUE(police.RevokeCertificate(ours.certificate).ok());
}

TEST_F(CaTest, ConcurrentIssuanceKeepsEveryIndexLine) {
  CertificateAuthority ca = Police();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        IssueRequest request;
        request.role = Role::kClient;
        request.name = absl::StrCat("t", t, "-", i);
        EXPECT_TRUE(ca.Issue(request, Path(absl::StrCat("out", t))).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::StatusOr<std::vector<IndexEntry>> index = ca.ListIssued();
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->size(), 20u);
}

TEST_F(CaTest, TestHooksProduceTheRequestedDefects) {
  const absl::Time now = absl::Now();
  CertificateAuthority ca = Police();
  IssueRequest request;
  request.role = Role::kClient;
  request.name = "x";
  CertificateOverridesForTesting o;
  o.not_before = now - absl::Hours(2);
  o.not_after = now - absl::Hours(1);
  o.key_usage = KU_KEY_ENCIPHERMENT;
  o.extended_key_usage = std::vector<int>{NID_code_sign};
  o.uri_sans = std::vector<std::string>{"spiffe://customs.nl.example/gateway"};
  absl::StatusOr<IssuedCertificate> bad = ca.IssueForTesting(request, o, Path("bad"));
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(absl::ToUnixSeconds(bad->certificate.not_after()),
            absl::ToUnixSeconds(now - absl::Hours(1)));
  EXPECT_EQ(X509_get_key_usage(bad->certificate.native()), KU_KEY_ENCIPHERMENT);
  EXPECT_EQ(X509_get_extended_key_usage(bad->certificate.native()), XKU_CODE_SIGN);
  EXPECT_THAT(bad->certificate.UriSans(), ElementsAre("spiffe://customs.nl.example/gateway"));

  CertificateOverridesForTesting self;
  self.self_signed = true;
  request.name = "self";
  absl::StatusOr<IssuedCertificate> s = ca.IssueForTesting(request, self, Path("bad"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->certificate.Issuer(), s->certificate.Subject());
  EXPECT_FALSE(SignedBy(s->certificate, ca.certificate()));
}

}  // namespace
}  // namespace havengate::pki
