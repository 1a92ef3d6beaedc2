// Why a peer link broke, end to end, with real gateway processes: police-nl
// sends alerts to customs-nl, and customs-nl is down, refuses police-nl's
// certificate, or runs out of disk (a tmpfs under its store, filled, then
// grown). The sender logs one peer_link_broken line per episode with the
// reason, counts every break in havengate_peer_link_breaks_total{reason},
// names it in the federation_health detail, and once the receiver has space
// again delivery resumes within a few seconds, nothing lost or duplicated.
//
// The full-disk test prints `resume_after_space_ms=N`: the time from the
// receiver's file system growing to every queued item being stored there.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/metrics/scrape.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kSenderPolicy[] = R"yaml(
organisation: police-nl
version: "links-1"
partners:
  - {id: customs-nl, name: Dutch Customs, kind: CUSTOMS, country: NL}
rules:
  - name: alerts-to-customs
    to: [customs-nl]
    kinds: [ALERT]
    share: ["*"]
inbound:
  accept:
    - from: [customs-nl]
)yaml";

// customs-nl's policy, naming `partner` (police-nl, or port-rtm when
// police-nl is not to be a peer).
std::string ReceiverPolicy(const std::string& partner) {
  return absl::StrCat(R"yaml(
organisation: customs-nl
version: "links-1"
partners:
  - {id: )yaml", partner, R"yaml(, name: Partner, kind: POLICE, country: NL}
rules:
  - name: nothing-back
    to: [)yaml", partner, R"yaml(]
    kinds: [ALERT]
    when: category == SEIZURE
    share: ["*"]
inbound:
  accept:
    - from: [)yaml", partner, R"yaml(]
      kinds: [ALERT]
)yaml");
}

// Lines of `log` that contain every one of `parts`.
int LinesWith(const std::string& log, std::initializer_list<absl::string_view> parts) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    bool all = !line.empty();
    for (absl::string_view p : parts) all = all && absl::StrContains(line, p);
    n += all ? 1 : 0;
  }
  return n;
}

// How the gateway's log shows an event name or a field.
std::string Field(absl::string_view key, absl::string_view value) {
  if (key == "event") return absl::StrCat(" ", value, " ");
  return absl::StrCat(" ", key, "=", value);
}

class LinkBreaksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-nl", "customs-nl", "port-rtm"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    ASSERT_TRUE(f_.WritePolicy("police-nl", kSenderPolicy).ok());
  }

  void TearDown() override {
    if (!tmpfs_.empty()) {
      if (f_.started("customs-nl")) f_.gateway("customs-nl").Kill9();
      umount2(tmpfs_.c_str(), MNT_DETACH);
    }
  }

  void StartSender() {
    metrics_port_ = PickUnusedPort();
    absl::Status started = f_.Start(
        "police-nl", {"customs-nl"},
        absl::StrCat("metrics: {listen: 127.0.0.1:", metrics_port_, "}\n"));
    ASSERT_TRUE(started.ok()) << started;
  }

  // Starts customs-nl accepting from police-nl (or, `refusing`, with only
  // port-rtm as a peer: police-nl's certificate is not trusted there).
  void StartReceiver(bool refusing = false) {
    const std::string partner = refusing ? "port-rtm" : "police-nl";
    ASSERT_TRUE(f_.WritePolicy("customs-nl", ReceiverPolicy(partner)).ok());
    absl::Status started = f_.Start("customs-nl", {partner});
    ASSERT_TRUE(started.ok()) << started;
  }

  std::string SenderLog() { return f_.gateway("police-nl").ReadLog(); }

  // havengate_peer_link_breaks_total for customs-nl and `reason`.
  double Breaks(const std::string& reason) {
    const TestOrg& police = f_.org("police-nl");
    auto parsed = metrics::ScrapeMetrics(
        {metrics_port_, police.ca_file, police.client_cert, police.client_key});
    if (!parsed.ok()) return -1;
    return parsed->Find("havengate_peer_link_breaks_total",
                        {{"partner", "customs-nl"}, {"reason", reason}})
        .value_or(0);
  }

  // Waits for the sender to log the start of an episode with `reason`, to
  // count it and to name it in the federation health detail.
  void ExpectBreak(const std::string& reason) {
    const std::string event = Field("event", "peer_link_broken");
    const std::string because = Field("reason", reason);
    ASSERT_TRUE(WaitFor([&] { return LinesWith(SenderLog(), {event, because}) > 0; }))
        << f_.Logs();
    ASSERT_TRUE(WaitFor([&] { return Breaks(reason) >= 1; })) << f_.Logs();
    ASSERT_TRUE(WaitFor([&] {
      return LinesWith(SenderLog(), {Field("event", "federation_health"),
                                     "customs-nl: " + reason}) > 0;
    })) << f_.Logs();
    EXPECT_EQ(LinesWith(SenderLog(), {Field("reason", "CANCELLED")}), 0);
  }

  Federation f_;
  int metrics_port_ = 0;
  std::string tmpfs_;
};

TEST_F(LinkBreaksTest, APeerThatIsDownIsUnreachableUntilItComesUp) {
  StartSender();
  ASSERT_TRUE(f_.Push("police-nl", MakeAlert("while-down")).ok());
  ExpectBreak("peer_unreachable");
  StartReceiver();
  ASSERT_TRUE(f_.AwaitItem("customs-nl", "while-down").ok()) << f_.Logs();
  EXPECT_TRUE(WaitFor([&] {
    return LinesWith(SenderLog(), {Field("event", "peer_link_recovered"),
                                   Field("reason", "peer_unreachable")}) == 1;
  })) << SenderLog();
}

TEST_F(LinkBreaksTest, APeerThatDoesNotTrustTheSenderRefusesTheHandshake) {
  StartSender();
  StartReceiver(/*refusing=*/true);
  ASSERT_TRUE(f_.Push("police-nl", MakeAlert("refused")).ok());
  ExpectBreak("handshake_refused");
  EXPECT_EQ(LinesWith(SenderLog(), {Field("event", "peer_link_broken"),
                                    Field("reason", "peer_unreachable")}),
            0)
      << SenderLog();
}

// A stand-in for customs-nl's gateway: it completes mutual TLS as that
// gateway (its certificate; police-nl's CA for callers) and refuses every
// Exchange with PERMISSION_DENIED, as a partner's gateway does that no
// longer authorises this organisation. A real havengate refuses an
// organisation it does not federate with already at the handshake (the
// test above), so a refusal after the handshake needs this stand-in.
class RefusingPeer final : public v1::Federation::Service {
 public:
  grpc::Status Exchange(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::FederationAck, v1::FederationMessage>* /*stream*/) override {
    ++calls_;
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "this organisation is not a configured peer of this gateway");
  }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(LinkBreaksTest, APeerThatRefusesTheCallAfterTheHandshakeIsRefusedByPeer) {
  StartSender();
  const TestOrg& police = f_.org("police-nl");
  const TestOrg& customs = f_.org("customs-nl");
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  tls.pem_root_certs = ReadText(police.ca_file);
  tls.pem_key_cert_pairs.push_back({ReadText(customs.gateway_key), ReadText(customs.gateway_cert)});
  RefusingPeer stand_in;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", f_.port("customs-nl")),
                           grpc::SslServerCredentials(tls));
  builder.RegisterService(&stand_in);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  ASSERT_TRUE(f_.Push("police-nl", MakeAlert("refused-by-peer")).ok());
  ExpectBreak("refused_by_peer");
  EXPECT_GE(stand_in.calls(), 1) << "the handshake passed and the call was refused";
  EXPECT_EQ(LinesWith(SenderLog(), {Field("event", "peer_link_broken"),
                                    Field("reason", "handshake_refused")}),
            0)
      << SenderLog();
  // `havenctl health` names the reason too.
  EXPECT_TRUE(WaitFor([&] {
    CommandResult health = RunCommand(
        {HavenctlBinary(), "health", "--json", "--address",
         absl::StrCat("localhost:", f_.port("police-nl")), "--cert", police.client_cert, "--key",
         police.client_key, "--ca", police.ca_file, "--gateway-id", police.gateway_id()});
    return absl::StrContains(health.out, "\"link_break_reason\":\"refused_by_peer\"");
  })) << SenderLog();

  // The partner's real gateway takes its place: the item is delivered.
  server->Shutdown();
  StartReceiver();
  ASSERT_TRUE(f_.AwaitItem("customs-nl", "refused-by-peer", 1, absl::Seconds(45)).ok())
      << f_.Logs();
  EXPECT_TRUE(WaitFor([&] {
    return LinesWith(SenderLog(), {Field("event", "peer_link_recovered"),
                                   Field("reason", "refused_by_peer")}) == 1;
  })) << SenderLog();
}

// The receiver's disk is held full by a filler file, not by items: the
// store is left idle, then the filler takes every free page of the tmpfs.
// Filling with items left room that later items fitted in (the frames a
// refused, larger commit had already written to the WAL stay allocated,
// and a commit of fewer frames fits there), so the receiver sometimes
// stored items while "full". With the store idle its WAL ends with its
// last commit and no checkpoint runs (the WAL stays far below the
// auto-checkpoint size): every commit needs new pages, and there are none.
TEST_F(LinkBreaksTest, APeerOutOfSpaceIsRetriedSoonAndResumesWithinSecondsOfSpace) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to mount a tmpfs under the receiver's store";
  }
  // customs-nl's store on a 4 MiB tmpfs.
  tmpfs_ = f_.org("customs-nl").dir + "/data";
  fs::create_directories(tmpfs_);
  if (mount("tmpfs", tmpfs_.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0) {
    const int error = errno;
    tmpfs_.clear();
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(error)
                 << "; needs root or CAP_SYS_ADMIN)";
  }
  StartReceiver();
  client::Client& customs = f_.ClientOf("customs-nl");
  ASSERT_TRUE(customs.Push(MakeAlert("before-full")).ok());
  // Every free page of the tmpfs to the filler.
  {
    const std::string filler = tmpfs_ + "/filler";
    const int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const std::string chunk(64 * 1024, 'f');
    int error = 0;
    for (;;) {
      const ssize_t n = write(fd, chunk.data(), chunk.size());
      if (n > 0) continue;
      error = n < 0 ? errno : ENOSPC;
      if (error != EINTR) break;
    }
    close(fd);
    ASSERT_EQ(error, ENOSPC) << std::strerror(error);
  }
  struct statvfs space {};
  ASSERT_EQ(statvfs(tmpfs_.c_str(), &space), 0);
  ASSERT_EQ(space.f_bfree, 0u);
  // Not even an empty alert fits, and a refused item leaves no room.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<v1::Receipt> receipt =
        customs.Push(MakeAlert(absl::StrCat("while-full-", i)));
    ASSERT_TRUE(absl::IsResourceExhausted(receipt.status())) << receipt.status();
  }
  StartSender();
  constexpr int kItems = 20;
  std::set<std::string> expected;
  for (int i = 0; i < kItems; ++i) {
    const std::string id = absl::StrCat("queued-", i);
    // Alerts of about 9 KB: a frame or more of the WAL each.
    v1::Item item = MakeAlert(id);
    item.mutable_alert()->set_description(std::string(9000, 'q'));
    ASSERT_TRUE(f_.Push("police-nl", item).ok());
    expected.insert(id);
  }
  // Out of space for a while: eight refused streams in a row.
  const std::string customs_log_event = Field("event", "peer_connected");
  ASSERT_TRUE(WaitFor([&] {
    return LinesWith(f_.gateway("customs-nl").ReadLog(), {customs_log_event}) >= 8;
  }, absl::Seconds(120))) << f_.Logs();
  // Space returns: every queued item arrives, once, within seconds. The
  // time is taken from the stores alone, not from the sender's log.
  ASSERT_EQ(mount("tmpfs", tmpfs_.c_str(), "tmpfs", MS_REMOUNT, "size=64m,mode=0700"), 0)
      << std::strerror(errno);
  const absl::Time freed = absl::Now();
  size_t missing = expected.size();
  ASSERT_TRUE(WaitFor([&] {
    auto stored = f_.StoredVersions("customs-nl");
    if (!stored.ok()) return false;
    missing = 0;
    for (const std::string& id : expected) {
      if (stored->count({"police-nl", id, 1}) == 0) ++missing;
    }
    return missing == 0;
  }, absl::Seconds(60))) << missing << " missing; " << f_.Logs();
  const absl::Duration resumed = absl::Now() - freed;
  std::cout << "resume_after_space_ms=" << absl::ToInt64Milliseconds(resumed)
            << std::endl;
  EXPECT_LT(resumed, absl::Seconds(5));
  // The episode as the sender logged and counted it.
  ExpectBreak("peer_out_of_space");
  // One line per episode on each side, however many streams were refused.
  EXPECT_GE(Breaks("peer_out_of_space"), 2);
  EXPECT_EQ(LinesWith(SenderLog(), {Field("event", "peer_link_broken")}), 1)
      << SenderLog();
  EXPECT_EQ(LinesWith(f_.gateway("customs-nl").ReadLog(),
                      {Field("event", "receipts_deferred")}),
            1);

  auto stored = f_.StoredVersions("customs-nl");
  ASSERT_TRUE(stored.ok());
  for (const std::string& id : expected) {
    EXPECT_EQ((*stored)[ItemKey("police-nl", id, 1)], 1) << id;
  }
  EXPECT_TRUE(WaitFor([&] {
    return LinesWith(SenderLog(), {Field("event", "peer_link_recovered"),
                                   Field("reason", "peer_out_of_space")}) == 1;
  })) << SenderLog();
  EXPECT_EQ(LinesWith(f_.gateway("customs-nl").ReadLog(),
                      {Field("event", "receipts_resumed")}),
            1);
}

}  // namespace
}  // namespace havengate::testing
