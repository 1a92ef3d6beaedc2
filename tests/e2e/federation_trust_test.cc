// Federation trust, with real gateway processes and their deploy policies
// (police-nl, customs-nl and port-rtm running; police-be and police-ec
// configured where the policies name them). The test itself plays a
// misbehaving gateway by calling Federation.Exchange over mutual TLS:
// - a certificate from a partner's CA that claims another partner's
//   gateway identity is refused in the TLS handshake, and the refusal is
//   on record (CALL_REJECTED "TLS handshake refused", also in `havenctl
//   audit export`);
// - so is the gateway of an organisation that is not a configured peer;
// - a configured peer sending items that claim another origin (a missing
//   or forged provenance chain), or withdrawing an item another gateway
//   sent, is refused message by message (ack PERMISSION_DENIED), recorded
//   (RECEIPT_REFUSED), and nothing of it is stored or shown; its genuine
//   items on the same stream are accepted.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/ca.h"
#include "certs/channel_credentials.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;

// What one Exchange call from the test got back.
struct ExchangeOutcome {
  grpc::Status status;
  // One per entry answered (the entries of batched answers, in order).
  std::vector<v1::FederationAck> acks;
  // Answer messages read, and the receiver's havengate-batch announcement.
  size_t ack_messages = 0;
  std::string batch_announced;
};

class FederationTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-nl", "customs-nl", "port-rtm", "police-be", "police-ec"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    for (const char* id : {"police-nl", "customs-nl", "port-rtm"}) {
      ASSERT_TRUE(f_.InstallDeployPolicy(id).ok());
      auto policy = f_.LoadPolicy(id);
      ASSERT_TRUE(policy.ok()) << policy.status();
      absl::Status started = f_.Start(id, (*policy)->partners());
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  // Calls `to`'s Federation.Exchange presenting `cert`/`key`, trusting
  // `to`'s CA for `to`'s gateway id; sends `messages`, then reads until
  // every one is answered or the stream ends.
  // With `batch`, announces batches (havengate-batch: 1) and sends all
  // `messages` as the entries of one batch.
  ExchangeOutcome Exchange(const std::string& to, const std::string& cert,
                           const std::string& key,
                           const std::vector<v1::FederationMessage>& messages,
                           bool batch = false) {
    ExchangeOutcome outcome;
    pki::ChannelCredentialsOptions tls;
    tls.certificate_file = cert;
    tls.private_key_file = key;
    tls.ca_file = f_.org(to).ca_file;
    tls.expected_server_id = f_.org(to).gateway_id();
    auto credentials = pki::MakeChannelCredentials(tls);
    if (!credentials.ok()) {
      outcome.status = grpc::Status(grpc::StatusCode::INTERNAL,
                                    std::string(credentials.status().message()));
      return outcome;
    }
    auto channel = grpc::CreateChannel(absl::StrCat("localhost:", f_.port(to)),
                                       *credentials);
    auto stub = v1::Federation::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    if (batch) context.AddMetadata("havengate-batch", "1");
    auto stream = stub->Exchange(&context);
    if (batch) {
      v1::FederationMessage all;
      for (const v1::FederationMessage& m : messages) *all.add_batch() = m;
      stream->Write(all);
    } else {
      for (const v1::FederationMessage& m : messages) {
        if (!stream->Write(m)) break;
      }
    }
    stream->WritesDone();
    v1::FederationAck ack;
    while (outcome.acks.size() < messages.size() && stream->Read(&ack)) {
      ++outcome.ack_messages;
      if (ack.batch_size() == 0) outcome.acks.push_back(ack);
      for (const v1::FederationAck& entry : ack.batch()) outcome.acks.push_back(entry);
    }
    outcome.status = stream->Finish();
    const auto& initial = context.GetServerInitialMetadata();
    if (auto it = initial.find("havengate-batch"); it != initial.end()) {
      outcome.batch_announced.assign(it->second.data(), it->second.size());
    }
    return outcome;
  }

  // The call never got past the TLS handshake at `at`, which recorded the
  // refusal with the identity the certificate claimed.
  void ExpectRefusedInHandshake(const ExchangeOutcome& outcome,
                                const std::string& at, const std::string& claimed) {
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << outcome.status.error_message();
    EXPECT_TRUE(outcome.acks.empty());
    auto refused = f_.AwaitAudit(at, [&](const v1::AuditRecord& r) {
      return r.type() == v1::CALL_REJECTED &&
             absl::StartsWith(r.reason(), "TLS handshake refused") &&
             r.actor() == claimed;
    });
    EXPECT_TRUE(refused.ok()) << refused.status();
  }

  // An alert as `sender`'s gateway would send it to `receiver`, with a
  // provenance chain through `hops` (organisation → released_to pairs).
  v1::FederationMessage ItemMessage(
      uint64_t sequence, const std::string& item_id, const std::string& origin,
      const std::vector<std::pair<std::string, std::string>>& hops) {
    v1::FederationMessage message;
    message.set_sequence(sequence);
    v1::Item* item = message.mutable_item();
    *item = MakeAlertAt(item_id, "NLRTM", v1::Alert::SUSPICIOUS_CONTAINER);
    item->set_origin(origin);
    item->set_version(1);
    for (const auto& [organisation, released_to] : hops) {
      v1::ProvenanceHop* hop = item->add_provenance();
      hop->set_organisation(organisation);
      hop->set_gateway(absl::StrCat("spiffe://", DemoDomain(organisation), "/gateway"));
      hop->mutable_released_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
      hop->set_policy_version("2026-11-20.3");
      hop->set_released_to(released_to);
    }
    return message;
  }

  Federation f_;
};

TEST_F(FederationTrustTest, AnotherPartnersCaMintingAThirdPartnersGatewayIdIsRefusedAndRecorded) {
  // Customs' CA issues a certificate claiming to be the police gateway.
  auto customs_ca = f_.org("customs-nl").OpenCa();
  ASSERT_TRUE(customs_ca.ok()) << customs_ca.status();
  pki::IssueRequest request;
  request.role = pki::Role::kGateway;
  request.name = "impostor";
  pki::CertificateOverridesForTesting overrides;
  overrides.uri_sans = std::vector<std::string>{"spiffe://police.nl.example/gateway"};
  auto impostor = customs_ca->IssueForTesting(
      request, overrides, f_.org("customs-nl").dir + "/impostor");
  ASSERT_TRUE(impostor.ok()) << impostor.status();

  // It calls the port's gateway, which peers with both police and customs,
  // with an item as police would send it.
  ExchangeOutcome outcome = Exchange(
      "port-rtm", impostor->cert_file, impostor->key_file,
      {ItemMessage(1, "impostor-1", "police-nl", {{"police-nl", "port-rtm"}})});
  ExpectRefusedInHandshake(outcome, "port-rtm", "spiffe://police.nl.example/gateway");
  // The operator's view: havenctl audit export.
  CommandResult exported = RunCommand(
      {HavenctlBinary(), "audit", "export", "--store",
       f_.gateway("port-rtm").store_file()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  bool line_found = false;
  for (absl::string_view line : absl::StrSplit(exported.out, '\n')) {
    line_found |= absl::StrContains(line, "CALL_REJECTED") &&
                  absl::StrContains(line, "TLS handshake refused") &&
                  absl::StrContains(line, "spiffe://police.nl.example/gateway");
  }
  EXPECT_TRUE(line_found) << exported.out;
  EXPECT_TRUE(f_.Shown("port-rtm", "impostor-1", true).empty());

  // Control: the same CA's genuine gateway certificate gets through the
  // handshake to the same gateway (and its item is judged on its merits).
  ExchangeOutcome genuine = Exchange(
      "port-rtm", f_.org("customs-nl").gateway_cert, f_.org("customs-nl").gateway_key,
      {ItemMessage(1, "genuine-1", "customs-nl", {{"customs-nl", "port-rtm"}})});
  EXPECT_TRUE(genuine.status.ok()) << genuine.status.error_message();
  ASSERT_EQ(genuine.acks.size(), 1u);
  EXPECT_EQ(genuine.acks[0].code(), 0) << genuine.acks[0].message();
  EXPECT_TRUE(f_.AwaitItem("port-rtm", "genuine-1").ok());
}

TEST_F(FederationTrustTest, ABatchIsJudgedEntryByEntryAndAnsweredInOrder) {
  // Customs' genuine gateway sends police-nl one batch: two honest items
  // between two refused ones.
  ExchangeOutcome outcome = Exchange(
      "police-nl", f_.org("customs-nl").gateway_cert, f_.org("customs-nl").gateway_key,
      {ItemMessage(7, "spoof-b1", "port-rtm", {{"customs-nl", "police-nl"}}),
       ItemMessage(8, "honest-b2", "customs-nl", {{"customs-nl", "police-nl"}}),
       ItemMessage(9, "honest-b3", "customs-nl", {{"customs-nl", "police-nl"}}),
       ItemMessage(10, "spoof-b4", "port-rtm", {})},
      /*batch=*/true);
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  // The receiver announced batches with the largest message it reads.
  EXPECT_EQ(outcome.batch_announced, absl::StrCat(4 << 20));
  ASSERT_EQ(outcome.acks.size(), 4u);
  EXPECT_LE(outcome.ack_messages, 4u);
  const std::vector<std::pair<uint64_t, grpc::StatusCode>> expected = {
      {7, grpc::StatusCode::PERMISSION_DENIED}, {8, grpc::StatusCode::OK},
      {9, grpc::StatusCode::OK}, {10, grpc::StatusCode::INVALID_ARGUMENT}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(outcome.acks[i].sequence(), expected[i].first);
    EXPECT_EQ(outcome.acks[i].code(), expected[i].second)
        << "sequence " << expected[i].first << ": " << outcome.acks[i].message();
  }
  EXPECT_TRUE(f_.AwaitItem("police-nl", "honest-b2").ok());
  EXPECT_TRUE(f_.AwaitItem("police-nl", "honest-b3").ok());
  EXPECT_TRUE(f_.Shown("police-nl", "spoof-b1", true).empty());
  EXPECT_TRUE(f_.Shown("police-nl", "spoof-b4", true).empty());

  // A sender that does not announce batches gets one answer per message
  // and no announcement.
  ExchangeOutcome single = Exchange(
      "police-nl", f_.org("customs-nl").gateway_cert, f_.org("customs-nl").gateway_key,
      {ItemMessage(11, "honest-b5", "customs-nl", {{"customs-nl", "police-nl"}}),
       ItemMessage(12, "honest-b6", "customs-nl", {{"customs-nl", "police-nl"}})});
  EXPECT_TRUE(single.status.ok()) << single.status.error_message();
  EXPECT_EQ(single.batch_announced, "");
  EXPECT_EQ(single.ack_messages, 2u);
  ASSERT_EQ(single.acks.size(), 2u);
  EXPECT_EQ(single.acks[0].sequence(), 11u);
  EXPECT_EQ(single.acks[1].sequence(), 12u);
}

TEST_F(FederationTrustTest, AGatewayOfAnOrganisationThatIsNotAPeerIsRefusedAndRecorded) {
  // police-be's own, valid gateway certificate; the port does not peer
  // with police-be.
  ExchangeOutcome outcome = Exchange(
      "port-rtm", f_.org("police-be").gateway_cert, f_.org("police-be").gateway_key,
      {ItemMessage(1, "stranger-1", "police-be", {{"police-be", "port-rtm"}})});
  ExpectRefusedInHandshake(outcome, "port-rtm", "spiffe://police.be.example/gateway");
  EXPECT_TRUE(f_.Shown("port-rtm", "stranger-1", true).empty());
}

TEST_F(FederationTrustTest, AConfiguredPeerSendingAnotherOriginIsRefusedPerMessageAndRecorded) {
  // Something police-nl holds from the port, for the withdrawal below.
  auto badge = LoadSample("badge_out_of_hours.json");
  ASSERT_TRUE(badge.ok()) << badge.status();
  ASSERT_TRUE(f_.Push("port-rtm", *badge).ok());
  ASSERT_TRUE(f_.AwaitItem("police-nl", badge->item_id()).ok());

  v1::FederationMessage withdrawal;
  withdrawal.set_sequence(5);
  withdrawal.mutable_retraction()->set_origin("port-rtm");
  withdrawal.mutable_retraction()->set_item_id(badge->item_id());
  withdrawal.mutable_retraction()->set_kind(v1::Retraction::NO_LONGER_SHARED);
  withdrawal.mutable_retraction()->set_decided_by("customs-nl");
  withdrawal.mutable_retraction()->set_reason("forged");
  v1::FederationMessage retraction = withdrawal;
  retraction.set_sequence(6);
  retraction.mutable_retraction()->set_kind(v1::Retraction::RETRACTED_BY_ORIGIN);
  retraction.mutable_retraction()->set_decided_by("port-rtm");

  // Customs' genuine gateway calls police-nl, whose inbound rules accept
  // anything from customs.
  ExchangeOutcome outcome = Exchange(
      "police-nl", f_.org("customs-nl").gateway_cert, f_.org("customs-nl").gateway_key,
      {
          // The port's item, with customs' own hop: the chain does not
          // start at the origin.
          ItemMessage(1, "spoof-1", "port-rtm", {{"customs-nl", "police-nl"}}),
          // The port's item with a forged port hop: sent by customs, but
          // the last hop is not customs'.
          ItemMessage(2, "spoof-2", "port-rtm", {{"port-rtm", "police-nl"}}),
          // No provenance at all.
          ItemMessage(3, "spoof-3", "port-rtm", {}),
          // Genuine: customs' own item.
          ItemMessage(4, "honest-4", "customs-nl", {{"customs-nl", "police-nl"}}),
          // Withdrawing, and retracting, the port's item police-nl holds
          // from the port.
          withdrawal,
          retraction,
      });
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_EQ(outcome.acks.size(), 6u);
  const std::vector<std::pair<uint64_t, grpc::StatusCode>> expected = {
      {1, grpc::StatusCode::PERMISSION_DENIED}, {2, grpc::StatusCode::PERMISSION_DENIED},
      {3, grpc::StatusCode::INVALID_ARGUMENT},  {4, grpc::StatusCode::OK},
      {5, grpc::StatusCode::PERMISSION_DENIED}, {6, grpc::StatusCode::PERMISSION_DENIED}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(outcome.acks[i].sequence(), expected[i].first);
    EXPECT_EQ(outcome.acks[i].code(), expected[i].second)
        << "sequence " << expected[i].first << ": " << outcome.acks[i].message();
  }
  EXPECT_THAT(outcome.acks[0].message(), HasSubstr("origin"));
  EXPECT_THAT(outcome.acks[1].message(), HasSubstr("customs-nl"));

  // Recorded at the receiver, one RECEIPT_REFUSED per refused message,
  // naming the sender and the item.
  ASSERT_TRUE(WaitFor([&] {
    return f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
             return r.type() == v1::RECEIPT_REFUSED;
           }).size() >= 5;
  }));
  std::vector<v1::AuditRecord> refusals = f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::RECEIPT_REFUSED;
  });
  std::map<std::string, int> refused_items;
  for (const v1::AuditRecord& r : refusals) {
    EXPECT_EQ(r.partner(), "customs-nl");
    EXPECT_EQ(r.actor(), "spiffe://customs.nl.example/gateway");
    ++refused_items[r.item().item_id()];
  }
  EXPECT_EQ(refused_items["spoof-1"], 1);
  EXPECT_EQ(refused_items["spoof-2"], 1);
  EXPECT_EQ(refused_items["spoof-3"], 1);
  EXPECT_EQ(refused_items[badge->item_id()], 2);
  for (const v1::AuditRecord& r : refusals) {
    if (r.item().item_id() != badge->item_id()) continue;
    EXPECT_EQ(r.item().origin(), "port-rtm");
    EXPECT_THAT(r.detail(), HasSubstr("retraction"));
    EXPECT_THAT(r.reason(), HasSubstr("PERMISSION_DENIED"));
  }
  EXPECT_EQ(refused_items.count("honest-4"), 0u);

  // Nothing of it stored or shown; the honest item and the port's item are.
  for (const char* id : {"spoof-1", "spoof-2", "spoof-3"}) {
    EXPECT_TRUE(f_.Shown("police-nl", id, true).empty()) << id;
  }
  auto versions = f_.StoredVersions("police-nl");
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(versions->count({"port-rtm", "spoof-1", 1}), 0u);
  auto honest = f_.AwaitItem("police-nl", "honest-4");
  ASSERT_TRUE(honest.ok()) << honest.status();
  EXPECT_EQ(honest->received_from(), "customs-nl");
  std::vector<v1::InboxEntry> held = f_.Shown("police-nl", badge->item_id());
  ASSERT_EQ(held.size(), 1u) << "the forged withdrawal must not hide the port's item";
  EXPECT_FALSE(held[0].has_retraction());
  EXPECT_EQ(held[0].received_from(), "port-rtm");
}

}  // namespace
}  // namespace havengate::testing
