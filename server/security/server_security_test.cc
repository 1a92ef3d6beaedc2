// End-to-end tests of the mutual-TLS trust layer: a real gRPC server with
// MakeServerCredentials on 127.0.0.1:0, real clients, certificates made by
// the test with havengate's own CA code. Every refusal must happen in the
// handshake (the handler never runs) and be reported with its reason.
#include "server/security/server_security.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "certs/ca.h"
#include "certs/channel_credentials.h"
#include "certs/pki_testing.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace havengate::security {
namespace {

using pki::CertificateAuthority;
using pki::CertificateOverridesForTesting;
using pki::IssuedCertificate;
using pki::RejectReason;
using pki::Role;

constexpr char kMethod[] = "/havengate.test.WhoAmI/Get";
constexpr absl::Duration kWait = absl::Seconds(20);

using pki::testing::ReadAll;

// Rewrites a file in place (same inode, mode kept), as a careless operator
// would: the trust layer must cope with it.
void Overwrite(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::trunc);
  out << contents;
}

// Replaces a file by rename, as a careful operator (or havenctl) would.
void Replace(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".new";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << contents;
  }
  std::filesystem::rename(tmp, path);
}

class RecordingListener : public HandshakeListener {
 public:
  void OnHandshakeRejected(const HandshakeRejection& r) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      rejections_.push_back(r);
    }
    cv_.notify_all();
  }
  void OnReloadProblem(const absl::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    problems_.push_back(s);
  }
  void OnIdentityRotated(absl::string_view serial) override {
    std::lock_guard<std::mutex> lock(mu_);
    rotations_.emplace_back(serial);
  }

  size_t rejection_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return rejections_.size();
  }
  // The first rejection recorded after the first `from`, waiting for it.
  std::optional<HandshakeRejection> WaitForRejection(size_t from) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoSeconds(kWait),
                      [&] { return rejections_.size() > from; })) {
      return std::nullopt;
    }
    return rejections_[from];
  }
  std::vector<absl::Status> problems() {
    std::lock_guard<std::mutex> lock(mu_);
    return problems_;
  }
  std::vector<std::string> rotations() {
    std::lock_guard<std::mutex> lock(mu_);
    return rotations_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HandshakeRejection> rejections_;  // guarded by mu_
  std::vector<absl::Status> problems_;          // guarded by mu_
  std::vector<std::string> rotations_;          // guarded by mu_
};

// Answers every call with the caller's identity as the trust layer sees it.
class WhoAmIService : public grpc::CallbackGenericService {
 public:
  explicit WhoAmIService(const ServerSecurity* security) : security_(security) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    ++calls_;
    absl::StatusOr<PeerIdentity> peer = security_->AuthenticatedPeer(*context);
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_peer_ = peer;
    }
    if (!peer.ok()) {
      return new Reactor("", grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                          std::string(peer.status().message())));
    }
    return new Reactor(peer->spiffe_id, grpc::Status::OK);
  }

  int calls() const { return calls_.load(); }
  absl::StatusOr<PeerIdentity> last_peer() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_peer_;
  }

 private:
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    Reactor(std::string reply, grpc::Status status)
        : reply_(std::move(reply)), status_(std::move(status)) {
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (!ok || !status_.ok()) {
        Finish(status_);
        return;
      }
      grpc::Slice slice(reply_);
      response_ = grpc::ByteBuffer(&slice, 1);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), status_);
    }
    void OnDone() override { delete this; }

   private:
    std::string reply_;
    grpc::Status status_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
  };

  const ServerSecurity* security_;
  std::atomic<int> calls_{0};
  std::mutex mu_;
  absl::StatusOr<PeerIdentity> last_peer_ = absl::UnknownError("no call yet");
};

struct CallResult {
  grpc::Status status;
  std::string reply;
  std::string server_serial;  // serial of the certificate the server showed
};

class ServerSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    police_ca_.emplace(MakeCa("police-nl", "police.nl.example", "police-ca"));
    customs_ca_.emplace(MakeCa("customs-nl", "customs.nl.example", "customs-ca"));
    gateway_.emplace(Issue(*police_ca_, Role::kGateway, "gateway", "police-gw",
                           {"localhost"}));
    client_.emplace(Issue(*police_ca_, Role::kClient, "case-system", "police-client"));

    options_.organisation_id = "police-nl";
    options_.trust_domain = "police.nl.example";
    options_.ca_file = police_ca_->cert_file();
    options_.crl_file = police_ca_->crl_file();
    options_.certificate_file = gateway_->cert_file;
    options_.private_key_file = gateway_->key_file;
    options_.peers.push_back({"customs-nl", "customs.nl.example",
                              customs_ca_->cert_file(), customs_ca_->crl_file()});
    options_.reload_interval_seconds = 1;
    options_.state_dir = Path("state");
    StartServer();
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now()));
    server_.reset();
    service_.reset();
    security_.reset();
  }

  void StartServer() {
    absl::StatusOr<std::unique_ptr<ServerSecurity>> security =
        MakeServerCredentials(options_, listener_);
    ASSERT_TRUE(security.ok()) << security.status();
    security_ = *std::move(security);
    service_ = std::make_unique<WhoAmIService>(security_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", security_->credentials(), &port_);
    builder.RegisterCallbackGenericService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  std::string Path(absl::string_view name) const { return dir_.Path(name); }

  CertificateAuthority MakeCa(const std::string& org, const std::string& domain,
                              const std::string& dir) {
    return pki::testing::MakeCa(Path(dir), org, domain);
  }

  IssuedCertificate Issue(const CertificateAuthority& ca, Role role,
                          const std::string& name, const std::string& dir,
                          std::vector<std::string> dns = {}) {
    return pki::testing::IssueCert(ca, role, name, Path(dir), std::move(dns));
  }

  IssuedCertificate IssueBad(const CertificateAuthority& ca, Role role,
                             const std::string& name, const std::string& dir,
                             const CertificateOverridesForTesting& overrides) {
    return pki::testing::IssueCert(ca, role, name, Path(dir), {}, &overrides);
  }

  // Channel credentials as the client library builds them.
  std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(
      const IssuedCertificate& cert, const std::string& expected_server,
      const std::string& ca_file, const std::string& crl_file = "") {
    pki::ChannelCredentialsOptions options;
    options.certificate_file = cert.cert_file;
    options.private_key_file = cert.key_file;
    options.ca_file = ca_file;
    options.crl_file = crl_file;
    options.expected_server_id = expected_server;
    options.reload_interval_seconds = 1;
    options.on_server_rejected = [this](RejectReason reason, absl::string_view) {
      std::lock_guard<std::mutex> lock(client_mu_);
      client_rejections_.push_back(reason);
    };
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
        pki::MakeChannelCredentials(options);
    EXPECT_TRUE(creds.ok()) << creds.status();
    return creds.ok() ? *creds : nullptr;
  }

  // Plain gRPC TLS credentials presenting any certificate (or none), for
  // the refusal cases MakeChannelCredentials itself would not build.
  std::shared_ptr<grpc::ChannelCredentials> RawCredentials(
      const IssuedCertificate* cert) {
    namespace ex = grpc::experimental;
    const std::string roots = ReadAll(police_ca_->cert_file());
    std::shared_ptr<ex::CertificateProviderInterface> provider;
    if (cert != nullptr) {
      provider = std::make_shared<ex::StaticDataCertificateProvider>(
          roots, std::vector<ex::IdentityKeyCertPair>{
                     {ReadAll(cert->key_file), ReadAll(cert->cert_file)}});
    } else {
      provider = std::make_shared<ex::StaticDataCertificateProvider>(roots);
    }
    ex::TlsChannelCredentialsOptions options;
    options.set_certificate_provider(provider);
    options.watch_root_certs();
    if (cert != nullptr) options.watch_identity_key_cert_pairs();
    options.set_verify_server_certs(true);
    options.set_certificate_verifier(
        std::make_shared<ex::NoOpCertificateVerifier>());
    options.set_check_call_host(false);
    return ex::TlsCredentials(options);
  }

  // A channel with a connection of its own.
  std::shared_ptr<grpc::Channel> NewChannel(
      const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // SNI only: identity is checked by SPIFFE id, never by host name. (gRPC
    // logs an error on the server for SNI "127.0.0.1", not in any SAN.)
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_), creds, args);
  }

  // One call on a brand-new connection.
  CallResult Call(const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    return CallOn(NewChannel(creds));
  }

  // One call on `channel` (its connection, once it has one, is reused).
  CallResult CallOn(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    grpc::Slice slice(std::string("who"));
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, kMethod, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    CallResult result;
    result.status = done.get_future().get();
    if (result.status.ok()) {
      std::vector<grpc::Slice> slices;
      (void)response.Dump(&slices);
      for (const grpc::Slice& s : slices) {
        result.reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
      std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
      std::vector<grpc::string_ref> pems =
          auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
      if (pems.size() == 1) {
        absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(
            absl::string_view(pems[0].data(), pems[0].size()));
        if (cert.ok()) result.server_serial = cert->SerialHex();
      }
    }
    return result;
  }

  // Calls until `done(result)` holds or the deadline passes (file watchers
  // refresh every second in these tests).
  template <typename Pred>
  CallResult CallUntil(const std::shared_ptr<grpc::ChannelCredentials>& creds,
                       Pred done) {
    const absl::Time deadline = absl::Now() + kWait;
    CallResult result = Call(creds);
    while (!done(result) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      result = Call(creds);
    }
    return result;
  }

  // Asserts that presenting `creds` is refused in the handshake, without
  // running the handler, and reported with `reason`.
  void ExpectRefused(const std::shared_ptr<grpc::ChannelCredentials>& creds,
                     RejectReason reason, const std::string& claimed_id) {
    const int calls_before = service_->calls();
    const size_t reported_before = listener_->rejection_count();
    CallResult result = Call(creds);
    EXPECT_FALSE(result.status.ok());
    EXPECT_THAT(result.status.error_code(),
                ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                                 grpc::StatusCode::UNAUTHENTICATED))
        << result.status.error_message();
    EXPECT_EQ(service_->calls(), calls_before) << "the handler ran";
    const std::string client_error = result.status.error_message();
    std::optional<HandshakeRejection> rejection =
        listener_->WaitForRejection(reported_before);
    ASSERT_TRUE(rejection.has_value())
        << "no rejection reported; the client saw: " << client_error;
    EXPECT_EQ(pki::RejectReasonName(rejection->reason),
              pki::RejectReasonName(reason))
        << rejection->detail;
    EXPECT_EQ(rejection->claimed_spiffe_id, claimed_id);
    EXPECT_FALSE(rejection->detail.empty());
  }

  pki::testing::TempDir dir_{"hg-security-test"};
  std::optional<CertificateAuthority> police_ca_;
  std::optional<CertificateAuthority> customs_ca_;
  std::optional<IssuedCertificate> gateway_;
  std::optional<IssuedCertificate> client_;
  ServerSecurityOptions options_;
  std::shared_ptr<RecordingListener> listener_ = std::make_shared<RecordingListener>();
  std::unique_ptr<ServerSecurity> security_;
  std::unique_ptr<WhoAmIService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex client_mu_;
  std::vector<RejectReason> client_rejections_;  // guarded by client_mu_
};

constexpr char kPoliceGateway[] = "spiffe://police.nl.example/gateway";

// A bare OpenSSL client handshake against the gateway port. Returns
// "<protocol> <cipher>" on success, "" if the handshake failed.
std::string RawHandshake(int port, int max_version, const char* tls12_ciphers,
                         const IssuedCertificate& cert) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(
      SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_set_security_level(ctx.get(), 0);  // let the client offer old TLS
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (tls12_ciphers != nullptr) SSL_CTX_set_cipher_list(ctx.get(), tls12_ciphers);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), cert.cert_file.c_str()), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), cert.key_file.c_str(),
                                        SSL_FILETYPE_PEM), 1);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  SSL* ssl = SSL_new(ctx.get());
  SSL_set_fd(ssl, fd);
  std::string result;
  if (SSL_connect(ssl) == 1) {
    result = absl::StrCat(SSL_get_version(ssl), " ", SSL_get_cipher_name(ssl));
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  close(fd);
  ERR_clear_error();
  return result;
}

TEST_F(ServerSecurityTest, OwnClientIsAcceptedWithIdentityFromCertificate) {
  CallResult result =
      Call(ClientCredentials(*client_, kPoliceGateway, police_ca_->cert_file()));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.reply, "spiffe://police.nl.example/client/case-system");
  EXPECT_EQ(result.server_serial, gateway_->certificate.SerialHex());
  absl::StatusOr<PeerIdentity> peer = service_->last_peer();
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->organisation_id, "police-nl");
  EXPECT_EQ(peer->trust_domain, "police.nl.example");
  EXPECT_EQ(peer->role, Role::kClient);
  EXPECT_EQ(peer->name, "case-system");
  EXPECT_TRUE(peer->own_organisation);
  EXPECT_EQ(peer->certificate_serial, client_->certificate.SerialHex());
  EXPECT_TRUE(RequireRole(*peer, Role::kClient).ok());
  absl::Status denied = RequireRole(*peer, Role::kOfficer);
  EXPECT_TRUE(absl::IsPermissionDenied(denied));
  EXPECT_THAT(std::string(denied.message()), ::testing::HasSubstr("officer"));
  EXPECT_TRUE(absl::IsPermissionDenied(RequirePeerGateway(*peer)));
  EXPECT_EQ(listener_->rejection_count(), 0u);
}

TEST_F(ServerSecurityTest, OfficerAndPeerGatewayAreAccepted) {
  IssuedCertificate officer = Issue(*police_ca_, Role::kOfficer, "anna", "officer");
  CallResult result =
      Call(ClientCredentials(officer, kPoliceGateway, police_ca_->cert_file()));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  absl::StatusOr<PeerIdentity> peer = service_->last_peer();
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer->role, Role::kOfficer);
  EXPECT_EQ(peer->name, "anna");

  IssuedCertificate customs_gw = Issue(*customs_ca_, Role::kGateway, "gateway",
                                       "customs-gw");
  result = Call(ClientCredentials(customs_gw, kPoliceGateway, police_ca_->cert_file()));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  peer = service_->last_peer();
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer->organisation_id, "customs-nl");
  EXPECT_EQ(peer->role, Role::kGateway);
  EXPECT_FALSE(peer->own_organisation);
  EXPECT_TRUE(RequirePeerGateway(*peer).ok());
}

TEST_F(ServerSecurityTest, NoClientCertificateIsRefusedInTheHandshake) {
  const int calls_before = service_->calls();
  CallResult result = Call(RawCredentials(nullptr));
  EXPECT_FALSE(result.status.ok());
  EXPECT_THAT(result.status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                               grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_EQ(service_->calls(), calls_before);
  // OpenSSL itself refuses (certificate_required alert) before any hook of
  // gRPC 1.51 runs, so this one case cannot reach the listener.
  EXPECT_EQ(listener_->rejection_count(), 0u);
}

TEST_F(ServerSecurityTest, BadClientCertificatesAreRefusedAndReported) {
  const absl::Time now = absl::Now();
  CertificateAuthority rogue_police =
      MakeCa("rogue", "police.nl.example", "rogue-police-ca");
  CertificateAuthority stranger = MakeCa("stranger", "harbour.example", "stranger-ca");
  const std::string id = "spiffe://police.nl.example/client/mallory";

  struct Case {
    std::string label;
    IssuedCertificate cert;
    RejectReason reason;
    std::string claimed_id;
  };
  std::vector<Case> cases;
  auto overrides = [] { return CertificateOverridesForTesting(); };
  {
    auto o = overrides();
    o.not_before = now - absl::Hours(48);
    o.not_after = now - absl::Hours(24);
    cases.push_back({"expired", IssueBad(*police_ca_, Role::kClient, "mallory", "expired", o),
                     RejectReason::kExpired, id});
  }
  {
    auto o = overrides();
    o.not_before = now + absl::Hours(24);
    o.not_after = now + absl::Hours(48);
    cases.push_back({"not yet valid",
                     IssueBad(*police_ca_, Role::kClient, "mallory", "future", o),
                     RejectReason::kNotYetValid, id});
  }
  cases.push_back({"unknown CA",
                   Issue(rogue_police, Role::kClient, "mallory", "rogue"),
                   RejectReason::kUnknownIssuer, id});
  {
    auto o = overrides();
    o.self_signed = true;
    cases.push_back({"self-signed",
                     IssueBad(*police_ca_, Role::kClient, "mallory", "self", o),
                     RejectReason::kSelfSigned, id});
  }
  {
    auto o = overrides();
    o.extended_key_usage = std::vector<int>{NID_server_auth};
    cases.push_back({"wrong EKU",
                     IssueBad(*police_ca_, Role::kClient, "mallory", "eku", o),
                     RejectReason::kBadKeyUsage, id});
  }
  {
    auto o = overrides();
    o.key_usage = KU_KEY_ENCIPHERMENT;
    cases.push_back({"wrong key usage",
                     IssueBad(*police_ca_, Role::kClient, "mallory", "ku", o),
                     RejectReason::kBadKeyUsage, id});
  }
  {
    auto o = overrides();
    o.uri_sans = std::vector<std::string>{};
    cases.push_back({"no SPIFFE SAN",
                     IssueBad(*police_ca_, Role::kClient, "mallory", "nosan", o),
                     RejectReason::kMissingSpiffeId, ""});
  }
  {
    auto o = overrides();
    o.uri_sans = std::vector<std::string>{
        id, "spiffe://police.nl.example/officer/mallory"};
    cases.push_back({"two SPIFFE SANs",
                     IssueBad(*police_ca_, Role::kClient, "mallory", "twosan", o),
                     RejectReason::kInvalidSpiffeId, ""});
  }
  {
    // The customs CA minting a police gateway identity.
    auto o = overrides();
    o.uri_sans = std::vector<std::string>{kPoliceGateway};
    cases.push_back({"foreign SAN",
                     IssueBad(*customs_ca_, Role::kGateway, "gateway", "foreign", o),
                     RejectReason::kForeignTrustDomain, kPoliceGateway});
  }
  cases.push_back({"peer-domain client",
                   Issue(*customs_ca_, Role::kClient, "risk-engine", "customs-client"),
                   RejectReason::kRoleNotAllowed,
                   "spiffe://customs.nl.example/client/risk-engine"});
  cases.push_back({"unknown trust domain",
                   Issue(stranger, Role::kGateway, "gateway", "stranger-gw"),
                   RejectReason::kUnknownTrustDomain,
                   "spiffe://harbour.example/gateway"});

  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    ExpectRefused(RawCredentials(&c.cert), c.reason, c.claimed_id);
  }
  // The server still serves good clients.
  EXPECT_TRUE(Call(ClientCredentials(*client_, kPoliceGateway,
                                     police_ca_->cert_file()))
                  .status.ok());
}

TEST_F(ServerSecurityTest, RevokedClientIsRefusedAtItsNextHandshake) {
  auto creds = ClientCredentials(*client_, kPoliceGateway, police_ca_->cert_file());
  ASSERT_TRUE(Call(creds).status.ok());
  ASSERT_TRUE(police_ca_->RevokeCertificate(client_->certificate).ok());
  ASSERT_TRUE(police_ca_->WriteCrl().ok());
  // No waiting: CRL files are re-checked at every handshake.
  ExpectRefused(creds, RejectReason::kRevoked,
                "spiffe://police.nl.example/client/case-system");
}

TEST_F(ServerSecurityTest, RevokedPeerGatewayIsRefused) {
  IssuedCertificate customs_gw =
      Issue(*customs_ca_, Role::kGateway, "gateway", "customs-gw");
  auto creds = ClientCredentials(customs_gw, kPoliceGateway, police_ca_->cert_file());
  ASSERT_TRUE(Call(creds).status.ok());
  ASSERT_TRUE(customs_ca_->RevokeSerial(customs_gw.certificate.SerialHex()).ok());
  ASSERT_TRUE(customs_ca_->WriteCrl().ok());
  ExpectRefused(creds, RejectReason::kRevoked, "spiffe://customs.nl.example/gateway");
}

TEST_F(ServerSecurityTest, ExpiredCrlFailsClosed) {
  auto creds = ClientCredentials(*client_, kPoliceGateway, police_ca_->cert_file());
  ASSERT_TRUE(police_ca_->WriteCrl(absl::Hours(24), "", absl::Now() - absl::Hours(48)).ok());
  ExpectRefused(creds, RejectReason::kCrlUnavailable,
                "spiffe://police.nl.example/client/case-system");
  security_->ReloadNow();
  std::vector<std::string> problems;
  for (const absl::Status& p : listener_->problems()) problems.emplace_back(p.message());
  EXPECT_THAT(problems, ::testing::Contains(::testing::HasSubstr(
                            "CRL of trust domain police.nl.example")));
  EXPECT_THAT(problems, ::testing::Contains(::testing::HasSubstr("expired at")));
  security_->ReloadNow();  // reported once, not at every pass
  EXPECT_EQ(listener_->problems().size(), problems.size());
  ASSERT_TRUE(police_ca_->WriteCrl().ok());
  EXPECT_TRUE(Call(creds).status.ok());
}

TEST_F(ServerSecurityTest, RotatedServerCertificateIsUsedWithoutRestart) {
  auto creds = ClientCredentials(*client_, kPoliceGateway, police_ca_->cert_file());
  ASSERT_EQ(Call(creds).server_serial, gateway_->certificate.SerialHex());

  IssuedCertificate next = Issue(*police_ca_, Role::kGateway, "gateway", "police-gw-2");
  // Rewritten in place, key first, then certificate: gRPC must never be
  // handed the mismatched pair in between.
  Overwrite(options_.private_key_file, ReadAll(next.key_file));
  Overwrite(options_.certificate_file, ReadAll(next.cert_file));
  const std::string want = next.certificate.SerialHex();
  CallResult result = CallUntil(creds, [&](const CallResult& r) {
    return r.server_serial == want;
  });
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.server_serial, want);
  EXPECT_EQ(security_->current_certificate_serial(), want);
  EXPECT_THAT(listener_->rotations(), ::testing::Contains(want));
}

TEST_F(ServerSecurityTest, BadReplacementCertificateIsNotTakenIntoUse) {
  auto creds = ClientCredentials(*client_, kPoliceGateway, police_ca_->cert_file());
  const std::string old_serial = gateway_->certificate.SerialHex();
  // A client certificate is not a gateway certificate.
  IssuedCertificate wrong = Issue(*police_ca_, Role::kClient, "not-a-gateway", "wrong");
  Overwrite(options_.private_key_file, ReadAll(wrong.key_file));
  Overwrite(options_.certificate_file, ReadAll(wrong.cert_file));
  security_->ReloadNow();
  std::vector<absl::Status> problems = listener_->problems();
  ASSERT_FALSE(problems.empty());
  EXPECT_THAT(std::string(problems.back().message()),
              ::testing::HasSubstr(old_serial));
  EXPECT_EQ(security_->current_certificate_serial(), old_serial);
  CallResult result = Call(creds);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.server_serial, old_serial);
}

TEST_F(ServerSecurityTest, ReplacedPeerCaIsTrustedWithoutRestart) {
  IssuedCertificate old_gw = Issue(*customs_ca_, Role::kGateway, "gateway", "customs-gw");
  ASSERT_TRUE(Call(ClientCredentials(old_gw, kPoliceGateway,
                                     police_ca_->cert_file()))
                  .status.ok());
  // Customs replaces its CA; the new CA's files land in the configured paths.
  CertificateAuthority new_customs =
      MakeCa("customs-nl", "customs.nl.example", "customs-ca-2");
  IssuedCertificate new_gw = Issue(new_customs, Role::kGateway, "gateway", "customs-gw-2");
  auto new_creds = ClientCredentials(new_gw, kPoliceGateway, police_ca_->cert_file());

  Replace(customs_ca_->cert_file(), ReadAll(new_customs.cert_file()));
  // The configured CRL still belongs to the old CA: revocation cannot be
  // checked, so the domain fails closed until the new CA's CRL is in place.
  ExpectRefused(new_creds, RejectReason::kCrlUnavailable,
                "spiffe://customs.nl.example/gateway");
  Replace(customs_ca_->crl_file(), ReadAll(new_customs.crl_file()));
  CallResult result = Call(new_creds);
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  // The old CA is no longer trusted.
  ExpectRefused(ClientCredentials(old_gw, kPoliceGateway, police_ca_->cert_file()),
                RejectReason::kUnknownIssuer, "spiffe://customs.nl.example/gateway");
  // The generated bundle follows (background reload, 1 s).
  const absl::Time deadline = absl::Now() + kWait;
  while (ReadAll(security_->trust_bundle_file()).find(ReadAll(new_customs.cert_file())) ==
             std::string::npos &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(ReadAll(security_->trust_bundle_file()).find(ReadAll(new_customs.cert_file())),
            std::string::npos);
}

// A configuration reload replaces the peers: a new peer's gateway is
// accepted at its next handshake; a removed one's is refused in the
// handshake, and its calls on a connection opened before are refused with
// PERMISSION_DENIED. Preparing changes nothing.
TEST_F(ServerSecurityTest, PeersReplacedByAReloadApplyToTheNextHandshakeAndCall) {
  CertificateAuthority belgium_ca = MakeCa("police-be", "police.be.example", "be-ca");
  IssuedCertificate belgium_gw = Issue(belgium_ca, Role::kGateway, "gateway", "be-gw");
  IssuedCertificate customs_gw = Issue(*customs_ca_, Role::kGateway, "gateway", "customs-gw");
  auto customs_channel =
      NewChannel(ClientCredentials(customs_gw, kPoliceGateway, police_ca_->cert_file()));
  ASSERT_TRUE(CallOn(customs_channel).status.ok());
  const PeerTrustOptions belgium{"police-be", "police.be.example", belgium_ca.cert_file(), ""};

  // A peer whose CA cannot be read: refused, naming it; nothing changes.
  absl::StatusOr<std::shared_ptr<TrustStore>> bad =
      security_->PreparePeers({{"police-be", "police.be.example", Path("missing.crt"), ""}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("peer police-be"));
  absl::StatusOr<std::shared_ptr<TrustStore>> next = security_->PreparePeers({belgium});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(CallOn(customs_channel).status.ok()) << "prepared, not yet in force";
  ExpectRefused(ClientCredentials(belgium_gw, kPoliceGateway, police_ca_->cert_file()),
                RejectReason::kUnknownTrustDomain, "spiffe://police.be.example/gateway");

  security_->InstallPeers(*next);
  CallResult belgian = Call(ClientCredentials(belgium_gw, kPoliceGateway,
                                              police_ca_->cert_file()));
  ASSERT_TRUE(belgian.status.ok()) << belgian.status.error_message();
  EXPECT_EQ(belgian.reply, "spiffe://police.be.example/gateway");
  ExpectRefused(ClientCredentials(customs_gw, kPoliceGateway, police_ca_->cert_file()),
                RejectReason::kUnknownTrustDomain, "spiffe://customs.nl.example/gateway");
  // The connection customs-nl opened before: its calls reach the service,
  // which is told the caller is no longer a peer.
  const int calls_before = service_->calls();
  EXPECT_FALSE(CallOn(customs_channel).status.ok());
  EXPECT_EQ(service_->calls(), calls_before + 1) << "the same connection";
  absl::StatusOr<PeerIdentity> peer = service_->last_peer();
  EXPECT_TRUE(absl::IsPermissionDenied(peer.status())) << peer.status();
  EXPECT_THAT(std::string(peer.status().message()),
              ::testing::HasSubstr("customs-nl (trust domain customs.nl.example) is no "
                                   "longer a peer"));
  // Own clients are unaffected throughout.
  EXPECT_TRUE(Call(ClientCredentials(*client_, kPoliceGateway, police_ca_->cert_file()))
                  .status.ok());
  // The trust bundle follows: the new peer's CA, not the removed one's.
  const std::string bundle = ReadAll(security_->trust_bundle_file());
  EXPECT_THAT(bundle, ::testing::HasSubstr(ReadAll(belgium_ca.cert_file())));
  EXPECT_THAT(bundle, ::testing::Not(::testing::HasSubstr(ReadAll(customs_ca_->cert_file()))));

  // Added back: accepted again.
  absl::StatusOr<std::shared_ptr<TrustStore>> again = security_->PreparePeers(
      {belgium, {"customs-nl", "customs.nl.example", customs_ca_->cert_file(), ""}});
  ASSERT_TRUE(again.ok()) << again.status();
  security_->InstallPeers(*again);
  EXPECT_TRUE(CallOn(customs_channel).status.ok());
  EXPECT_TRUE(service_->last_peer().ok());
}

// A reload that changes a peer's CA file: certificates of the new CA are
// accepted from the next handshake, those of the old one refused.
TEST_F(ServerSecurityTest, AChangedPeerCaAppliesAtTheNextHandshake) {
  CertificateAuthority new_customs_ca =
      MakeCa("customs-nl", "customs.nl.example", "customs-ca-2026");
  IssuedCertificate old_gw = Issue(*customs_ca_, Role::kGateway, "gateway", "customs-gw");
  IssuedCertificate new_gw = Issue(new_customs_ca, Role::kGateway, "gateway", "customs-gw-2");
  auto old_creds = ClientCredentials(old_gw, kPoliceGateway, police_ca_->cert_file());
  auto new_creds = ClientCredentials(new_gw, kPoliceGateway, police_ca_->cert_file());
  ASSERT_TRUE(Call(old_creds).status.ok());
  EXPECT_FALSE(Call(new_creds).status.ok());
  absl::StatusOr<std::shared_ptr<TrustStore>> next = security_->PreparePeers(
      {{"customs-nl", "customs.nl.example", new_customs_ca.cert_file(), ""}});
  ASSERT_TRUE(next.ok()) << next.status();
  security_->InstallPeers(*next);
  CallResult accepted = Call(new_creds);
  ASSERT_TRUE(accepted.status.ok()) << accepted.status.error_message();
  EXPECT_EQ(accepted.reply, "spiffe://customs.nl.example/gateway");
  EXPECT_FALSE(Call(old_creds).status.ok());
}

TEST_F(ServerSecurityTest, DiallerRefusesServerWithUnexpectedIdentity) {
  // Right CA, valid certificate, but not the identity the dialler wants.
  CallResult result = Call(ClientCredentials(
      *client_, "spiffe://police.nl.example/officer/someone-else",
      police_ca_->cert_file()));
  EXPECT_FALSE(result.status.ok());
  EXPECT_EQ(service_->calls(), 0);
  std::lock_guard<std::mutex> lock(client_mu_);
  EXPECT_THAT(client_rejections_, ::testing::Contains(RejectReason::kUnexpectedIdentity));
}

TEST_F(ServerSecurityTest, DiallerRefusesServerFromAnotherCa) {
  // We mean to dial customs and trust only the customs CA; the police
  // gateway answers.
  IssuedCertificate customs_gw = Issue(*customs_ca_, Role::kGateway, "gateway", "customs-gw");
  CallResult result = Call(ClientCredentials(
      customs_gw, "spiffe://customs.nl.example/gateway", customs_ca_->cert_file()));
  EXPECT_FALSE(result.status.ok());
  EXPECT_EQ(service_->calls(), 0);
}

TEST_F(ServerSecurityTest, DiallerRefusesRevokedServer) {
  auto creds = ClientCredentials(*client_, kPoliceGateway, police_ca_->cert_file(),
                                 police_ca_->crl_file());
  ASSERT_TRUE(Call(creds).status.ok());
  ASSERT_TRUE(police_ca_->RevokeCertificate(gateway_->certificate).ok());
  ASSERT_TRUE(police_ca_->WriteCrl().ok());
  CallResult result = Call(creds);
  EXPECT_FALSE(result.status.ok());
  std::lock_guard<std::mutex> lock(client_mu_);
  EXPECT_THAT(client_rejections_, ::testing::Contains(RejectReason::kRevoked));
}

TEST_F(ServerSecurityTest, StartupRefusesBadConfiguration) {
  ServerSecurityOptions bad = options_;
  bad.state_dir = Path("state-2");
  bad.peers[0].ca_file = police_ca_->cert_file();  // police CA for customs
  absl::StatusOr<std::unique_ptr<ServerSecurity>> s = MakeServerCredentials(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              ::testing::HasSubstr("customs.nl.example"));

  bad = options_;
  bad.state_dir = Path("state-3");
  bad.certificate_file = client_->cert_file;
  bad.private_key_file = client_->key_file;
  s = MakeServerCredentials(bad);
  EXPECT_FALSE(s.ok());

  bad = options_;
  bad.state_dir = Path("state-4");
  bad.private_key_file = police_ca_->dir() + "/ca.key";  // not this cert's key
  s = MakeServerCredentials(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), ::testing::HasSubstr("not the private key"));
}

// What gRPC 1.51 negotiates by default (its API cannot pin versions or
// suites), proven from the outside: TLS 1.3 preferred, 1.2 with ECDHE and
// AEAD only, nothing older.
TEST_F(ServerSecurityTest, OnlyModernForwardSecretTls) {
  EXPECT_THAT(RawHandshake(port_, TLS1_3_VERSION, nullptr, *client_),
              ::testing::StartsWith("TLSv1.3 "));
  std::string tls12 = RawHandshake(port_, TLS1_2_VERSION, nullptr, *client_);
  EXPECT_THAT(tls12, ::testing::StartsWith("TLSv1.2 ECDHE-ECDSA-"));
  EXPECT_THAT(tls12, ::testing::HasSubstr("GCM"));
  EXPECT_EQ(RawHandshake(port_, TLS1_1_VERSION, nullptr, *client_), "");
  EXPECT_EQ(RawHandshake(port_, TLS1_VERSION, nullptr, *client_), "");
  // TLS 1.2 without forward secrecy or without AEAD: no common suite.
  EXPECT_EQ(RawHandshake(port_, TLS1_2_VERSION, "AES128-GCM-SHA256:AES256-SHA256",
                         *client_), "");
  EXPECT_EQ(RawHandshake(port_, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", *client_), "");
}

}  // namespace
}  // namespace havengate::security
