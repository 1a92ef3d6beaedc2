#include "server/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "certs/ca.h"
#include "certs/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace havengate::metrics {
namespace {

using ::testing::HasSubstr;

struct Files {
  std::string cert, key;
};

// The police organisation's CA with its gateway and a monitoring client,
// and another organisation's CA with a client of its own.
class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("metrics_server_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "police");
    std::filesystem::create_directories(dir_ / "customs");
    auto police = pki::CertificateAuthority::Create(
        (dir_ / "police" / "ca").string(), {"police-nl", "police.nl.example"});
    ASSERT_TRUE(police.ok()) << police.status();
    auto customs = pki::CertificateAuthority::Create(
        (dir_ / "customs" / "ca").string(),
        {"customs-nl", "customs.nl.example"});
    ASSERT_TRUE(customs.ok()) << customs.status();
    police_ca_ = police->cert_file();
    gateway_ = Issue(*police, pki::Role::kGateway, "gateway", "police");
    prometheus_ = Issue(*police, pki::Role::kClient, "prometheus", "police");
    officer_ = Issue(*police, pki::Role::kOfficer, "j-devries", "police");
    ASSERT_TRUE(police->WriteCrl().ok());
    police_crl_ = police->crl_file();
    police_ca_dir_ = police->dir();
    foreign_ = Issue(*customs, pki::Role::kClient, "prometheus", "customs");
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
    std::filesystem::remove_all(dir_);
  }

  Files Issue(const pki::CertificateAuthority& ca, pki::Role role,
              const std::string& name, const std::string& org) {
    pki::IssueRequest request;
    request.role = role;
    request.name = name;
    request.dns_names = {"localhost"};
    auto issued = ca.Issue(request, (dir_ / org).string());
    EXPECT_TRUE(issued.ok()) << issued.status();
    if (!issued.ok()) return {};
    return {issued->cert_file, issued->key_file};
  }

  void StartServer(std::string body = "# TYPE hg_up gauge\nhg_up 1\n") {
    MetricsServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.certificate_file = gateway_.cert;
    options.private_key_file = gateway_.key;
    options.trust_domain = "police.nl.example";
    options.trust_domain = "police.nl.example";
  options.client_ca_file = police_ca_;
    options.crl_file = crl_for_server_;
    auto server = MetricsServer::Start(options, [body] { return body; });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }

  // GET /metrics over HTTPS, verifying the server against the police CA.
  httplib::Result Get(const Files* client) {
    std::unique_ptr<httplib::SSLClient> cli =
        client == nullptr
            ? std::make_unique<httplib::SSLClient>("localhost", server_->port())
            : std::make_unique<httplib::SSLClient>(
                  "localhost", server_->port(), client->cert, client->key);
    cli->set_hostname_addr_map({{"localhost", "127.0.0.1"}});
    cli->set_ca_cert_path(police_ca_);
    cli->enable_server_certificate_verification(true);
    cli->set_connection_timeout(5, 0);
    cli->set_read_timeout(5, 0);
    return cli->Get("/metrics");
  }

  std::filesystem::path dir_;
  std::string police_ca_, police_crl_, police_ca_dir_;
  std::string crl_for_server_;  // set before StartServer to check revocation
  Files gateway_, prometheus_, officer_, foreign_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesTheExpositionToAClientOfTheOwnCa) {
  StartServer();
  httplib::Result res = Get(&prometheus_);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "# TYPE hg_up gauge\nhg_up 1\n");
  EXPECT_EQ(res->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(MetricsServerTest, RefusesAScrapeWithoutAClientCertificate) {
  StartServer();
  httplib::Result res = Get(nullptr);
  EXPECT_FALSE(res) << "status " << res->status;
}

TEST_F(MetricsServerTest, RefusesAClientCertificateOfAnotherCa) {
  StartServer();
  httplib::Result res = Get(&foreign_);
  EXPECT_FALSE(res) << "status " << res->status;
}

// The gRPC port's trust: an integration client of this organisation only.
TEST_F(MetricsServerTest, RefusesOfficersAndGatewaysOfTheOwnCa) {
  StartServer();
  EXPECT_FALSE(Get(&officer_)) << "an officer certificate";
  EXPECT_FALSE(Get(&gateway_)) << "the gateway's own certificate";
  httplib::Result ok = Get(&prometheus_);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// A certificate revoked while the gateway runs is refused at the next
// handshake: the CRL is re-read when it changes.
TEST_F(MetricsServerTest, FollowsRevocationWithoutARestart) {
  crl_for_server_ = police_crl_;
  StartServer();
  httplib::Result before = Get(&prometheus_);
  ASSERT_TRUE(before) << httplib::to_string(before.error());
  EXPECT_EQ(before->status, 200);
  auto ca = pki::CertificateAuthority::Open(police_ca_dir_);
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto cert = pki::ReadCertificateFile(prometheus_.cert);
  ASSERT_TRUE(cert.ok());
  ASSERT_TRUE(ca->RevokeCertificate(*cert).ok());
  ASSERT_TRUE(ca->WriteCrl().ok());
  EXPECT_FALSE(Get(&prometheus_)) << "revoked, and still served";
}

TEST_F(MetricsServerTest, HasNoPlaintextListener) {
  StartServer();
  httplib::Client plain("127.0.0.1", server_->port());
  plain.set_connection_timeout(5, 0);
  plain.set_read_timeout(5, 0);
  httplib::Result res = plain.Get("/metrics");
  EXPECT_FALSE(res && res->status == 200);
}

TEST_F(MetricsServerTest, OnlyMetricsIsServed) {
  StartServer();
  httplib::SSLClient cli("localhost", server_->port(), prometheus_.cert,
                         prometheus_.key);
  cli.set_hostname_addr_map({{"localhost", "127.0.0.1"}});
  cli.set_ca_cert_path(police_ca_);
  cli.enable_server_certificate_verification(true);
  httplib::Result res = cli.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(MetricsServerTest, ScrapersThatHangUpMidResponseDoNotStopIt) {
  // A large exposition, so the server is still writing when the scraper
  // resets the connection.
  StartServer(std::string(4 << 20, '#'));
  // httplib sets SIGPIPE to ignored for the whole process when a server is
  // built; the daemon must not depend on that (or on nobody resetting it):
  // put back the default action (terminate) and show the server survives.
  struct sigaction old_action;
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &default_action, &old_action);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_EQ(SSL_CTX_use_certificate_chain_file(ctx, prometheus_.cert.c_str()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(ctx, prometheus_.key.c_str(),
                                        SSL_FILETYPE_PEM),
            1);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (int i = 0; i < 10; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ASSERT_EQ(SSL_connect(ssl), 1);
    ASSERT_GT(SSL_write(ssl, request.data(), static_cast<int>(request.size())), 0);
    char first[1];
    ASSERT_GT(SSL_read(ssl, first, 1), 0);  // the response has begun
    linger reset = {1, 0};  // close with RST mid-response
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    SSL_free(ssl);
  }
  SSL_CTX_free(ctx);
  // Still alive, and still serving.
  httplib::Result res = Get(&prometheus_);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  sigaction(SIGPIPE, &old_action, nullptr);
}

TEST_F(MetricsServerTest, StartFailsNamingAnUnusableFile) {
  MetricsServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.certificate_file = gateway_.cert;
  options.private_key_file = prometheus_.key;  // not the gateway's key
  options.trust_domain = "police.nl.example";
  options.client_ca_file = police_ca_;
  auto server = MetricsServer::Start(options, [] { return std::string(); });
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr(prometheus_.key));
}

TEST_F(MetricsServerTest, StartFailsOnABusyPort) {
  StartServer();
  MetricsServerOptions options;
  options.listen_address = absl::StrCat("127.0.0.1:", server_->port());
  options.certificate_file = gateway_.cert;
  options.private_key_file = gateway_.key;
  options.trust_domain = "police.nl.example";
  options.client_ca_file = police_ca_;
  auto second = MetricsServer::Start(options, [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace havengate::metrics

namespace havengate::metrics {
namespace {

// The serial (hex, as pki::Certificate::SerialHex) of the certificate a new
// TLS connection to `port` is shown, presenting `client`; "" on failure.
std::string ServedSerial(int port, const Files& client) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_use_certificate_chain_file(ctx, client.cert.c_str());
  SSL_CTX_use_PrivateKey_file(ctx, client.key.c_str(), SSL_FILETYPE_PEM);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string serial;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      X509* served = SSL_get1_peer_certificate(ssl);
      if (served != nullptr) {
        serial = pki::Certificate::FromX509(pki::X509Ptr(served)).SerialHex();
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  close(fd);
  SSL_CTX_free(ctx);
  return serial;
}

// SIGHUP's rotation of the served certificate: a valid new pair is
// presented from the next handshake; a mismatched pair is refused, naming
// the key file, and the identity served stays.
TEST_F(MetricsServerTest, ReloadIdentityPresentsARotatedCertificate) {
  StartServer();
  auto original = pki::ReadCertificateFile(gateway_.cert);
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(ServedSerial(server_->port(), prometheus_), original->SerialHex());
  EXPECT_TRUE(server_->ReloadIdentity().ok()) << "the same files again";

  auto police = pki::CertificateAuthority::Open((dir_ / "police" / "ca").string());
  ASSERT_TRUE(police.ok()) << police.status();
  std::filesystem::create_directories(dir_ / "rotated");
  Files rotated = Issue(*police, pki::Role::kGateway, "gateway", "rotated");
  auto next = pki::ReadCertificateFile(rotated.cert);
  ASSERT_TRUE(next.ok());
  ASSERT_NE(next->SerialHex(), original->SerialHex());

  // The new certificate with the old key: refused, nothing changes.
  std::filesystem::copy_file(rotated.cert, gateway_.cert,
                             std::filesystem::copy_options::overwrite_existing);
  absl::Status mismatched = server_->ReloadIdentity();
  EXPECT_FALSE(mismatched.ok());
  EXPECT_THAT(std::string(mismatched.message()), HasSubstr(gateway_.key));
  EXPECT_EQ(ServedSerial(server_->port(), prometheus_), original->SerialHex());

  std::filesystem::copy_file(rotated.key, gateway_.key,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(server_->ReloadIdentity().ok());
  EXPECT_EQ(ServedSerial(server_->port(), prometheus_), next->SerialHex());
  httplib::Result res = Get(&prometheus_);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

}  // namespace
}  // namespace havengate::metrics
