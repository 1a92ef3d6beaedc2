#include "evidence/checkpoint_signature.h"

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "certs/ca.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::evidence {
namespace {

using ::testing::HasSubstr;

// Two organisations' CAs, each with a gateway certificate.
class CheckpointSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("checkpoint_signature_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    police_ = Gateway("police-nl", "police.nl.example");
    customs_ = Gateway("customs-nl", "customs.nl.example");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  struct Files {
    std::string cert_file, key_file;
  };
  Files Gateway(const std::string& org, const std::string& domain) {
    std::filesystem::create_directories(dir_ / org);
    std::string ca_dir = (dir_ / org / "ca").string();
    auto ca = pki::CertificateAuthority::Create(ca_dir, {org, domain});
    EXPECT_TRUE(ca.ok()) << ca.status();
    if (!ca.ok()) return {};
    pki::IssueRequest request;
    request.role = pki::Role::kGateway;
    auto issued = ca->Issue(request, (dir_ / org).string());
    EXPECT_TRUE(issued.ok()) << issued.status();
    if (!issued.ok()) return {};
    return {issued->cert_file, issued->key_file};
  }

  std::filesystem::path dir_;
  Files police_, customs_;
};

TEST_F(CheckpointSignatureTest, VerifiesWithTheGatewayCertificateOnly) {
  auto signer = CheckpointSigner::Create(police_.cert_file, police_.key_file);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string previous(32, '\x5a');
  auto signature = (*signer)->Sign(42, previous);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->key_id, (*signer)->key_id());
  EXPECT_EQ(signature->key_id.size(), 64u);

  auto own = CheckpointVerifier::FromCertificateFiles({police_.cert_file});
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_TRUE(own->Verify(42, previous, signature->signature,
                          signature->key_id).ok());
  // Without a key id, every key is tried.
  EXPECT_TRUE(own->Verify(42, previous, signature->signature, "").ok());

  // Another place in the chain: the signature does not carry over.
  absl::Status moved =
      own->Verify(43, previous, signature->signature, signature->key_id);
  EXPECT_EQ(moved.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(moved.message(), HasSubstr("does not verify"));
  EXPECT_FALSE(own->Verify(42, std::string(32, '\x5b'), signature->signature,
                           signature->key_id).ok());

  // Another gateway's key: refused, by key id and by signature.
  auto other = CheckpointVerifier::FromCertificateFiles({customs_.cert_file});
  ASSERT_TRUE(other.ok()) << other.status();
  absl::Status foreign =
      other->Verify(42, previous, signature->signature, signature->key_id);
  EXPECT_THAT(foreign.message(), HasSubstr("none of the given certificates"));
  EXPECT_FALSE(other->Verify(42, previous, signature->signature, "").ok());

  // Both certificates given (rotation): the right one is picked.
  auto both = CheckpointVerifier::FromCertificateFiles(
      {customs_.cert_file, police_.cert_file});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->key_count(), 2u);
  EXPECT_TRUE(both->Verify(42, previous, signature->signature,
                           signature->key_id).ok());
}

TEST_F(CheckpointSignatureTest, RefusesAKeyThatIsNotTheCertificates) {
  auto signer = CheckpointSigner::Create(police_.cert_file, customs_.key_file);
  ASSERT_FALSE(signer.ok());
  EXPECT_THAT(signer.status().message(), HasSubstr("is not the key of"));
}

TEST_F(CheckpointSignatureTest, RefusesAMissingKeyFile) {
  auto signer = CheckpointSigner::Create(police_.cert_file,
                                         (dir_ / "nope.key").string());
  ASSERT_FALSE(signer.ok());
  EXPECT_THAT(signer.status().message(), HasSubstr("nope.key"));
}

}  // namespace
}  // namespace havengate::evidence
