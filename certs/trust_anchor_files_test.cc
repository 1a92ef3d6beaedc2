#include "certs/trust_anchor_files.h"


#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "certs/ca.h"
#include "certs/pki_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::pki {
namespace {

using ::testing::HasSubstr;

using testing::ReadAll;

void Replace(const std::string& path, const std::string& contents) {
  std::ofstream(path + ".new", std::ios::trunc) << contents;
  std::filesystem::rename(path + ".new", path);
}

class TrustAnchorFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_.emplace(MakeCa("customs-ca"));
    // The files a gateway is configured with: copies of what the CA publishes.
    ca_file_ = Path("peer-ca.crt");
    crl_file_ = Path("peer.crl");
    Replace(ca_file_, ReadAll(ca_->cert_file()));
    Replace(crl_file_, ReadAll(ca_->crl_file()));
  }
  std::string Path(absl::string_view name) const { return dir_.Path(name); }
  CertificateAuthority MakeCa(const std::string& dir,
                              const std::string& domain = "customs.nl.example") {
    return testing::MakeCa(Path(dir), "customs-nl", domain);
  }
  Certificate IssueGateway(const CertificateAuthority& ca) {
    return testing::IssueCert(ca, Role::kGateway, absl::StrCat("gw", ++counter_),
                              Path("out"))
        .certificate;
  }
  std::string VerifyReason(TrustAnchorFiles& files, const Certificate& cert) {
    absl::StatusOr<SpiffeId> id = VerifyAgainstSnapshot(
        cert, {}, *files.Current(), {absl::Now(), Purpose::kClientAuth});
    if (id.ok()) return "ok";
    return std::string(RejectReasonName(
        GetRejectReason(id.status()).value_or(RejectReason::kInvalidChain)));
  }

  testing::TempDir dir_{"hg-anchor-test"};
  int counter_ = 0;
  std::optional<CertificateAuthority> ca_;
  std::string ca_file_;
  std::string crl_file_;
};

TEST_F(TrustAnchorFilesTest, LoadRefusesWrongFiles) {
  EXPECT_TRUE(TrustAnchorFiles::Load("customs.nl.example", ca_file_, crl_file_).ok());
  EXPECT_TRUE(TrustAnchorFiles::Load("customs.nl.example", ca_file_, "").ok());
  absl::Status missing =
      TrustAnchorFiles::Load("customs.nl.example", Path("nope.crt"), "").status();
  EXPECT_TRUE(absl::IsNotFound(missing));
  EXPECT_THAT(std::string(missing.message()), HasSubstr("nope.crt"));
  // The customs CA configured for the police domain.
  absl::Status wrong_domain =
      TrustAnchorFiles::Load("police.nl.example", ca_file_, "").status();
  EXPECT_FALSE(wrong_domain.ok());
  EXPECT_THAT(std::string(wrong_domain.message()), HasSubstr("customs.nl.example"));
  // A CRL of another CA.
  CertificateAuthority other = MakeCa("other-ca");
  absl::Status wrong_crl =
      TrustAnchorFiles::Load("customs.nl.example", ca_file_, other.crl_file()).status();
  EXPECT_FALSE(wrong_crl.ok());
  EXPECT_THAT(std::string(wrong_crl.message()), HasSubstr("refused until a CRL of that CA"));
  // A leaf is not a CA.
  Replace(Path("leaf.crt"), IssueGateway(*ca_).ToPem());
  EXPECT_FALSE(TrustAnchorFiles::Load("customs.nl.example", Path("leaf.crt"), "").ok());
}

TEST_F(TrustAnchorFilesTest, NewCrlIsPickedUp) {
  auto files = TrustAnchorFiles::Load("customs.nl.example", ca_file_, crl_file_);
  ASSERT_TRUE(files.ok());
  Certificate gw = IssueGateway(*ca_);
  bool changed = true;
  ASSERT_TRUE((*files)->Refresh(&changed).ok());
  EXPECT_FALSE(changed);
  EXPECT_EQ(VerifyReason(**files, gw), "ok");

  ASSERT_TRUE(ca_->RevokeCertificate(gw).ok());
  ASSERT_TRUE(ca_->WriteCrl(kDefaultCrlValidity, crl_file_).ok());
  ASSERT_TRUE((*files)->Refresh(&changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_EQ(VerifyReason(**files, gw), "revoked");
}

TEST_F(TrustAnchorFilesTest, BrokenFilesNeverReplaceGoodOnes) {
  auto files = TrustAnchorFiles::Load("customs.nl.example", ca_file_, crl_file_);
  ASSERT_TRUE(files.ok());
  Certificate gw = IssueGateway(*ca_);
  const uint64_t generation = (*files)->Current()->generation;

  Replace(crl_file_, "-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n");
  absl::Status crl_problem = (*files)->Refresh();
  EXPECT_FALSE(crl_problem.ok());
  EXPECT_THAT(std::string(crl_problem.message()), HasSubstr("keeping the previous CRL"));
  // Reported once per change, not at every refresh.
  EXPECT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ((*files)->Current()->generation, generation);
  EXPECT_EQ(VerifyReason(**files, gw), "ok");

  Replace(ca_file_, "not a certificate");
  absl::Status ca_problem = (*files)->Refresh();
  EXPECT_FALSE(ca_problem.ok());
  EXPECT_THAT(std::string(ca_problem.message()), HasSubstr("keeping the previous CA"));
  EXPECT_EQ(VerifyReason(**files, gw), "ok");

  // Repairing the files is picked up.
  Replace(ca_file_, ReadAll(ca_->cert_file()));
  Replace(crl_file_, ReadAll(ca_->crl_file()));
  EXPECT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(VerifyReason(**files, gw), "ok");
}

TEST_F(TrustAnchorFilesTest, NewCaWithOldCrlFailsClosedUntilItsCrlArrives) {
  auto files = TrustAnchorFiles::Load("customs.nl.example", ca_file_, crl_file_);
  ASSERT_TRUE(files.ok());
  Certificate old_gw = IssueGateway(*ca_);
  CertificateAuthority next = MakeCa("customs-ca-2");
  Certificate new_gw = IssueGateway(next);

  Replace(ca_file_, ReadAll(next.cert_file()));
  bool changed = false;
  absl::Status problem = (*files)->Refresh(&changed);
  EXPECT_TRUE(changed);
  EXPECT_FALSE(problem.ok());
  EXPECT_THAT(std::string(problem.message()), HasSubstr("refused until"));
  EXPECT_EQ(VerifyReason(**files, new_gw), "crl_unavailable");
  EXPECT_EQ(VerifyReason(**files, old_gw), "crl_unavailable");

  Replace(crl_file_, ReadAll(next.crl_file()));
  EXPECT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(VerifyReason(**files, new_gw), "ok");
  EXPECT_EQ(VerifyReason(**files, old_gw), "unknown_issuer");
}

TEST_F(TrustAnchorFilesTest, CrlUsability) {
  auto files = TrustAnchorFiles::Load("customs.nl.example", ca_file_, crl_file_);
  ASSERT_TRUE(files.ok());
  const absl::Time next_update = (*files)->Current()->anchor.crl->next_update();
  EXPECT_TRUE((*files)->CheckCrlUsable(next_update - absl::Seconds(1)).ok());
  absl::Status stale = (*files)->CheckCrlUsable(next_update + absl::Seconds(1));
  EXPECT_TRUE(absl::IsFailedPrecondition(stale));
  EXPECT_THAT(std::string(stale.message()), HasSubstr("expired at"));
  auto no_crl = TrustAnchorFiles::Load("customs.nl.example", ca_file_, "");
  ASSERT_TRUE(no_crl.ok());
  EXPECT_TRUE((*no_crl)->CheckCrlUsable(absl::InfiniteFuture()).ok());
}

TEST_F(TrustAnchorFilesTest, CaOfAnotherDomainIsNotTakenIntoUse) {
  auto files = TrustAnchorFiles::Load("customs.nl.example", ca_file_, "");
  ASSERT_TRUE(files.ok());
  CertificateAuthority police = MakeCa("police-ca", "police.nl.example");
  Replace(ca_file_, ReadAll(police.cert_file()));
  EXPECT_FALSE((*files)->Refresh().ok());
  EXPECT_EQ(VerifyReason(**files, IssueGateway(*ca_)), "ok");
}

}  // namespace
}  // namespace havengate::pki
