// End-to-end tests of revocation and rotation on real gateway processes:
// certificates, CAs and CRLs made and published with `havenctl pki`, files
// replaced on disk the way an operator (or a cron job) replaces them, and
// every effect observed from outside — by new connections, the certificate
// a fresh TLS connection is served, the gateway's log and its audit
// export — while the same gateway process keeps running.
//
// Each gateway reads copies of its files under `<org>/etc/` (and of its
// peers' CA and CRL under `<org>/peers/`), never the CA directory itself,
// as a deployment does: publishing is a separate, atomic step.
//
// A peer's CA is trusted for that peer's gateway id only: certificates the
// customs CA issues for another organisation's ids (the police gateway, a
// third partner's gateway, a police client) are refused.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "certs/channel_credentials.h"
#include "certs/openssl_util.h"
#include "certs/x509.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "certs/ca.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "havengate/v1/gateway_status.grpc.pb.h"
#include "server/metrics/scrape.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kRotation = absl::Seconds(20);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Copies `from` over `to` the way a careful operator does: a temporary
// file beside it, then one rename, so a reader never sees half a file.
void Install(const std::string& from, const std::string& to) {
  const std::string tmp = to + ".new";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::permissions(tmp, fs::status(from).permissions());
  fs::rename(tmp, to);
}

// Runs havenctl; the test fails (with its output) if it does not exit 0.
CommandResult Havenctl(std::vector<std::string> args) {
  args.insert(args.begin(), HavenctlBinary());
  CommandResult result = RunCommand(args);
  EXPECT_EQ(result.exit_code, 0)
      << absl::StrJoin(args, " ") << "\n" << result.out << result.err;
  return result;
}

// The serial of the certificate a gateway serves on a brand-new TCP and
// TLS connection (a bare OpenSSL client presenting `cert`), or "" if the
// handshake failed before the server's certificate arrived.
std::string ServedSerial(int port, const std::string& cert,
                         const std::string& key) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(
      SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    ADD_FAILURE() << "cannot load " << cert;
    return "";
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string serial;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    SSL* ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) == 1) {
      pki::X509Ptr peer(SSL_get1_peer_certificate(ssl));
      if (peer != nullptr) {
        serial = pki::Certificate::FromX509(std::move(peer)).SerialHex();
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  close(fd);
  ERR_clear_error();
  return serial;
}

// The cRLNumber of the CRL in `path`, or -2 if it cannot be read.
int64_t CrlNumberOf(const std::string& path) {
  absl::StatusOr<pki::Crl> crl = pki::Crl::FromPem(ReadFile(path));
  return crl.ok() ? crl->crl_number() : -2;
}

std::string SerialOf(const std::string& cert_file) {
  absl::StatusOr<pki::Certificate> cert =
      pki::Certificate::FromPem(ReadFile(cert_file));
  EXPECT_TRUE(cert.ok()) << cert_file << ": " << cert.status();
  return cert.ok() ? cert->SerialHex() : "";
}

// A policy that shares every item with `partner` and accepts every item
// from it: the test is about who may connect, not about what is shared.
std::string WriteOpenPolicy(const TestOrg& org, const TestOrg& partner) {
  const std::string path = org.dir + "/policy.yaml";
  std::ofstream(path) << "organisation: " << org.id << "\n"
                      << "version: \"trust-test-1\"\n"
                      << "partners:\n"
                      << "  - {id: " << partner.id << ", name: \"" << partner.id
                      << "\", kind: POLICE, country: NL}\n"
                      << "rules:\n"
                      << "  - name: everything\n"
                      << "    to: [" << partner.id << "]\n"
                      << "    share: [\"*\"]\n"
                      << "inbound:\n"
                      << "  accept:\n"
                      << "    - from: [" << partner.id << "]\n";
  return path;
}

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [org, id, domain] :
         {std::tuple{&police_, "police-nl", "police.nl.example"},
          std::tuple{&customs_, "customs-nl", "customs.nl.example"}}) {
      auto created = CreateTestOrg(dir_.path(), id, domain);
      ASSERT_TRUE(created.ok()) << created.status();
      *org = *created;
      Havenctl({"pki", "crl", "--ca-dir", org->ca_dir});
      org->crl_file = org->ca_dir + "/crl.pem";
    }
    police_etc_ = Deployed(police_);
    customs_etc_ = Deployed(customs_);
    customs_at_police_ = PeerCopy(customs_, police_);
    police_at_customs_ = PeerCopy(police_, customs_);
  }

  // `org` with its gateway reading copies of its certificate, key, CA and
  // CRL under <org>/etc/.
  static TestOrg Deployed(const TestOrg& org) {
    TestOrg etc = org;
    const std::string dir = org.dir + "/etc";
    fs::create_directories(dir);
    etc.ca_file = dir + "/ca.crt";
    etc.crl_file = dir + "/crl.pem";
    etc.gateway_cert = dir + "/gateway.crt";
    etc.gateway_key = dir + "/gateway.key";
    Install(org.ca_file, etc.ca_file);
    Install(org.crl_file, etc.crl_file);
    Install(org.gateway_cert, etc.gateway_cert);
    Install(org.gateway_key, etc.gateway_key);
    return etc;
  }

  // `peer` as `holder`'s gateway knows it: copies of its CA and CRL under
  // <holder>/peers/.
  static TestOrg PeerCopy(const TestOrg& peer, const TestOrg& holder) {
    TestOrg copy = peer;
    const std::string dir = holder.dir + "/peers";
    fs::create_directories(dir);
    copy.ca_file = absl::StrCat(dir, "/", peer.id, "-ca.crt");
    copy.crl_file = absl::StrCat(dir, "/", peer.id, ".crl");
    Install(peer.ca_file, copy.ca_file);
    Install(peer.crl_file, copy.crl_file);
    return copy;
  }

  // `crl_refresh_seconds` > 0: police fetches customs' CRL that often.
  void StartPolice(bool with_peer_policy = false, int crl_refresh_seconds = 0,
                   const std::string& extra_yaml = "") {
    GatewaySpec spec;
    spec.org = &police_etc_;
    spec.port = police_port_;
    spec.peers = {{&customs_at_police_, customs_port_, crl_refresh_seconds}};
    spec.extra_yaml = extra_yaml;
    if (with_peer_policy) spec.policy_file = WriteOpenPolicy(police_, customs_);
    auto gateway = GatewayProcess::Start(spec);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    police_gw_ = std::move(*gateway);
  }

  void StartCustoms() {
    GatewaySpec spec;
    spec.org = &customs_etc_;
    spec.port = customs_port_;
    spec.peers = {{&police_at_customs_, police_port_}};
    spec.policy_file = WriteOpenPolicy(customs_, police_);
    auto gateway = GatewayProcess::Start(spec);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    customs_gw_ = std::move(*gateway);
  }

  // One Push on a brand-new connection to the police gateway, presenting
  // `cert` and verifying the gateway against `server_ca`.
  absl::Status PushAsNew(const std::string& item_id, const std::string& cert,
                         const std::string& key, std::string server_ca = "") {
    client::ConnectionOptions options = ClientOptions(police_, police_gw_->port());
    options.certificate = cert;
    options.private_key = key;
    if (!server_ca.empty()) options.ca = server_ca;
    options.timeout = absl::Seconds(10);
    auto client = client::Client::Connect(options);
    if (!client.ok()) return client.status();
    return (*client)->Push(MakeAlert(item_id)).status();
  }

  // Whether the police gateway holds an item with this id, asked on a new
  // connection as its integration client (or with the given files).
  bool PoliceHolds(const std::string& item_id, const std::string& cert = "",
                   const std::string& key = "", const std::string& ca = "") {
    client::ConnectionOptions options = ClientOptions(police_, police_gw_->port());
    if (!cert.empty()) options.certificate = cert;
    if (!key.empty()) options.private_key = key;
    if (!ca.empty()) options.ca = ca;
    auto client = client::Client::Connect(options);
    if (!client.ok()) return false;
    v1::ListRequest request;
    request.mutable_filter()->set_item_id(item_id);
    auto page = (*client)->List(request);
    return page.ok() && page->entries_size() == 1;
  }

  // A log line of the police gateway refusing a handshake.
  bool PoliceLogged(absl::string_view reason, absl::string_view claimed) {
    const std::string log = police_gw_->ReadLog();
    for (absl::string_view line : absl::StrSplit(log, '\n')) {
      if (absl::StrContains(line, "handshake_refused") &&
          absl::StrContains(line, absl::StrCat("reason=", reason)) &&
          absl::StrContains(line, claimed)) {
        return true;
      }
    }
    return false;
  }

  // Issues the police gateway a new certificate with `havenctl pki` and puts
  // it in place, key first; returns its serial.
  std::string InstallNewPoliceGatewayCertificate() {
    const std::string out = police_.dir + "/gateway-2";
    Havenctl({"pki", "issue", "--ca-dir", police_.ca_dir, "--role", "gateway",
              "--out", out, "--dns", "localhost"});
    Install(out + "/gateway.key", police_etc_.gateway_key);
    Install(out + "/gateway.crt", police_etc_.gateway_cert);
    return SerialOf(out + "/gateway.crt");
  }

  // Whether new connections to the police gateway are served `serial`,
  // waiting for it.
  bool PoliceServes(const std::string& serial) {
    return WaitFor([&] {
      return ServedSerial(police_gw_->port(), police_.client_cert,
                          police_.client_key) == serial;
    }, kRotation);
  }

  // The police gateway was started once and is still that process.
  void ExpectNoRestart() {
    EXPECT_TRUE(police_gw_->running());
    EXPECT_EQ(CountOccurrences(police_gw_->ReadLog(), "gateway_started"), 1)
        << police_gw_->ReadLog();
  }

  TempDir dir_;
  TestOrg police_, customs_;
  TestOrg police_etc_, customs_etc_;              // what each gateway reads
  TestOrg customs_at_police_, police_at_customs_;  // peer copies
  int police_port_ = PickUnusedPort();
  int customs_port_ = PickUnusedPort();
  std::unique_ptr<GatewayProcess> police_gw_, customs_gw_;
};

TEST_F(TrustTest, RevokedClientIsRefusedAtItsNextHandshakeWithoutARestart) {
  StartPolice();
  const std::string out = police_.dir + "/issued";
  Havenctl({"pki", "issue", "--ca-dir", police_.ca_dir, "--role", "client",
            "--name", "case-system", "--out", out});
  const std::string cert = out + "/case-system.crt", key = out + "/case-system.key";
  ASSERT_TRUE(PushAsNew("before-revocation", cert, key).ok());

  // Revoke, and publish the CRL where the gateway reads it.
  Havenctl({"pki", "revoke", "--ca-dir", police_.ca_dir, cert});
  Havenctl({"pki", "crl", "--ca-dir", police_.ca_dir, "--out",
            police_etc_.crl_file});

  // The very next handshake is refused: no reload interval, no restart.
  absl::Status refused = PushAsNew("after-revocation", cert, key);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  const std::string id = "spiffe://police.nl.example/client/case-system";
  EXPECT_TRUE(WaitFor([&] { return PoliceLogged("revoked", id); }))
      << police_gw_->ReadLog();
  EXPECT_FALSE(PoliceHolds("after-revocation"));
  EXPECT_TRUE(PoliceHolds("before-revocation"));
  // Other clients of the same CA are unaffected.
  EXPECT_TRUE(PushAsNew("other-client", police_.client_cert, police_.client_key).ok());

  // The refusal is evidence: a CALL_REJECTED record naming the claimed id.
  bool audited = WaitFor([&] {
    CommandResult exported = RunCommand(
        {HavenctlBinary(), "audit", "export", "--store", police_gw_->store_file()});
    for (absl::string_view line : absl::StrSplit(exported.out, '\n')) {
      if (absl::StrContains(line, "CALL_REJECTED") &&
          absl::StrContains(line, id) &&
          absl::StrContains(line, "TLS handshake refused: revoked")) {
        return true;
      }
    }
    return false;
  });
  EXPECT_TRUE(audited);
  ExpectNoRestart();
}

TEST_F(TrustTest, RevokedPeerGatewayIsRefusedAtItsNextHandshakeWithoutARestart) {
  StartPolice(/*with_peer_policy=*/true);
  StartCustoms();
  auto customs_client = ConnectClient(customs_, customs_gw_->port());
  ASSERT_TRUE(customs_client.ok());
  ASSERT_TRUE((*customs_client)->Push(MakeAlert("shared-before")).ok());
  ASSERT_TRUE(WaitFor([&] { return PoliceHolds("shared-before"); }))
      << police_gw_->ReadLog() << customs_gw_->ReadLog();
  // The customs gateway's certificate passes the police handshake (as a
  // gateway it may not push, which is the next check).
  EXPECT_EQ(PushAsNew("probe-1", customs_.gateway_cert, customs_.gateway_key)
                .code(),
            absl::StatusCode::kPermissionDenied);

  // Customs revokes its gateway's certificate (say its key leaked) and
  // publishes the CRL to its partners: police gets a copy.
  Havenctl({"pki", "revoke", "--ca-dir", customs_.ca_dir, customs_.gateway_cert});
  Havenctl({"pki", "crl", "--ca-dir", customs_.ca_dir, "--out",
            customs_at_police_.crl_file});

  // Whoever holds that key is refused at the next handshake ...
  EXPECT_EQ(PushAsNew("probe-2", customs_.gateway_cert, customs_.gateway_key)
                .code(),
            absl::StatusCode::kUnavailable);
  const std::string customs_id = "spiffe://customs.nl.example/gateway";
  EXPECT_TRUE(WaitFor([&] { return PoliceLogged("revoked", customs_id); }))
      << police_gw_->ReadLog();

  // ... including the customs gateway process itself, once it reconnects
  // (established connections are not cut: README). It still has the old
  // CRL, so it starts; its item stays in its outbox, never reaching police.
  customs_gw_->Kill9();
  const int refused_before = CountOccurrences(police_gw_->ReadLog(), "reason=revoked");
  ASSERT_TRUE(customs_gw_->Restart().ok()) << customs_gw_->ReadLog();
  customs_client = ConnectClient(customs_, customs_gw_->port());
  ASSERT_TRUE(customs_client.ok());
  ASSERT_TRUE((*customs_client)->Push(MakeAlert("shared-after")).ok());
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(customs_gw_->ReadLog(), "peer_link_broken partner=police-nl");
  })) << customs_gw_->ReadLog();
  EXPECT_GT(CountOccurrences(police_gw_->ReadLog(), "reason=revoked"), refused_before)
      << police_gw_->ReadLog();
  EXPECT_FALSE(PoliceHolds("shared-after"));
  EXPECT_TRUE(PoliceHolds("shared-before"));
  ExpectNoRestart();
}

TEST_F(TrustTest, RotatedGatewayCertificateIsServedToNewConnectionsWithoutARestart) {
  StartPolice();
  const std::string old_serial = SerialOf(police_etc_.gateway_cert);
  ASSERT_EQ(ServedSerial(police_gw_->port(), police_.client_cert,
                         police_.client_key),
            old_serial);

  // A new certificate for the same gateway id, put in place key first.
  const std::string new_serial = InstallNewPoliceGatewayCertificate();
  ASSERT_NE(new_serial, old_serial);
  EXPECT_TRUE(PoliceServes(new_serial)) << police_gw_->ReadLog();
  EXPECT_THAT(police_gw_->ReadLog(),
              HasSubstr(absl::StrCat("tls_certificate_rotated serial=", new_serial)));
  // Clients verifying the gateway's id accept the new certificate.
  EXPECT_TRUE(PushAsNew("after-rotation", police_.client_cert,
                        police_.client_key).ok());

  // A bad replacement — another organisation's gateway certificate and
  // key — is reported and never served; the good one stays in use.
  Install(customs_.gateway_key, police_etc_.gateway_key);
  Install(customs_.gateway_cert, police_etc_.gateway_cert);
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(police_gw_->ReadLog(), "tls_reload_failed");
  }, kRotation)) << police_gw_->ReadLog();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ServedSerial(police_gw_->port(), police_.client_cert,
                           police_.client_key),
              new_serial);
  }
  EXPECT_TRUE(PushAsNew("after-bad-file", police_.client_cert,
                        police_.client_key).ok());
  ExpectNoRestart();
}

TEST_F(TrustTest, RotatedGatewayCertificateIsAlsoWhatItDialsPeersWith) {
  StartCustoms();
  StartPolice(/*with_peer_policy=*/true);
  auto police_client = ConnectClient(police_, police_gw_->port());
  ASSERT_TRUE(police_client.ok());
  auto customs_client = ConnectClient(customs_, customs_gw_->port());
  ASSERT_TRUE(customs_client.ok());
  auto customs_holds = [&](const std::string& item_id) {
    v1::ListRequest request;
    request.mutable_filter()->set_item_id(item_id);
    auto page = (*customs_client)->List(request);
    return page.ok() && page->entries_size() == 1;
  };
  ASSERT_TRUE((*police_client)->Push(MakeAlert("before-rotation")).ok());
  ASSERT_TRUE(WaitFor([&] { return customs_holds("before-rotation"); }))
      << police_gw_->ReadLog();

  // Police rotates its gateway certificate ...
  ASSERT_TRUE(PoliceServes(InstallNewPoliceGatewayCertificate()))
      << police_gw_->ReadLog();
  // ... revokes the old one and publishes the CRL to customs.
  Havenctl({"pki", "revoke", "--ca-dir", police_.ca_dir, police_.gateway_cert});
  Havenctl({"pki", "crl", "--ca-dir", police_.ca_dir, "--out",
            police_at_customs_.crl_file});

  // Customs restarts, so the police link must handshake anew: with the
  // old certificate it would be refused (revoked); the item arrives, so the
  // police gateway dials with its new certificate, without a restart.
  customs_gw_->Kill9();
  ASSERT_TRUE(customs_gw_->Restart().ok()) << customs_gw_->ReadLog();
  customs_client = ConnectClient(customs_, customs_gw_->port());
  ASSERT_TRUE(customs_client.ok());
  ASSERT_TRUE((*police_client)->Push(MakeAlert("after-rotation")).ok());
  EXPECT_TRUE(WaitFor([&] { return customs_holds("after-rotation"); }, kRotation))
      << police_gw_->ReadLog() << customs_gw_->ReadLog();
  // At customs the old certificate is refused and the new one passes (a
  // gateway may not push: the role check after the handshake).
  auto push_to_customs = [&](const std::string& cert, const std::string& key) {
    client::ConnectionOptions options = ClientOptions(customs_, customs_gw_->port());
    options.certificate = cert;
    options.private_key = key;
    options.timeout = absl::Seconds(10);
    auto client = client::Client::Connect(options);
    return client.ok() ? (*client)->Push(MakeAlert("probe")).status() : client.status();
  };
  EXPECT_EQ(push_to_customs(police_.gateway_cert, police_.gateway_key).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(push_to_customs(police_etc_.gateway_cert, police_etc_.gateway_key).code(),
            absl::StatusCode::kPermissionDenied);
  ExpectNoRestart();
}

TEST_F(TrustTest, ReplacedOwnCaTakesEffectWithItsCrlWithoutARestart) {
  StartPolice();
  // The organisation's new CA (same trust domain), its CRL, a client and
  // the gateway's certificate from it.
  const std::string ca2 = police_.dir + "/ca-2", out = police_.dir + "/from-ca-2";
  Havenctl({"pki", "init-ca", "--org", "police-nl", "--domain",
            "police.nl.example", "--dir", ca2});
  Havenctl({"pki", "crl", "--ca-dir", ca2});
  Havenctl({"pki", "issue", "--ca-dir", ca2, "--role", "client", "--name",
            "integration", "--out", out});
  Havenctl({"pki", "issue", "--ca-dir", ca2, "--role", "gateway", "--out", out,
            "--dns", "localhost"});
  const std::string new_client = out + "/integration.crt",
                    new_client_key = out + "/integration.key";
  const std::string client_id = "spiffe://police.nl.example/client/integration";
  // Before: the new CA's client is an unknown issuer.
  EXPECT_EQ(PushAsNew("new-ca-0", new_client, new_client_key).code(),
            absl::StatusCode::kUnavailable);

  // The CA file alone: its old CRL does not belong to it, so the domain
  // fails closed — a CA change never switches revocation off.
  Install(ca2 + "/ca.crt", police_etc_.ca_file);
  EXPECT_EQ(PushAsNew("new-ca-1", new_client, new_client_key).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(WaitFor([&] { return PoliceLogged("crl_unavailable", client_id); }))
      << police_gw_->ReadLog();

  // With the new CA's CRL: the new CA's client gets in, the old CA's
  // client does not (one CA per domain, a hard cut-over). The gateway
  // still serves its old-CA certificate, which the client verifies.
  Install(ca2 + "/crl.pem", police_etc_.crl_file);
  absl::Status pushed = PushAsNew("new-ca-2", new_client, new_client_key);
  EXPECT_TRUE(pushed.ok()) << pushed << police_gw_->ReadLog();
  EXPECT_EQ(PushAsNew("old-ca-2", police_.client_cert, police_.client_key).code(),
            absl::StatusCode::kUnavailable);

  // The gateway's certificate from the new CA, served without a restart;
  // clients that now trust only the new CA accept it.
  const std::string new_serial = SerialOf(out + "/gateway.crt");
  Install(out + "/gateway.key", police_etc_.gateway_key);
  Install(out + "/gateway.crt", police_etc_.gateway_cert);
  EXPECT_TRUE(WaitFor([&] {
    return ServedSerial(police_gw_->port(), new_client, new_client_key) ==
           new_serial;
  }, kRotation)) << police_gw_->ReadLog();
  pushed = PushAsNew("new-ca-3", new_client, new_client_key, ca2 + "/ca.crt");
  EXPECT_TRUE(pushed.ok()) << pushed;
  for (const char* id : {"new-ca-2", "new-ca-3"}) {
    EXPECT_TRUE(PoliceHolds(id, new_client, new_client_key, ca2 + "/ca.crt")) << id;
  }
  ExpectNoRestart();
}

TEST_F(TrustTest, ReplacedPeerCaIsTrustedForThatPeerWithoutARestart) {
  StartPolice();
  // Customs moves to a new CA and issues its gateway a certificate from it.
  const std::string ca2 = customs_.dir + "/ca-2", out = customs_.dir + "/from-ca-2";
  Havenctl({"pki", "init-ca", "--org", "customs-nl", "--domain",
            "customs.nl.example", "--dir", ca2});
  Havenctl({"pki", "issue", "--ca-dir", ca2, "--role", "gateway", "--out", out,
            "--dns", "localhost"});
  const std::string new_gw = out + "/gateway.crt", new_gw_key = out + "/gateway.key";
  const std::string customs_id = "spiffe://customs.nl.example/gateway";
  // Police does not know the new CA yet.
  EXPECT_EQ(PushAsNew("p0", new_gw, new_gw_key).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(WaitFor([&] { return PoliceLogged("unknown_issuer", customs_id); }))
      << police_gw_->ReadLog();

  // Customs sends police its new CA certificate, and then its new CRL.
  Install(ca2 + "/ca.crt", customs_at_police_.ca_file);
  EXPECT_EQ(PushAsNew("p1", new_gw, new_gw_key).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(WaitFor([&] { return PoliceLogged("crl_unavailable", customs_id); }))
      << police_gw_->ReadLog();
  Havenctl({"pki", "crl", "--ca-dir", ca2, "--out", customs_at_police_.crl_file});

  // The handshake now passes (a gateway may not push: PERMISSION_DENIED
  // is the role check after it); the old CA's certificate no longer does.
  EXPECT_EQ(PushAsNew("p2", new_gw, new_gw_key).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(PushAsNew("p3", customs_.gateway_cert, customs_.gateway_key).code(),
            absl::StatusCode::kUnavailable);
  // The new customs CA is trusted for the customs gateway only: a client
  // certificate it issued is not a partner gateway.
  Havenctl({"pki", "issue", "--ca-dir", ca2, "--role", "client", "--name",
            "x", "--out", out});
  EXPECT_EQ(PushAsNew("p4", out + "/x.crt", out + "/x.key").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(WaitFor([&] {
    return PoliceLogged("role_not_allowed", "spiffe://customs.nl.example/client/x");
  })) << police_gw_->ReadLog();
  ExpectNoRestart();
}

TEST_F(TrustTest, PeerCaIsTrustedForThatPeersGatewayOnly) {
  auto port = CreateTestOrg(dir_.path(), "port-rtm", "portofrotterdam.example");
  ASSERT_TRUE(port.ok()) << port.status();
  GatewaySpec spec;
  spec.org = &police_etc_;
  spec.peers = {{&customs_at_police_, customs_port_}, {&*port, PickUnusedPort()}};
  auto gateway = GatewayProcess::Start(spec);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  police_gw_ = std::move(*gateway);
  // The customs CA's own gateway passes the handshake (the role check that
  // follows refuses a gateway's Push).
  EXPECT_EQ(PushAsNew("p0", customs_.gateway_cert, customs_.gateway_key).code(),
            absl::StatusCode::kPermissionDenied);
  // The customs CA minting other organisations' identities. (It cannot
  // with havenctl: the test bypasses its checks, and the CA's own name
  // constraints.)
  auto ca = customs_.OpenCa();
  ASSERT_TRUE(ca.ok()) << ca.status();
  const std::vector<std::string> claims = {
      "spiffe://police.nl.example/gateway", "spiffe://portofrotterdam.example/gateway",
      "spiffe://police.nl.example/client/integration"};
  for (size_t i = 0; i < claims.size(); ++i) {
    const std::string& claimed = claims[i];
    SCOPED_TRACE(claimed);
    pki::IssueRequest request;
    request.role = pki::Role::kGateway;
    request.name = absl::StrCat("impostor-", i);
    pki::CertificateOverridesForTesting overrides;
    overrides.uri_sans = std::vector<std::string>{claimed};
    auto impostor = ca->IssueForTesting(request, overrides, customs_.dir + "/impostors");
    ASSERT_TRUE(impostor.ok()) << impostor.status();
    EXPECT_EQ(PushAsNew("impostor", impostor->cert_file, impostor->key_file).code(),
              absl::StatusCode::kUnavailable);
    EXPECT_TRUE(WaitFor([&] { return PoliceLogged("foreign_trust_domain", claimed); }))
        << police_gw_->ReadLog();
  }
  EXPECT_FALSE(PoliceHolds("impostor"));
  ExpectNoRestart();
}

// Partners' CRLs stay fresh without anyone copying files: customs revokes
// its gateway's certificate and writes the new CRL into its own tls.crl
// only; police fetches it over the federation connection (GetCrl), and the
// next handshake with that certificate is refused.
TEST_F(TrustTest, PeerCrlIsFetchedFromThePeerAndAppliedWithoutCopyingFiles) {
  StartPolice(/*with_peer_policy=*/true, /*crl_refresh_seconds=*/1);
  StartCustoms();
  const int64_t copy_before = CrlNumberOf(customs_at_police_.crl_file);
  ASSERT_GE(copy_before, 0);
  EXPECT_EQ(PushAsNew("probe-1", customs_.gateway_cert, customs_.gateway_key).code(),
            absl::StatusCode::kPermissionDenied);

  Havenctl({"pki", "revoke", "--ca-dir", customs_.ca_dir, customs_.gateway_cert});
  Havenctl({"pki", "crl", "--ca-dir", customs_.ca_dir, "--out", customs_etc_.crl_file});
  const int64_t published = CrlNumberOf(customs_etc_.crl_file);
  ASSERT_GT(published, copy_before);

  EXPECT_TRUE(WaitFor([&] {
    return CrlNumberOf(customs_at_police_.crl_file) == published;
  }, absl::Seconds(15))) << police_gw_->ReadLog() << customs_gw_->ReadLog();
  EXPECT_THAT(police_gw_->ReadLog(), HasSubstr("peer_crl_updated peer=customs-nl"));
  EXPECT_TRUE(WaitFor([&] {
    return PushAsNew("probe-2", customs_.gateway_cert, customs_.gateway_key).code() ==
           absl::StatusCode::kUnavailable;
  }, kRotation));
  EXPECT_TRUE(WaitFor([&] {
    return PoliceLogged("revoked", "spiffe://customs.nl.example/gateway");
  })) << police_gw_->ReadLog();
  ExpectNoRestart();
}

// What `havenctl health --json` says of customs-nl's CRL copy at police
// ("fresh", "stale", "never_fetched"), with the copy's CRL number; "" if
// health did not answer with a status for customs-nl.
struct CrlHealth {
  std::string state;
  int64_t number = -2;
};
CrlHealth PoliceHealthOfCustomsCrl(const TestOrg& police, int port) {
  CommandResult r = RunCommand(
      {HavenctlBinary(), "health", "--json", "--address", absl::StrCat("localhost:", port),
       "--cert", police.client_cert, "--key", police.client_key, "--ca", police.ca_file,
       "--gateway-id", police.gateway_id()});
  CrlHealth health;
  const std::string entry = "{\"partner\":\"customs-nl\",";
  const size_t at = r.out.find(entry);
  if (at == std::string::npos) return health;
  const std::string peer = r.out.substr(at, r.out.find('}', at) - at);
  for (std::string state : {"fresh", "stale", "never_fetched", "not_configured"}) {
    if (absl::StrContains(peer, absl::StrCat("\"crl\":\"", state, "\""))) health.state = state;
  }
  const size_t number = peer.find("\"crl_number\":");
  if (number != std::string::npos) {
    health.number = std::strtoll(peer.c_str() + number + 13, nullptr, 10);
  }
  return health;
}

// A partner's CRL that goes past its nextUpdate shows as stale in
// `havenctl health --json` and the metric; a fetched replacement is audited
// (PEER_CRL_UPDATED with the CRL number and nextUpdate) and fresh again.
TEST_F(TrustTest, PeerCrlPastItsNextUpdateIsStaleInHealthAndMetrics) {
  const int metrics_port = PickUnusedPort();
  // Customs is not up yet: police has never fetched its CRL.
  StartPolice(/*with_peer_policy=*/true, /*crl_refresh_seconds=*/1,
              absl::StrCat("metrics: {listen: 127.0.0.1:", metrics_port, "}\n"));
  EXPECT_TRUE(WaitFor([&] {
    return PoliceHealthOfCustomsCrl(police_, police_gw_->port()).state == "never_fetched";
  }, absl::Seconds(15)));

  // Customs publishes a CRL that is valid for a few seconds only (signed
  // with the certs library, as `havenctl pki crl` does with a long one).
  auto ca = pki::CertificateAuthority::Open(customs_.ca_dir);
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto short_lived = ca->WriteCrl(absl::Seconds(6), customs_etc_.crl_file);
  ASSERT_TRUE(short_lived.ok()) << short_lived.status();
  const int64_t number = short_lived->crl_number();
  StartCustoms();
  EXPECT_TRUE(WaitFor([&] {
    CrlHealth health = PoliceHealthOfCustomsCrl(police_, police_gw_->port());
    return health.state == "fresh" && health.number == number;
  }, absl::Seconds(15))) << police_gw_->ReadLog();
  const metrics::ScrapeTarget scrape{metrics_port, police_.ca_file, police_.client_cert,
                                     police_.client_key};
  auto stale_metric = [&]() -> double {
    auto page = metrics::ScrapeMetrics(scrape);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->Find("havengate_peer_crl_stale", {{"partner", "customs-nl"}})
                           .value_or(-1)
                     : -1;
  };
  EXPECT_EQ(stale_metric(), 0);

  // Past its nextUpdate, with no newer CRL from customs: stale.
  EXPECT_TRUE(WaitFor([&] {
    return PoliceHealthOfCustomsCrl(police_, police_gw_->port()).state == "stale";
  }, absl::Seconds(20))) << police_gw_->ReadLog();
  EXPECT_TRUE(WaitFor([&] { return stale_metric() == 1; }, absl::Seconds(5)));
  EXPECT_THAT(police_gw_->ReadLog(), HasSubstr("peer_crl_stale peer=customs-nl"));
  // Exit status unchanged: a stale copy is reported, not a reason to stop.
  CommandResult text = RunCommand(
      {HavenctlBinary(), "health", "--address", absl::StrCat("localhost:", police_gw_->port()),
       "--cert", police_.client_cert, "--key", police_.client_key, "--ca", police_.ca_file,
       "--gateway-id", police_.gateway_id()});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("crl stale (number ", number, ", next update ",
                                               absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                                                short_lived->next_update(),
                                                                absl::UTCTimeZone()))));

  // Customs re-signs: police fetches it, audits the update, fresh again.
  Havenctl({"pki", "crl", "--ca-dir", customs_.ca_dir, "--out", customs_etc_.crl_file});
  EXPECT_TRUE(WaitFor([&] {
    CrlHealth health = PoliceHealthOfCustomsCrl(police_, police_gw_->port());
    return health.state == "fresh" && health.number == number + 1;
  }, absl::Seconds(15))) << police_gw_->ReadLog();
  EXPECT_TRUE(WaitFor([&] { return stale_metric() == 0; }, absl::Seconds(5)));

  CommandResult audit = Havenctl({"audit", "export", "--store", police_gw_->store_file(),
                                  "--format", "jsonl"});
  std::vector<std::string> updates;
  for (absl::string_view line : absl::StrSplit(audit.out, '\n')) {
    if (absl::StrContains(line, "\"PEER_CRL_UPDATED\"")) updates.emplace_back(line);
  }
  ASSERT_EQ(updates.size(), 2u) << audit.out;
  EXPECT_THAT(updates[0], HasSubstr("\"partner\":\"customs-nl\""));
  EXPECT_THAT(updates[0], HasSubstr(absl::StrCat("crl_number=", number, " next_update=")));
  EXPECT_THAT(updates[1], HasSubstr(absl::StrCat("crl_number=", number + 1, " next_update=")));
  EXPECT_THAT(updates[0], Not(HasSubstr("BEGIN"))) << "the CRL itself is not in the audit";
}

TEST_F(TrustTest, PeerCrlNotSignedByThePinnedCaIsNotWritten) {
  auto other = CreateTestOrg(dir_.path(), "port-rtm", "portofrotterdam.example");
  ASSERT_TRUE(other.ok()) << other.status();
  StartCustoms();
  // Customs' tls.crl now holds another CA's list (a mistake, or an attack
  // on its files): police must not take it as customs' CRL.
  Havenctl({"pki", "crl", "--ca-dir", other->ca_dir, "--out", customs_etc_.crl_file});
  const std::string copy_before = ReadFile(customs_at_police_.crl_file);
  StartPolice(/*with_peer_policy=*/true, /*crl_refresh_seconds=*/1);
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(police_gw_->ReadLog(), "not signed by the CA pinned for customs-nl");
  }, absl::Seconds(15))) << police_gw_->ReadLog();
  EXPECT_EQ(ReadFile(customs_at_police_.crl_file), copy_before);
}

// A channel to the police gateway presenting `cert`, trusting `ca` for it.
std::shared_ptr<grpc::Channel> ChannelToPolice(const TestOrg& police, int port,
                                               const std::string& cert,
                                               const std::string& key,
                                               const std::string& ca) {
  pki::ChannelCredentialsOptions tls;
  tls.certificate_file = cert;
  tls.private_key_file = key;
  tls.ca_file = ca;
  tls.expected_server_id = police.gateway_id();
  auto credentials = pki::MakeChannelCredentials(tls);
  EXPECT_TRUE(credentials.ok()) << credentials.status();
  return credentials.ok()
             ? grpc::CreateChannel(absl::StrCat("localhost:", port), *credentials)
             : nullptr;
}

// Makes one call (10 s deadline) and expects it refused with
// PERMISSION_DENIED and the police gateway to log `logged`.
void ExpectRefusedAndLogged(const std::function<grpc::Status(grpc::ClientContext&)>& call,
                            const GatewayProcess& police, const std::string& logged) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status status = call(context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains(police.ReadLog(), logged); }))
      << police.ReadLog();
}

// GetCrl answers configured peers' gateways only: police's own client
// passes the handshake and is refused by the call (and audited).
TEST_F(TrustTest, GetCrlIsRefusedToAnyoneButAConfiguredPeerGateway) {
  StartPolice();
  auto channel = ChannelToPolice(police_, police_gw_->port(), police_.client_cert,
                                 police_.client_key, police_.ca_file);
  ASSERT_NE(channel, nullptr);
  auto stub = v1::Federation::NewStub(channel);
  v1::GetCrlResponse response;
  ExpectRefusedAndLogged(
      [&](grpc::ClientContext& context) {
        return stub->GetCrl(&context, v1::GetCrlRequest(), &response);
      },
      *police_gw_, "call_rejected method=GetCrl");
  EXPECT_TRUE(response.pem().empty());
}

// GatewayStatus (what `havenctl health` shows of the partners) is for this
// organisation's clients and officers: a partner's gateway, which passes
// the handshake, learns nothing about the other partners.
TEST_F(TrustTest, GatewayStatusIsRefusedToPartnersGateways) {
  StartPolice();
  auto channel = ChannelToPolice(police_, police_gw_->port(), customs_.gateway_cert,
                                 customs_.gateway_key, police_.ca_file);
  ASSERT_NE(channel, nullptr);
  auto stub = v1::GatewayStatus::NewStub(channel);
  v1::GetStatusResponse response;
  ExpectRefusedAndLogged(
      [&](grpc::ClientContext& context) {
        return stub->GetStatus(&context, v1::GetStatusRequest(), &response);
      },
      *police_gw_, "service=GatewayStatus");
  EXPECT_EQ(response.peers_size(), 0);
  EXPECT_TRUE(WaitFor([&] {
    CommandResult audit = Havenctl({"audit", "export", "--store", police_gw_->store_file(),
                                    "--format", "jsonl"});
    return absl::StrContains(audit.out, "GetStatus: PERMISSION_DENIED");
  })) << "the refusal is audited (CALL_REJECTED)";
}

}  // namespace
}  // namespace havengate::testing
