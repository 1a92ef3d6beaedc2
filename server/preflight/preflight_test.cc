// Preflight against real certificates, real policy files and real sockets:
// each problem a start would meet is found before anything is created, and
// named with its config key.
#include "server/preflight/preflight.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "certs/pki_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::preflight {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = std::make_unique<pki::CertificateAuthority>(
        pki::testing::MakeCa(dir_.Path("ca"), "police-nl", "police.nl.example"));
    gateway_ = std::make_unique<pki::IssuedCertificate>(
        pki::testing::IssueCert(*ca_, pki::Role::kGateway, "", dir_.Path("gateway")));
    customs_ca_ = std::make_unique<pki::CertificateAuthority>(
        pki::testing::MakeCa(dir_.Path("customs-ca"), "customs-nl", "customs.nl.example"));
    config_.organisation_id = "police-nl";
    config_.organisation_domain = "police.nl.example";
    config_.listen_address = "127.0.0.1:0";
    config_.tls.certificate = gateway_->cert_file;
    config_.tls.private_key = gateway_->key_file;
    config_.tls.ca = ca_->cert_file();
    std::filesystem::create_directories(dir_.Path("data"));
    config_.store.path = dir_.Path("data/gateway.db");
    config_.peers.push_back({"customs-nl", "customs.nl.example", "localhost:7444",
                             customs_ca_->cert_file(), ""});
  }

  std::string WritePolicy(const std::string& text) {
    std::string path = dir_.Path("policy.yaml");
    std::ofstream(path) << text;
    return path;
  }

  std::string Problems() {
    absl::Status status = CheckBeforeStart(config_);
    return status.ok() ? "" : std::string(status.message());
  }

  pki::testing::TempDir dir_{"hg-preflight"};
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<pki::CertificateAuthority> customs_ca_;
  std::unique_ptr<pki::IssuedCertificate> gateway_;
  config::GatewayConfig config_;
};

TEST_F(PreflightTest, AGoodConfigPassesAndCreatesNothing) {
  config_.policy_path = WritePolicy(R"(organisation: police-nl
version: "1"
partners: [{id: customs-nl}]
rules:
  - {name: titles, to: [customs-nl], kinds: [ALERT], share: [title]}
)");
  EXPECT_EQ(Problems(), "");
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Path("data")));
}

TEST_F(PreflightTest, APolicyThatDoesNotCompileIsFound) {
  config_.policy_path = WritePolicy(R"(organisation: police-nl
version: "1"
partners: [{id: customs-nl}]
rules:
  - {name: titles, to: [customs-nl], share: [titel]}
)");
  EXPECT_THAT(Problems(), HasSubstr("policy: "));
  EXPECT_THAT(Problems(), HasSubstr("titel"));
}

TEST_F(PreflightTest, APartnerThatIsNotAPeerIsFound) {
  config_.policy_path = WritePolicy(R"(organisation: police-nl
version: "1"
partners: [{id: customs-nl}, {id: port-rtm}]
rules:
  - {name: titles, to: [port-rtm], kinds: [ALERT], share: [title]}
)");
  EXPECT_THAT(Problems(), HasSubstr("port-rtm"));
}

TEST_F(PreflightTest, AnotherOrganisationsGatewayCertificateIsFound) {
  pki::IssuedCertificate customs_gateway =
      pki::testing::IssueCert(*customs_ca_, pki::Role::kGateway, "", dir_.Path("customs-gw"));
  config_.tls.certificate = customs_gateway.cert_file;
  config_.tls.private_key = customs_gateway.key_file;
  EXPECT_THAT(Problems(), HasSubstr("tls.certificate: " + customs_gateway.cert_file +
                                    " is the certificate of spiffe://customs.nl.example/gateway"));
}

TEST_F(PreflightTest, AMisspelledDomainIsFound) {
  config_.organisation_domain = "police.nl.exmaple";
  std::string problems = Problems();
  EXPECT_THAT(problems, HasSubstr("not of this organisation's gateway "
                                  "spiffe://police.nl.exmaple/gateway"));
  EXPECT_THAT(problems, HasSubstr("tls.ca: "));
}

TEST_F(PreflightTest, AClientCertificateAsGatewayCertificateIsFound) {
  pki::IssuedCertificate client =
      pki::testing::IssueCert(*ca_, pki::Role::kClient, "case-system", dir_.Path("clients"));
  config_.tls.certificate = client.cert_file;
  config_.tls.private_key = client.key_file;
  EXPECT_THAT(Problems(), HasSubstr("spiffe://police.nl.example/client/case-system"));
}

TEST_F(PreflightTest, AKeyOthersCanReadOrThatDoesNotMatchIsFound) {
  chmod(gateway_->key_file.c_str(), 0644);
  EXPECT_THAT(Problems(), HasSubstr("tls.private_key: "));
  chmod(gateway_->key_file.c_str(), 0600);
  pki::IssuedCertificate other =
      pki::testing::IssueCert(*ca_, pki::Role::kOfficer, "j-devries", dir_.Path("officers"));
  config_.tls.private_key = other.key_file;
  EXPECT_THAT(Problems(), HasSubstr("is not the key of " + gateway_->cert_file));
}

TEST_F(PreflightTest, UnreadableFilesAreNamed) {
  config_.tls.crl = dir_.Path("ca/missing-crl.pem");
  config_.peers[0].ca = dir_.Path("nowhere/ca.crt");
  std::string problems = Problems();
  EXPECT_THAT(problems, HasSubstr("tls.crl: cannot read " + config_.tls.crl));
  EXPECT_THAT(problems, HasSubstr("peers[0] (customs-nl).ca: "));
}

TEST_F(PreflightTest, AStoreThatCannotBeCreatedIsFoundAndNoDirectoryIsMade) {
  // Missing directories are fine: the store creates them (not preflight).
  config_.store.path = dir_.Path("new/dirs/gateway.db");
  EXPECT_EQ(Problems(), "");
  EXPECT_FALSE(std::filesystem::exists(dir_.Path("new")));
  // Under a file they cannot be made.
  std::ofstream(dir_.Path("a-file")) << "x";
  config_.store.path = dir_.Path("a-file/data/gateway.db");
  EXPECT_THAT(Problems(), HasSubstr("store.path: cannot create the store under " +
                                    dir_.Path("a-file") + ": it is not a directory"));
}

TEST_F(PreflightTest, APortInUseIsOneClearLine) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  config_.listen_address = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  EXPECT_EQ(Problems(), absl::StrCat("listen: ", config_.listen_address,
                                     " is in use by another process"));
  PreflightOptions no_ports;
  no_ports.check_ports = false;
  EXPECT_TRUE(CheckBeforeStart(config_, no_ports).ok());
  close(fd);
  EXPECT_EQ(Problems(), "");
}

}  // namespace
}  // namespace havengate::preflight
