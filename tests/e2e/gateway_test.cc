// End-to-end tests of one gateway node: a real havengate process, real
// certificates from real CAs, real clients over mutual TLS.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/ingest.grpc.pb.h"
#include "proto/json.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto police = CreateTestOrg(dir_.path(), "police-nl", "police.nl.example");
    ASSERT_TRUE(police.ok()) << police.status();
    police_ = *police;
    GatewaySpec spec;
    spec.org = &police_;
    spec.extra_yaml = "limits: {max_item_bytes: 65536}\n";
    auto gateway = GatewayProcess::Start(spec);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
    auto client = ConnectClient(police_, gateway_->port());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  // Everything the inbox holds, as item_id@version.
  std::vector<std::string> InboxIds(client::Client& client) {
    v1::ListRequest request;
    request.set_page_size(1000);
    request.mutable_filter()->set_include_retracted(true);
    auto page = client.List(request);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    if (!page.ok()) return ids;
    for (const auto& e : page->entries()) {
      ids.push_back(absl::StrCat(e.item().item_id(), "@", e.item().version()));
    }
    return ids;
  }

  TempDir dir_;
  TestOrg police_;
  std::unique_ptr<GatewayProcess> gateway_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(GatewayTest, PushedItemIsListedWithOriginFromTheCertificate) {
  v1::Item item = MakeAlert("rtm-0001");
  item.set_origin("customs-nl");  // a lie the gateway must not believe
  auto receipt = client_->Push(item);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->origin(), "police-nl");
  EXPECT_EQ(receipt->version(), 1u);
  EXPECT_EQ(receipt->digest().size(), 64u);

  v1::ListRequest request;
  auto page = client_->List(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries_size(), 1);
  const v1::InboxEntry& entry = page->entries(0);
  EXPECT_EQ(entry.item().origin(), "police-nl");
  EXPECT_EQ(entry.received_from(), "police-nl");
  EXPECT_EQ(entry.item().alert().title(), "Stolen release PIN used");
  EXPECT_EQ(entry.item().alert().containers(0).number(), "CSQU3054383");
  EXPECT_EQ(entry.cursor(), receipt->cursor());
}

TEST_F(GatewayTest, RetriedPushStoresOneCopyAndReturnsTheSameReceipt) {
  v1::Item item = MakeAlert("rtm-0002");
  auto first = client_->Push(item);
  auto second = client_->Push(item);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(first->duplicate());
  EXPECT_TRUE(second->duplicate());
  EXPECT_EQ(second->cursor(), first->cursor());
  EXPECT_EQ(second->accepted_at().seconds(), first->accepted_at().seconds());
  EXPECT_EQ(InboxIds(*client_), std::vector<std::string>{"rtm-0002@1"});
  // Same id and version with other content is a conflict, not an update.
  v1::Item changed = MakeAlert("rtm-0002", "Another title");
  EXPECT_EQ(client_->Push(changed).status().code(),
            absl::StatusCode::kAlreadyExists);
  changed.set_version(2);
  ASSERT_TRUE(client_->Push(changed).ok());
  EXPECT_EQ(InboxIds(*client_), std::vector<std::string>{"rtm-0002@2"});
}

TEST_F(GatewayTest, WrongCheckDigitsAreRefusedWithThePathAndNothingIsStored) {
  v1::Item item = MakeAlert("rtm-bad-1");
  item.mutable_alert()->mutable_containers(0)->set_number("CSQU3054384");
  item.mutable_alert()->add_vessels()->set_imo("IMO9319467");
  auto receipt = client_->Push(item);
  ASSERT_EQ(receipt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(receipt.status().message(),
              HasSubstr("alert.containers[0].number: check digit is 4, expected 3"));
  EXPECT_THAT(receipt.status().message(),
              HasSubstr("alert.vessels[0].imo: check digit is 7, expected 6"));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("CSQU3054384")));
  EXPECT_TRUE(InboxIds(*client_).empty());
}

TEST_F(GatewayTest, OversizedItemIsRefusedWithResourceExhausted) {
  v1::Item item = MakeAlert("rtm-big");
  item.mutable_alert()->set_description(std::string(9000, 'x'));
  for (int i = 0; i < 8; ++i) {
    item.mutable_alert()->add_attachments()->set_description(std::string(9000, 'y'));
  }
  auto receipt = client_->Push(item);
  ASSERT_EQ(receipt.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(receipt.status().message(), HasSubstr("the limit is 65536 bytes"));
  EXPECT_TRUE(InboxIds(*client_).empty());
}

TEST_F(GatewayTest, UnknownFieldFromANewerClientIsRefused) {
  v1::Item item = MakeAlert("rtm-unknown");
  item.mutable_alert()->GetReflection()
      ->MutableUnknownFields(item.mutable_alert())->AddVarint(77, 1);
  auto receipt = client_->Push(item);
  ASSERT_EQ(receipt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(receipt.status().message(), HasSubstr("alert: unknown field number 77"));
  EXPECT_TRUE(InboxIds(*client_).empty());
}

TEST_F(GatewayTest, ItemAcknowledgedJustBeforeKill9SurvivesRestart) {
  auto receipt = client_->Push(MakeAlert("rtm-durable"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  gateway_->Kill9();
  ASSERT_TRUE(gateway_->Restart().ok()) << gateway_->ReadLog();
  auto client = ConnectClient(police_, gateway_->port());
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(InboxIds(**client), std::vector<std::string>{"rtm-durable@1"});
}

TEST_F(GatewayTest, PushStreamAnswersEveryItemInOrderAndKeepsGoingAfterABadOne) {
  std::vector<v1::Item> items;
  for (int i = 0; i < 50; ++i) {
    v1::Item item = MakeAlert(absl::StrCat("bulk-", i));
    if (i % 10 == 3) item.mutable_alert()->mutable_containers(0)->set_number("BAD");
    items.push_back(item);
  }
  size_t next = 0;
  std::vector<v1::PushResult> results;
  absl::Status status = client_->PushStream(
      [&]() -> std::optional<v1::Item> {
        if (next == items.size()) return std::nullopt;
        return items[next++];
      },
      [&](const v1::PushResult& r) { results.push_back(r); }, 8);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(results.size(), items.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].index(), i);
    EXPECT_EQ(results[i].item_id(), items[i].item_id());
    if (i % 10 == 3) {
      EXPECT_EQ(results[i].code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
      EXPECT_THAT(results[i].message(), HasSubstr("alert.containers[0].number"));
    } else {
      EXPECT_EQ(results[i].code(), 0) << results[i].message();
      EXPECT_GT(results[i].receipt().cursor(), 0u);
    }
  }
  EXPECT_EQ(InboxIds(*client_).size(), 45u);
}

TEST_F(GatewayTest, SubscribeReplaysThenFollowsAndResumesFromACursor) {
  ASSERT_TRUE(client_->Push(MakeAlert("sub-1")).ok());
  auto second = client_->Push(MakeAlert("sub-2"));
  ASSERT_TRUE(second.ok());
  std::vector<std::string> seen;
  std::thread pusher([&] {
    absl::SleepFor(absl::Milliseconds(200));
    ASSERT_TRUE(client_->Push(MakeAlert("sub-3")).ok());
  });
  v1::SubscribeRequest request;
  ASSERT_TRUE(client_->Subscribe(request, [&](const v1::InboxEvent& e) {
    seen.push_back(e.entry().item().item_id());
    return seen.size() < 3;
  }).ok());
  pusher.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"sub-1", "sub-2", "sub-3"}));
  // Resuming after the second cursor yields only the third.
  request.set_after_cursor(second->cursor());
  std::vector<std::string> resumed;
  ASSERT_TRUE(client_->Subscribe(request, [&](const v1::InboxEvent& e) {
    resumed.push_back(e.entry().item().item_id());
    return false;
  }).ok());
  EXPECT_EQ(resumed, std::vector<std::string>{"sub-3"});
}

// from_now: only events after the gateway's end when the call starts — not
// the items held, nor a retraction recorded after the newest of them.
TEST_F(GatewayTest, SubscribeFromNowSkipsEverythingAlreadyHeld) {
  ASSERT_TRUE(client_->Push(MakeAlert("old-1")).ok());
  ASSERT_TRUE(client_->Push(MakeAlert("old-2")).ok());
  ASSERT_TRUE(client_->Retract("old-1", "entered twice").ok());
  std::vector<std::string> seen;
  std::atomic<bool> got_one{false};
  std::thread pusher([&] {
    // Pushed until the subscriber has seen it (it may subscribe late).
    for (int i = 0; i < 50 && !got_one; ++i) {
      ASSERT_TRUE(client_->Push(MakeAlert(absl::StrCat("new-", i))).ok());
      absl::SleepFor(absl::Milliseconds(100));
    }
  });
  v1::SubscribeRequest request;
  request.set_from_now(true);
  ASSERT_TRUE(client_->Subscribe(request, [&](const v1::InboxEvent& e) {
    seen.push_back(e.has_entry() ? e.entry().item().item_id()
                                 : absl::StrCat("retraction:", e.retraction().item_id()));
    got_one = true;
    return false;
  }).ok());
  pusher.join();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(seen[0], "new-")) << seen[0];
}

TEST_F(GatewayTest, RetractedItemLeavesTheInboxAndTakesNoNewVersion) {
  ASSERT_TRUE(client_->Push(MakeAlert("ret-1")).ok());
  auto retraction = client_->Retract("ret-1", "information proved false");
  ASSERT_TRUE(retraction.ok()) << retraction.status();
  EXPECT_EQ(retraction->origin(), "police-nl");
  v1::ListRequest request;
  auto page = client_->List(request);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries_size(), 0);
  v1::Item v2 = MakeAlert("ret-1");
  v2.set_version(2);
  EXPECT_EQ(client_->Push(v2).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->Retract("never-pushed", "typo").status().code(),
            absl::StatusCode::kNotFound);
}

// --- who may call --------------------------------------------------------

TEST_F(GatewayTest, OfficerCertificateMayNotPushOrRead) {
  auto officer = ConnectClient(police_, gateway_->port(), police_.officer_cert,
                               police_.officer_key);
  ASSERT_TRUE(officer.ok());
  auto receipt = (*officer)->Push(MakeAlert("by-officer"));
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(receipt.status().message(), HasSubstr("integration clients"));
  EXPECT_EQ((*officer)->List({}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(InboxIds(*client_).empty());
}

// havenctl items with an officer's certificate: refused before connecting,
// with the gateway's words, and the gateway sees no call.
TEST_F(GatewayTest, HavenctlItemsRefusesAnOfficerCertificateBeforeConnecting) {
  const std::string rejected_before = gateway_->ReadLog();
  CommandResult r = RunCommand(
      {HavenctlBinary(), "items", "list", "--address",
       absl::StrCat("localhost:", gateway_->port()), "--cert", police_.officer_cert, "--key",
       police_.officer_key, "--ca", police_.ca_file, "--gateway-id", police_.gateway_id()});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr(police_.officer_cert + ": spiffe://police.nl.example/officer/"));
  EXPECT_THAT(r.err, HasSubstr("this call is for integration clients of this organisation"));
  EXPECT_EQ(CountOccurrences(gateway_->ReadLog(), "call_rejected"),
            CountOccurrences(rejected_before, "call_rejected"));
}

TEST_F(GatewayTest, ConnectionWithoutAClientCertificateIsRefused) {
  std::ifstream ca_in(police_.ca_file);
  std::stringstream ca;
  ca << ca_in.rdbuf();
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca.str();  // server verified, but no client certificate
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(gateway_->address(),
                                           grpc::SslCredentials(tls), args);
  auto stub = v1::Ingest::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::PushRequest request;
  *request.mutable_item() = MakeAlert("anonymous");
  v1::PushResponse response;
  grpc::Status status = stub->Push(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_TRUE(InboxIds(*client_).empty());
}

TEST_F(GatewayTest, PartnerGatewayCertificateMayNotPush) {
  auto customs = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
  ASSERT_TRUE(customs.ok());
  // The police gateway's own gateway certificate is not a client either.
  auto own_gateway = ConnectClient(police_, gateway_->port(),
                                   police_.gateway_cert, police_.gateway_key);
  ASSERT_TRUE(own_gateway.ok());
  EXPECT_EQ((*own_gateway)->Push(MakeAlert("by-gateway")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(InboxIds(*client_).empty());
}

TEST_F(GatewayTest, CertificateOfAnotherCaIsRefusedAtTheHandshake) {
  auto other = CreateTestOrg(dir_.path(), "intruder", "police.nl.example");
  ASSERT_TRUE(other.ok()) << other.status();
  // Same trust domain, different CA: chain verification must fail.
  client::ConnectionOptions options = ClientOptions(police_, gateway_->port());
  options.certificate = other->client_cert;
  options.private_key = other->client_key;
  options.timeout = absl::Seconds(5);
  auto intruder = client::Client::Connect(options);
  ASSERT_TRUE(intruder.ok());
  auto receipt = (*intruder)->Push(MakeAlert("intruder"));
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable)
      << receipt.status();
  EXPECT_TRUE(InboxIds(*client_).empty());
}

TEST_F(GatewayTest, ExpiredCertificateIsRefusedAtTheHandshake) {
  auto ca = police_.OpenCa();
  ASSERT_TRUE(ca.ok());
  pki::IssueRequest request;
  request.role = pki::Role::kClient;
  request.name = "expired";
  pki::CertificateOverridesForTesting overrides;
  overrides.not_before = absl::Now() - absl::Hours(48);
  overrides.not_after = absl::Now() - absl::Hours(24);
  auto expired = ca->IssueForTesting(request, overrides, police_.dir + "/certs");
  ASSERT_TRUE(expired.ok()) << expired.status();
  client::ConnectionOptions options = ClientOptions(police_, gateway_->port());
  options.certificate = expired->cert_file;
  options.private_key = expired->key_file;
  options.timeout = absl::Seconds(5);
  auto client = client::Client::Connect(options);
  // The client library refuses to even use an expired certificate, or the
  // gateway refuses the handshake: either way nothing gets in.
  if (client.ok()) {
    auto receipt = (*client)->Push(MakeAlert("expired"));
    EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_TRUE(InboxIds(*client_).empty());
}

TEST_F(GatewayTest, SigtermDrainsAndExitsCleanly) {
  ASSERT_TRUE(client_->Push(MakeAlert("before-stop")).ok());
  auto code = gateway_->Terminate();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << gateway_->ReadLog();
  EXPECT_THAT(gateway_->ReadLog(), HasSubstr("gateway_stopped"));
  // The log never carries item contents.
  EXPECT_THAT(gateway_->ReadLog(), Not(HasSubstr("Stolen release PIN")));
  EXPECT_THAT(gateway_->ReadLog(), Not(HasSubstr("Jan de Vries")));
}

// With `log: {format: json}` every line the gateway writes is one JSON
// object, gRPC core's own lines included (event grpc_core, no trailing
// newline inside the message).
TEST_F(GatewayTest, JsonLogHoldsGrpcCoreLinesAsJson) {
  auto customs = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
  ASSERT_TRUE(customs.ok()) << customs.status();
  GatewaySpec spec;
  spec.org = &*customs;
  spec.extra_yaml = "log: {format: json}\n";
  auto gateway = GatewayProcess::Start(spec);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  // A client of another CA: refused in the handshake, which gRPC core logs.
  client::ConnectionOptions options = ClientOptions(*customs, (*gateway)->port());
  options.certificate = police_.client_cert;
  options.private_key = police_.client_key;
  options.timeout = absl::Seconds(5);
  auto intruder = client::Client::Connect(options);
  ASSERT_TRUE(intruder.ok());
  EXPECT_FALSE((*intruder)->Push(MakeAlert("refused")).ok());
  ASSERT_TRUE(WaitFor([&] { return CountOccurrences((*gateway)->ReadLog(), "handshake_refused") > 0; }));
  ASSERT_TRUE((*gateway)->Terminate().ok());
  std::istringstream lines((*gateway)->ReadLog());
  int grpc_core = 0, total = 0;
  for (std::string line; std::getline(lines, line);) {
    ++total;
    EXPECT_TRUE(absl::StartsWith(line, "{\"time\":\"") && absl::EndsWith(line, "}"))
        << "not a JSON line: " << line;
    if (absl::StrContains(line, "\"event\":\"grpc_core\"")) {
      ++grpc_core;
      EXPECT_THAT(line, ::testing::MatchesRegex(R"(.*"at":"[^"]+\.cc:[0-9]+".*)"));
      EXPECT_THAT(line, Not(HasSubstr("\\n\"")));
    }
  }
  EXPECT_GT(total, 3);
  EXPECT_GT(grpc_core, 0) << (*gateway)->ReadLog();
}

// A policy file edited into an invalid state on disk: the last good policy
// stays active, and health (havengate.v1.PolicyFile), havenctl health and
// --check-config all say so until the file is fixed.
TEST_F(GatewayTest, AnInvalidPolicyFileOnDiskIsReported) {
  auto customs = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
  ASSERT_TRUE(customs.ok()) << customs.status();
  const std::string policy = customs->dir + "/policy.yaml";
  const std::string good = "organisation: customs-nl\nversion: \"1\"\npartners: []\nrules: []\n";
  std::ofstream(policy) << good;
  GatewaySpec spec;
  spec.org = &*customs;
  spec.policy_file = policy;
  auto gateway = GatewayProcess::Start(spec);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  auto client = ConnectClient(*customs, (*gateway)->port());
  ASSERT_TRUE(client.ok());
  auto policy_file = [&] {
    auto status = (*client)->Health("havengate.v1.PolicyFile");
    return status.ok() ? static_cast<int>(*status) : -1;
  };
  EXPECT_EQ(policy_file(), 1);
  std::ofstream(policy, std::ios::trunc) << "organisation: customs-nl\nversion: \"2\"\nrules: [{name: x, to: [nobody]}]\n";
  ASSERT_TRUE(WaitFor([&] { return policy_file() == 2; })) << (*gateway)->ReadLog();
  EXPECT_EQ((*client)->Health("").value_or(grpc::health::v1::HealthCheckResponse::UNKNOWN),
            grpc::health::v1::HealthCheckResponse::SERVING)
      << "the gateway still serves, with the last good policy";
  EXPECT_THAT((*gateway)->ReadLog(), HasSubstr("policy_file_rejected"));
  CommandResult probe =
      RunCommand({HavenctlBinary(), "health", "--json", "--address",
                  absl::StrCat("localhost:", (*gateway)->port()), "--cert", customs->client_cert,
                  "--key", customs->client_key, "--ca", customs->ca_file, "--gateway-id",
                  customs->gateway_id()});
  EXPECT_THAT(probe.out, HasSubstr("\"policy_file\":\"NOT_SERVING\""));
  CommandResult check = RunCommand({HavengateBinary(), "--config", (*gateway)->config_file(),
                                    "--check-config"});
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_THAT(check.err, HasSubstr("policy: "));
  // Fixed again: reported as such.
  std::ofstream(policy, std::ios::trunc) << good;
  EXPECT_TRUE(WaitFor([&] { return policy_file() == 1; })) << (*gateway)->ReadLog();
}

// A start that fails leaves nothing behind: no store, no audit log, no TLS
// state, no policy history; and --check-config finds the same problem first.
TEST_F(GatewayTest, AStartThatFailsCreatesNothing) {
  auto customs = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
  ASSERT_TRUE(customs.ok()) << customs.status();
  const std::string policy = customs->dir + "/policy.yaml";
  std::ofstream(policy) << R"(organisation: customs-nl
version: "1"
partners: [{id: port-rtm}]
rules:
  - {name: titles, to: [port-rtm], kinds: [ALERT], share: [title]}
)";
  GatewaySpec spec;
  spec.org = &*customs;
  spec.policy_file = policy;
  auto started = GatewayProcess::Start(spec);
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.status().message(), HasSubstr("port-rtm"));
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(customs->dir)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "gateway.db")) left.push_back(entry.path().string());
  }
  EXPECT_THAT(left, ::testing::IsEmpty());
  // --check-config says the same, and exits non-zero.
  CommandResult check = RunCommand({HavengateBinary(), "--config",
                                    customs->dir + "/gateway.yaml", "--check-config"});
  EXPECT_EQ(check.exit_code, 2) << check.out << check.err;
  EXPECT_THAT(check.err, HasSubstr("policy: "));
  EXPECT_THAT(check.err, HasSubstr("port-rtm"));
}

// SIGHUP (systemctl reload) never stops the gateway: the configuration file
// is read again; an invalid one is reported and the running settings stay,
// a changed valid one is applied (tests/e2e/reload_test.cc: what applies).
TEST_F(GatewayTest, SighupChecksTheConfigAndKeepsServing) {
  ASSERT_TRUE(client_->Push(MakeAlert("before-hup")).ok());
  const std::string config = gateway_->config_file();
  std::string original;
  {
    std::ifstream in(config);
    std::stringstream text;
    text << in.rdbuf();
    original = text.str();
  }
  ASSERT_EQ(kill(gateway_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor([&] { return CountOccurrences(gateway_->ReadLog(), "config_reload") >= 1; }))
      << gateway_->ReadLog();
  EXPECT_THAT(gateway_->ReadLog(), HasSubstr("no change"));

  // A broken file: refused, named, and the gateway goes on as it was.
  const std::string limits = "limits: {max_item_bytes: 65536}";
  ASSERT_THAT(original, HasSubstr(limits));
  {
    std::ofstream out(config, std::ios::trunc);
    out << absl::StrReplaceAll(original, {{limits, "limits: {max_item_bytes: -5}"}});
  }
  ASSERT_EQ(kill(gateway_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor([&] { return CountOccurrences(gateway_->ReadLog(), "config_reload_refused") >= 1; }))
      << gateway_->ReadLog();
  EXPECT_THAT(gateway_->ReadLog(), HasSubstr("the running configuration stays"));
  ASSERT_TRUE(client_->Push(MakeAlert("after-bad-hup")).ok());

  // A valid change: applied.
  {
    std::ofstream out(config, std::ios::trunc);
    out << absl::StrReplaceAll(
        original, {{limits, "limits: {max_item_bytes: 65536, stream_window: 512}"}});
  }
  ASSERT_EQ(kill(gateway_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor([&] {
    return CountOccurrences(gateway_->ReadLog(), "limits changed") >= 1;
  })) << gateway_->ReadLog();
  ASSERT_TRUE(client_->Push(MakeAlert("after-hup")).ok());
  EXPECT_THAT(InboxIds(*client_), ::testing::UnorderedElementsAre(
                                      "before-hup@1", "after-bad-hup@1", "after-hup@1"));
  EXPECT_TRUE(gateway_->running());
}

// A second gateway on a port in use does not start: with gRPC's default
// SO_REUSEPORT both would listen and share the connections between them.
TEST_F(GatewayTest, SecondGatewayOnTheSamePortDoesNotStart) {
  auto other = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
  ASSERT_TRUE(other.ok()) << other.status();
  GatewaySpec spec;
  spec.org = &*other;
  spec.port = gateway_->port();
  auto second = GatewayProcess::Start(spec);
  ASSERT_FALSE(second.ok());
  // One clear line, found before anything was created.
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("listen: 127.0.0.1:", gateway_->port(),
                                     " is in use by another process")));
  EXPECT_FALSE(std::filesystem::exists(other->dir + "/data/gateway.db"));
  // Every connection still reaches the first one.
  for (int i = 0; i < 5; ++i) {
    auto client = ConnectClient(police_, gateway_->port());
    ASSERT_TRUE(client.ok());
    EXPECT_TRUE((*client)->Push(MakeAlert(absl::StrCat("port-", i))).ok());
  }
}

}  // namespace
}  // namespace havengate::testing
