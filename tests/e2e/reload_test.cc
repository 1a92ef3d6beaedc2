// Reloading a running gateway's configuration (SIGHUP, `systemctl reload`)
// with real gateway processes over real mutual TLS: police-nl federates
// with port-rtm from the start; customs-nl is added with `havenctl peer
// add BUNDLE` and a reload (no restart) and receives what the policy
// releases to it, field by field; port-rtm's address is changed (only its
// link reconnects); invalid files are refused as a whole (logged, counted,
// shown in health) while the running configuration keeps serving;
// customs-nl is removed (its link stops, its outbox is kept, its calls on
// a connection opened before are refused with PERMISSION_DENIED and a new
// connection is refused in the handshake); a lower item size limit applies
// at once. port-rtm's link is never reconnected by a change that does not
// concern it: its gateway sees one Exchange stream per link session.
#include <signal.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/strings/str_split.h"
#include "certs/channel_credentials.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "httplib.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

constexpr char kPolice[] = "police-nl";
constexpr char kCustoms[] = "customs-nl";
constexpr char kPort[] = "port-rtm";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteText(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::trunc) << text;
  std::rename(tmp.c_str(), path.c_str());
}

// `text` without the lines containing `marker`.
std::string WithoutLines(const std::string& text, const std::string& marker) {
  std::vector<std::string> kept;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StrContains(line, marker)) kept.emplace_back(line);
  }
  return absl::StrJoin(kept, "\n");
}

// A receiver's policy: accepts alerts from police-nl, shares nothing.
std::string ReceiverPolicy(const std::string& id) {
  return absl::StrCat("organisation: ", id, "\nversion: \"reload-1\"\n",
                      "partners: [{id: police-nl}]\nrules: []\n",
                      "inbound: {accept: [{from: [police-nl], kinds: [ALERT]}]}\n");
}

constexpr char kPolicePortOnly[] = R"(organisation: police-nl
version: "port-only"
partners: [{id: port-rtm}]
rules:
  - {name: alerts-to-port, to: [port-rtm], kinds: [ALERT], share: [category, title]}
)";

constexpr char kPolicePortAndCustoms[] = R"(organisation: police-nl
version: "port-and-customs"
partners: [{id: port-rtm}, {id: customs-nl}]
rules:
  - {name: alerts-to-port, to: [port-rtm], kinds: [ALERT], share: [category, title]}
  - {name: alerts-to-customs, to: [customs-nl], kinds: [ALERT], share: [category, title, containers.number]}
)";

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {kPolice, kCustoms, kPort}) ASSERT_TRUE(f_.AddOrg(id).ok());
    ASSERT_TRUE(f_.WritePolicy(kPolice, kPolicePortOnly).ok());
    ASSERT_TRUE(f_.WritePolicy(kCustoms, ReceiverPolicy(kCustoms)).ok());
    ASSERT_TRUE(f_.WritePolicy(kPort, ReceiverPolicy(kPort)).ok());
    metrics_port_ = PickUnusedPort();
    ASSERT_TRUE(f_.Start(kPort, {kPolice}).ok());
    ASSERT_TRUE(f_.Start(kCustoms, {kPolice}).ok());
    absl::Status started = f_.Start(
        kPolice, {kPort}, absl::StrCat("metrics: {listen: 127.0.0.1:", metrics_port_, "}\n"));
    ASSERT_TRUE(started.ok()) << started;
    config_ = f_.gateway(kPolice).config_file();
  }

  std::string PoliceLog() { return f_.gateway(kPolice).ReadLog(); }

  // SIGHUP to police-nl; waits until it applied or refused the file.
  // True if applied.
  bool Reload() {
    const int applied = CountOccurrences(PoliceLog(), "config_reloaded ");
    const int refused = CountOccurrences(PoliceLog(), "stays in force");
    EXPECT_EQ(kill(f_.gateway(kPolice).pid(), SIGHUP), 0);
    bool done = WaitFor([&] {
      return CountOccurrences(PoliceLog(), "config_reloaded ") > applied ||
             CountOccurrences(PoliceLog(), "stays in force") > refused;
    });
    EXPECT_TRUE(done) << PoliceLog();
    return CountOccurrences(PoliceLog(), "config_reloaded ") > applied;
  }

  // Exchange streams police-nl's link opened at `id`'s gateway.
  int StreamsAt(const std::string& id) {
    return CountOccurrences(f_.gateway(id).ReadLog(), "peer_connected peer=police-nl");
  }

  // A metric of police-nl as its metrics endpoint shows it (-1: absent).
  double Metric(const std::string& series) {
    const TestOrg& police = f_.org(kPolice);
    httplib::SSLClient cli("localhost", metrics_port_, police.client_cert, police.client_key);
    cli.set_hostname_addr_map({{"localhost", "127.0.0.1"}});
    cli.set_ca_cert_path(police.ca_file);
    cli.enable_server_certificate_verification(true);
    httplib::Result res = cli.Get("/metrics");
    if (!res || res->status != 200) return -1;
    for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
      if (absl::StartsWith(line, series + " ")) {
        double value = 0;
        if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
      }
    }
    return -1;
  }

  HealthStatus::ServingStatus ConfigHealth() {
    auto status = f_.ClientOf(kPolice).Health("havengate.v1.Config");
    return status.ok() ? *status : HealthStatus::UNKNOWN;
  }

  // Pushes `item` at police-nl and checks, field by field, what `partner`
  // holds against what police-nl's policy releases to it.
  void ExpectReleased(const v1::Item& item, const std::string& partner) {
    auto shown = f_.AwaitItem(partner, item.item_id());
    ASSERT_TRUE(shown.ok()) << partner << ": " << shown.status();
    auto policy = f_.LoadPolicy(kPolice);
    ASSERT_TRUE(policy.ok()) << policy.status();
    v1::Item sent = item;
    sent.set_origin(kPolice);
    sent.set_version(1);
    policy::PartnerDecision expected = ExpectedRelease(**policy, sent, partner, false);
    ASSERT_TRUE(expected.released) << partner;
    EXPECT_EQ(DiffItems(expected.projected, shown->item()), "") << partner;
    EXPECT_EQ(shown->received_from(), kPolice);
  }

  // A channel to police-nl's gateway presenting customs-nl's gateway
  // certificate, with a connection of its own.
  std::shared_ptr<grpc::Channel> ChannelAsCustoms() {
    const TestOrg& customs = f_.org(kCustoms);
    pki::ChannelCredentialsOptions tls;
    tls.certificate_file = customs.gateway_cert;
    tls.private_key_file = customs.gateway_key;
    tls.ca_file = f_.org(kPolice).ca_file;
    tls.expected_server_id = f_.org(kPolice).gateway_id();
    auto credentials = pki::MakeChannelCredentials(tls);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("localhost:", f_.port(kPolice)),
                                     *credentials, args);
  }

  Federation f_;
  int metrics_port_ = 0;
  std::string config_;
};

TEST_F(ReloadTest, PeersComeAndGoWithoutARestartAndInvalidFilesChangeNothing) {
  const pid_t police_pid = f_.gateway(kPolice).pid();
  v1::Item first = MakeAlertAt("before-reload", "NLRTM");
  first.mutable_alert()->add_containers()->set_number("MSCU4812360");
  ASSERT_TRUE(f_.Push(kPolice, first).ok());
  ExpectReleased(first, kPort);
  const int port_streams = StreamsAt(kPort);
  ASSERT_EQ(port_streams, 1) << f_.Logs();

  // --- customs-nl joins: its bundle, `peer add`, the policy, a reload.
  const std::string bundle = f_.org(kCustoms).dir + "/customs-nl.bundle";
  CommandResult exported = RunCommand(
      {HavenctlBinary(), "peer", "bundle", "export", "--config",
       f_.gateway(kCustoms).config_file(), "--address",
       absl::StrCat("localhost:", f_.port(kCustoms)), "--out", bundle});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  CommandResult added = RunCommand({HavenctlBinary(), "peer", "add", bundle, "--config", config_});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  ASSERT_TRUE(f_.WritePolicy(kPolice, kPolicePortAndCustoms).ok());
  ASSERT_TRUE(Reload());
  EXPECT_THAT(PoliceLog(), HasSubstr("peers added: customs-nl"));
  EXPECT_EQ(f_.gateway(kPolice).pid(), police_pid) << "no restart";
  v1::Item second = MakeAlertAt("after-add", "NLRTM");
  second.mutable_alert()->set_description("Seen at the gate of terminal 2");
  auto pushed = f_.Push(kPolice, second);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  ExpectReleased(second, kCustoms);
  ExpectReleased(second, kPort);
  std::vector<v1::InboxEntry> shown = f_.Shown(kCustoms, "after-add");
  ASSERT_EQ(shown.size(), 1u);
  const v1::Item at_customs = shown[0].item();
  ASSERT_EQ(at_customs.alert().containers_size(), second.alert().containers_size());
  ASSERT_GT(second.alert().containers_size(), 0);
  EXPECT_EQ(at_customs.alert().containers(0).number(), second.alert().containers(0).number());
  EXPECT_TRUE(at_customs.alert().description().empty()) << "not released";
  shown = f_.Shown(kPort, "after-add");
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_TRUE(shown[0].item().alert().containers().empty())
      << "port-rtm is released category and title only";
  auto audited = f_.AwaitAudit(kPolice, [](const v1::AuditRecord& r) {
    return r.type() == v1::CONFIG_RELOADED;
  });
  ASSERT_TRUE(audited.ok()) << audited.status();
  EXPECT_EQ(audited->detail(), "peers added: customs-nl");
  EXPECT_EQ(StreamsAt(kPort), port_streams) << "port-rtm's link was not touched";
  const int customs_streams = StreamsAt(kCustoms);
  EXPECT_EQ(customs_streams, 1);

  // --- port-rtm's entry changes (its address): only its link reconnects.
  const std::string with_customs = ReadText(config_);
  const std::string port_address = absl::StrCat("address: localhost:", f_.port(kPort));
  ASSERT_THAT(with_customs, HasSubstr(port_address));
  WriteText(config_, absl::StrReplaceAll(with_customs,
                                         {{port_address, absl::StrCat("address: 127.0.0.1:",
                                                                      f_.port(kPort))}}));
  ASSERT_TRUE(Reload());
  EXPECT_THAT(PoliceLog(), HasSubstr("peers changed: port-rtm"));
  v1::Item third = MakeAlertAt("after-change", "NLRTM");
  ASSERT_TRUE(f_.Push(kPolice, third).ok());
  ExpectReleased(third, kPort);
  ExpectReleased(third, kCustoms);
  EXPECT_EQ(StreamsAt(kPort), port_streams + 1) << "the changed link reconnected";
  EXPECT_EQ(StreamsAt(kCustoms), customs_streams) << "customs-nl's link was not touched";
  const std::string running = ReadText(config_);

  // --- Invalid files: each refused as a whole, naming the problem.
  EXPECT_EQ(Metric("havengate_config_reload_total{result=\"refused\"}"), 0);
  const std::string customs_entry = "{id: customs-nl";
  struct Invalid {
    std::string name, text, logged;
  };
  const std::vector<Invalid> invalid = {
      {"broken YAML", running + "limits: {max_item_bytes: 4096\n", "not valid YAML"},
      {"unknown key", running + "colour: blue\n", "colour: unknown key"},
      {"a policy partner is no longer a peer", WithoutLines(running, customs_entry),
       "customs-nl is not a peer"},
      {"unreadable peer CA",
       absl::StrReplaceAll(running, {{"peers/customs-nl/ca.crt", "peers/customs-nl/gone.crt"}}),
       "cannot read file"},
      {"listen address",
       absl::StrReplaceAll(running, {{absl::StrCat("listen: 127.0.0.1:", f_.port(kPolice)),
                                      "listen: 127.0.0.1:1"}}),
       "listen: changed; only a restart applies"},
  };
  for (const Invalid& c : invalid) {
    ASSERT_NE(c.text, running) << c.name;
    WriteText(config_, c.text);
    EXPECT_FALSE(Reload()) << c.name;
    EXPECT_THAT(PoliceLog(), HasSubstr(c.logged)) << c.name;
    EXPECT_EQ(ConfigHealth(), HealthStatus::NOT_SERVING) << c.name;
  }
  EXPECT_TRUE(WaitFor([&] {
    return Metric("havengate_config_reload_total{result=\"refused\"}") == invalid.size();
  })) << Metric("havengate_config_reload_total{result=\"refused\"}");
  EXPECT_EQ(Metric("havengate_config_reload_total{result=\"applied\"}"), 2);
  // The running configuration still serves: push and delivery to both.
  v1::Item fourth = MakeAlertAt("after-refusals", "NLRTM");
  ASSERT_TRUE(f_.Push(kPolice, fourth).ok());
  ExpectReleased(fourth, kCustoms);
  ExpectReleased(fourth, kPort);
  EXPECT_EQ(f_.AuditWhere(kPolice, [](const v1::AuditRecord& r) {
              return r.type() == v1::CONFIG_RELOADED;
            }).size(), 2u) << "refusals are not audited as reloads";

  // --- customs-nl leaves. An item queued for it while its gateway is down
  // stays in its outbox; its connection opened before is refused per call.
  auto as_customs = v1::Federation::NewStub(ChannelAsCustoms());
  {
    grpc::ClientContext context;
    v1::GetCrlResponse crl;
    grpc::Status before = as_customs->GetCrl(&context, v1::GetCrlRequest(), &crl);
    EXPECT_EQ(before.error_code(), grpc::StatusCode::NOT_FOUND)
        << "authorised (police-nl has no CRL): " << before.error_message();
  }
  // A stream customs-nl has open when it is removed is ended by the reload.
  grpc::ClientContext open_context;
  auto open_stream = as_customs->Exchange(&open_context);
  ASSERT_TRUE(WaitFor([&] {
    return CountOccurrences(PoliceLog(), "peer_connected peer=customs-nl") >= 1;
  })) << PoliceLog();
  ASSERT_TRUE(f_.gateway(kCustoms).Terminate().ok());
  v1::Item queued = MakeAlertAt("queued-for-customs", "NLRTM");
  ASSERT_TRUE(f_.Push(kPolice, queued).ok());
  ExpectReleased(queued, kPort);
  const std::string customs_depth = "havengate_outbox_depth{partner=\"customs-nl\"}";
  ASSERT_TRUE(WaitFor([&] { return Metric(customs_depth) == 1; })) << Metric(customs_depth);
  WriteText(config_, WithoutLines(running, customs_entry));
  ASSERT_TRUE(f_.WritePolicy(kPolice, kPolicePortOnly).ok());
  ASSERT_TRUE(Reload());
  EXPECT_THAT(PoliceLog(), HasSubstr("peers removed: customs-nl"));
  EXPECT_EQ(ConfigHealth(), HealthStatus::SERVING);
  {
    grpc::ClientContext context;
    v1::GetCrlResponse crl;
    grpc::Status after = as_customs->GetCrl(&context, v1::GetCrlRequest(), &crl);
    EXPECT_EQ(after.error_code(), grpc::StatusCode::PERMISSION_DENIED) << after.error_message();
    EXPECT_THAT(after.error_message(), HasSubstr("no longer a peer"));
  }
  {
    grpc::ClientContext context;
    auto stream = as_customs->Exchange(&context);
    stream->WritesDone();
    grpc::Status exchange = stream->Finish();
    EXPECT_EQ(exchange.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << exchange.error_message();
  }
  {
    v1::FederationAck ack;
    EXPECT_FALSE(open_stream->Read(&ack));
    grpc::Status ended = open_stream->Finish();
    EXPECT_EQ(ended.error_code(), grpc::StatusCode::CANCELLED) << ended.error_message();
    EXPECT_THAT(PoliceLog(), HasSubstr("peer_stream_ended peer=customs-nl"));
  }
  {
    auto fresh = v1::Federation::NewStub(ChannelAsCustoms());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::GetCrlResponse crl;
    grpc::Status handshake = fresh->GetCrl(&context, v1::GetCrlRequest(), &crl);
    EXPECT_EQ(handshake.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "a new connection is refused in the handshake: " << handshake.error_message();
  }
  // No link to customs-nl any more: nothing of it in police-nl's log from
  // here on, although its gateway is up again.
  const int customs_lines = CountOccurrences(PoliceLog(), "partner=customs-nl");
  ASSERT_TRUE(f_.gateway(kCustoms).Restart().ok());
  absl::SleepFor(absl::Seconds(3));  // longer than a live link's backoff here
  EXPECT_EQ(CountOccurrences(PoliceLog(), "partner=customs-nl"), customs_lines)
      << PoliceLog();
  v1::Item fifth = MakeAlertAt("after-remove", "NLRTM");
  ASSERT_TRUE(f_.Push(kPolice, fifth).ok());
  ExpectReleased(fifth, kPort);
  EXPECT_TRUE(f_.Shown(kCustoms, "queued-for-customs").empty()) << "its link is stopped";
  EXPECT_TRUE(f_.Shown(kCustoms, "after-remove").empty());
  EXPECT_EQ(Metric(customs_depth), 1) << "its outbox is kept";
  EXPECT_EQ(StreamsAt(kPort), port_streams + 1) << "port-rtm's link was not touched";
  auto removed = f_.AwaitAudit(kPolice, [](const v1::AuditRecord& r) {
    return r.type() == v1::CONFIG_RELOADED && r.detail() == "peers removed: customs-nl";
  });
  EXPECT_TRUE(removed.ok()) << removed.status();
}

TEST_F(ReloadTest, ALowerItemLimitAppliesAtOnce) {
  v1::Item big = MakeAlertAt("big-1", "NLRTM");
  big.mutable_alert()->set_description(std::string(3000, 'x'));
  ASSERT_TRUE(f_.Push(kPolice, big).ok());
  WriteText(config_, ReadText(config_) + "limits: {max_item_bytes: 2048}\n");
  ASSERT_TRUE(Reload());
  EXPECT_THAT(PoliceLog(), HasSubstr("limits changed"));
  big.set_item_id("big-2");
  absl::StatusOr<v1::Receipt> refused = f_.Push(kPolice, big);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("2048"));
  v1::Item small = MakeAlertAt("small", "NLRTM");
  EXPECT_TRUE(f_.Push(kPolice, small).ok());
  ExpectReleased(small, kPort);
  EXPECT_EQ(StreamsAt(kPort), 1) << "a limits change leaves the links alone";
}

}  // namespace
}  // namespace havengate::testing
