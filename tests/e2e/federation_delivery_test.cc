// Federation delivery through failures, with real gateway processes: a
// sender (police-nl) sharing with two partners (customs-nl: every alert;
// port-rtm: PIN-code fraud only), under small policies written here.
// - A partner down for a while, then up: everything queued for it arrives,
//   in the order it was pushed, once; the other partner is not held up.
// - kill -9 of the sender at random moments during a PushStream of at
//   least 10,000 items, five times; and, separately, of the receivers:
//   afterwards every item acknowledged to the client (and every item the
//   sender stored) is at every partner that should have it exactly once,
//   and no item is anywhere twice.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

constexpr char kSenderPolicy[] = R"yaml(
organisation: police-nl
version: "delivery-1"
partners:
  - {id: customs-nl, name: Dutch Customs, kind: CUSTOMS, country: NL}
  - {id: port-rtm, name: Port of Rotterdam, kind: PORT_OPERATOR, country: NL}
rules:
  - name: alerts-to-customs
    to: [customs-nl]
    kinds: [ALERT]
    share: ["*"]
  - name: pin-fraud-to-port
    to: [port-rtm]
    kinds: [ALERT]
    when: category == PIN_CODE_FRAUD
    share: [category, severity, title, containers.number]
inbound:
  accept:
    - from: [customs-nl, port-rtm]
)yaml";

// A receiver's policy: accepts alerts from police-nl, shares nothing back
// (its one rule matches no item this test sends).
std::string ReceiverPolicy(const std::string& id) {
  return absl::StrCat(R"yaml(
organisation: )yaml", id, R"yaml(
version: "delivery-1"
partners:
  - {id: police-nl, name: Dutch police, kind: POLICE, country: NL}
rules:
  - name: seizures-to-police
    to: [police-nl]
    kinds: [ALERT]
    when: category == SEIZURE
    share: ["*"]
inbound:
  accept:
    - from: [police-nl]
      kinds: [ALERT]
)yaml");
}

// Item i of a run: every third one a suspicious container (customs only),
// the others PIN-code fraud (both partners).
v1::Item ItemNumber(const std::string& prefix, int i) {
  return MakeAlertAt(absl::StrCat(prefix, i), "NLRTM",
                     i % 3 == 0 ? v1::Alert::SUSPICIOUS_CONTAINER
                                : v1::Alert::PIN_CODE_FRAUD);
}
bool ForPort(int i) { return i % 3 != 0; }

class FederationDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"police-nl", "customs-nl", "port-rtm"}) {
      ASSERT_TRUE(f_.AddOrg(id).ok());
    }
    ASSERT_TRUE(f_.WritePolicy("police-nl", kSenderPolicy).ok());
    ASSERT_TRUE(f_.WritePolicy("customs-nl", ReceiverPolicy("customs-nl")).ok());
    ASSERT_TRUE(f_.WritePolicy("port-rtm", ReceiverPolicy("port-rtm")).ok());
    // Items as fast as the client sends them: the test is about crashes,
    // not the per-caller item rate (1,000/s after a burst by default).
    absl::Status started = f_.Start("police-nl", {"customs-nl", "port-rtm"},
                                    "limits:\n  per_caller:\n    items_per_second: 0\n");
    ASSERT_TRUE(started.ok()) << started;
    started = f_.Start("customs-nl", {"police-nl"});
    ASSERT_TRUE(started.ok()) << started;
    started = f_.Start("port-rtm", {"police-nl"});
    ASSERT_TRUE(started.ok()) << started;
  }

  // Waits until `id` stored every key in `expected` (from police-nl).
  void AwaitStored(const std::string& id, const std::set<std::string>& expected,
                   absl::Duration timeout) {
    size_t missing = expected.size();
    bool all = WaitFor([&] {
      auto stored = f_.StoredVersions(id);
      if (!stored.ok()) return false;
      missing = 0;
      for (const std::string& item_id : expected) {
        if (stored->count({"police-nl", item_id, 1}) == 0) ++missing;
      }
      return missing == 0;
    }, timeout);
    ASSERT_TRUE(all) << id << " is missing " << missing << " of "
                     << expected.size() << " items; logs:\n" << f_.Logs();
  }

  // Checks, through the store's event log and through Inbox.List and
  // Inbox.Subscribe, that `id` holds every item of `expected` exactly once
  // and nothing from `prefix` beyond `allowed` (each at most once).
  void CheckExactlyOnce(const std::string& id, const std::string& prefix,
                        const std::set<std::string>& expected,
                        const std::set<std::string>& allowed) {
    SCOPED_TRACE(id);
    auto stored = f_.StoredVersions(id);
    ASSERT_TRUE(stored.ok()) << stored.status();
    int extra = 0;
    for (const auto& [key, count] : *stored) {
      const auto& [origin, item_id, version] = key;
      if (!absl::StartsWith(item_id, prefix)) continue;
      EXPECT_EQ(count, 1) << item_id << " stored " << count << " times";
      EXPECT_EQ(origin, "police-nl");
      EXPECT_EQ(version, 1u);
      if (expected.count(item_id) == 0) {
        EXPECT_EQ(allowed.count(item_id), 1u) << item_id << " should not be here";
        ++extra;
      }
    }
    // What the inbox shows: every expected item once, newest first.
    auto inbox = f_.Inbox(id);
    ASSERT_TRUE(inbox.ok()) << inbox.status();
    std::map<std::string, int> shown;
    uint64_t last_cursor = 0;
    for (const v1::InboxEntry& entry : *inbox) {
      last_cursor = std::max(last_cursor, entry.cursor());
      if (absl::StartsWith(entry.item().item_id(), prefix)) {
        ++shown[entry.item().item_id()];
      }
    }
    for (const std::string& item_id : expected) {
      EXPECT_EQ(shown[item_id], 1) << item_id;
    }
    EXPECT_EQ(shown.size(), expected.size() + extra);
    // Every event a subscriber sees, from the start: one per item.
    auto events = f_.Events(id, last_cursor);
    ASSERT_TRUE(events.ok()) << events.status();
    std::map<std::string, int> seen;
    for (const v1::InboxEvent& event : *events) {
      if (event.has_entry() &&
          absl::StartsWith(event.entry().item().item_id(), prefix)) {
        ++seen[event.entry().item().item_id()];
      }
    }
    for (const auto& [item_id, n] : seen) {
      EXPECT_EQ(n, 1) << item_id << " seen " << n << " times by a subscriber";
    }
    EXPECT_EQ(seen.size(), shown.size());
  }

  Federation f_;
};

TEST_F(FederationDeliveryTest, APartnerDownForAWhileGetsEverythingQueuedInOrderOnce) {
  constexpr int kBefore = 20, kWhileDown = 300;
  for (int i = 0; i < kBefore; ++i) {
    ASSERT_TRUE(f_.Push("police-nl", ItemNumber("down-", i)).ok());
  }
  ASSERT_TRUE(f_.AwaitItem("customs-nl", absl::StrCat("down-", kBefore - 1)).ok());
  f_.gateway("customs-nl").Kill9();
  // An item that expires before customs is back: dropped from its queue
  // (and that recorded), while the port, which is up, gets it.
  v1::Item expiring = MakeAlertAt("expiring", "NLRTM");
  expiring.mutable_expires_at()->set_seconds(
      absl::ToUnixSeconds(absl::Now() + absl::Seconds(2)));
  ASSERT_TRUE(f_.Push("police-nl", expiring).ok());

  // Pushed while customs is down, on one stream.
  int next = kBefore;
  absl::Status streamed = f_.ClientOf("police-nl").PushStream(
      [&]() -> std::optional<v1::Item> {
        if (next == kBefore + kWhileDown) return std::nullopt;
        return ItemNumber("down-", next++);
      },
      [](const v1::PushResult& r) { EXPECT_EQ(r.code(), 0) << r.message(); });
  ASSERT_TRUE(streamed.ok()) << streamed;
  constexpr int kTotal = kBefore + kWhileDown;

  // The port is not held up by customs being away.
  ASSERT_TRUE(f_.AwaitItem("port-rtm", absl::StrCat("down-", kTotal - 1)).ok());
  // Down "for a while": the sender found it unreachable (one line for the
  // whole episode) and backed off; the recovery line below counts the
  // attempts.
  ASSERT_TRUE(WaitFor([&] {
    return absl::StrContains(f_.gateway("police-nl").ReadLog(),
                             "peer_link_broken partner=customs-nl reason=peer_unreachable");
  }, absl::Seconds(20))) << f_.gateway("police-nl").ReadLog();
  auto delivered_while_down = f_.AuditWhere("police-nl", [&](const v1::AuditRecord& r) {
    return r.type() == v1::ITEM_DELIVERED && r.partner() == "customs-nl" &&
           r.item().item_id() == absl::StrCat("down-", kBefore);
  });
  EXPECT_TRUE(delivered_while_down.empty());
  const absl::Time expires_at = absl::FromUnixSeconds(expiring.expires_at().seconds());
  ASSERT_TRUE(WaitFor([&] { return absl::Now() > expires_at; }));

  absl::Status restarted = f_.gateway("customs-nl").Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  std::set<std::string> all;
  for (int i = 0; i < kTotal; ++i) all.insert(absl::StrCat("down-", i));
  AwaitStored("customs-nl", all, absl::Seconds(60));
  CheckExactlyOnce("customs-nl", "down-", all, {});
  // The episode ends with one recovery line once the partner acknowledges.
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(f_.gateway("police-nl").ReadLog(),
                             "peer_link_recovered partner=customs-nl");
  }, absl::Seconds(10))) << f_.gateway("police-nl").ReadLog();
  EXPECT_TRUE(f_.Shown("customs-nl", "expiring", true).empty());
  auto expired = f_.AwaitAudit("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::DELIVERY_EXPIRED && r.item().item_id() == "expiring";
  });
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(expired->partner(), "customs-nl");
  EXPECT_TRUE(f_.AwaitItem("port-rtm", "expiring").ok());

  // In order: the inbox's cursor order is the order of pushing.
  auto inbox = f_.Inbox("customs-nl");
  ASSERT_TRUE(inbox.ok()) << inbox.status();
  std::vector<std::pair<uint64_t, int>> by_cursor;
  for (const v1::InboxEntry& entry : *inbox) {
    int i = -1;
    absl::string_view id = entry.item().item_id();
    ASSERT_TRUE(absl::ConsumePrefix(&id, "down-") && absl::SimpleAtoi(id, &i));
    by_cursor.emplace_back(entry.cursor(), i);
  }
  std::sort(by_cursor.begin(), by_cursor.end());
  ASSERT_EQ(by_cursor.size(), static_cast<size_t>(kTotal));
  for (int i = 0; i < kTotal; ++i) {
    ASSERT_EQ(by_cursor[i].second, i) << "out of order at inbox position " << i;
  }
  // The port's copies: the PIN-code fraud ones, once each.
  std::set<std::string> port;
  for (int i = 0; i < kTotal; ++i) {
    if (ForPort(i)) port.insert(absl::StrCat("down-", i));
  }
  AwaitStored("port-rtm", port, absl::Seconds(30));
  CheckExactlyOnce("port-rtm", "down-", port, {});
}

TEST_F(FederationDeliveryTest, AnUnreadableOutboxEntryIsSettledOnRecordAndDoesNotBlockTheQueue) {
  f_.gateway("customs-nl").Kill9();
  ASSERT_TRUE(f_.Push("police-nl", MakeAlertAt("garbled", "NLRTM")).ok());
  ASSERT_TRUE(f_.Push("police-nl", MakeAlertAt("after-garbled", "NLRTM")).ok());
  f_.gateway("police-nl").Kill9();
  // The first entry queued for customs is damaged on disk.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(f_.gateway("police-nl").store_file().c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(
        db,
        "UPDATE outbox SET payload=x'ff' WHERE partner='customs-nl' AND "
        "sequence=(SELECT MIN(sequence) FROM outbox WHERE partner='customs-nl')",
        nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_free(error);
    sqlite3_close(db);
  }
  absl::Status restarted = f_.gateway("police-nl").Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  restarted = f_.gateway("customs-nl").Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;

  ASSERT_TRUE(f_.AwaitItem("customs-nl", "after-garbled").ok());
  EXPECT_TRUE(f_.Shown("customs-nl", "garbled", true).empty());
  auto refused = f_.AwaitAudit("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::DELIVERY_REFUSED && r.partner() == "customs-nl" &&
           absl::StrContains(r.reason(), "cannot be read");
  });
  ASSERT_TRUE(refused.ok()) << refused.status();
  for (const v1::AuditRecord& r : f_.Audit("police-nl")) {
    EXPECT_NE(r.type(), v1::AUDIT_EVENT_TYPE_UNSPECIFIED) << r.DebugString();
  }
}

// Streams items "<prefix><i>" into police-nl from index 0 on, resuming after
// each failed stream, while `disrupt` (on another thread) kills gateways.
// Tracks what the client was told.
class Streamer {
 public:
  Streamer(Federation& f, std::string prefix) : f_(f), prefix_(std::move(prefix)) {}

  // One stream from `from`; ends when `stop` is set (after the item in
  // hand) or the stream fails. Returns the stream's status.
  absl::Status Stream(int from, const std::atomic<bool>& stop) {
    int next = from;
    return f_.ClientOf("police-nl").PushStream(
        [&]() -> std::optional<v1::Item> {
          if (stop) return std::nullopt;
          std::lock_guard<std::mutex> lock(mu_);
          sent_ = std::max(sent_, next + 1);
          return ItemNumber(prefix_, next++);
        },
        [&](const v1::PushResult& r) {
          absl::string_view id = r.item_id();
          int i = -1;
          if (!absl::ConsumePrefix(&id, prefix_) || !absl::SimpleAtoi(id, &i)) {
            ADD_FAILURE() << "answer for an unknown item " << r.item_id();
            return;
          }
          std::lock_guard<std::mutex> lock(mu_);
          if (r.code() == 0) {
            acked_.insert(i);
          } else {
            ADD_FAILURE() << r.item_id() << ": " << r.message();
          }
        },
        /*window=*/256);
  }

  // The first index not acknowledged (answers come in order), and one past
  // the highest index handed to a stream.
  int FirstUnacked() {
    std::lock_guard<std::mutex> lock(mu_);
    int i = 0;
    while (acked_.count(i) > 0) ++i;
    return i;
  }
  int Sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  std::set<int> Acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  std::string Id(int i) const { return absl::StrCat(prefix_, i); }

 private:
  Federation& f_;
  const std::string prefix_;
  std::mutex mu_;
  std::set<int> acked_;
  int sent_ = 0;
};

class FederationKillTest : public FederationDeliveryTest {
 protected:
  static constexpr int kMinItems = 10'000;
  static constexpr int kKills = 5;

  // Checks the outcome: every item the client was told about, and every
  // item the sender stored, is at each partner that should have it
  // exactly once; the other items the client sent may be missing there,
  // but are never twice.
  void CheckOutcome(Streamer& streamer, const std::string& prefix) {
    auto at_sender = f_.StoredVersions("police-nl");
    ASSERT_TRUE(at_sender.ok()) << at_sender.status();
    std::set<int> acked = streamer.Acked();
    std::set<std::string> customs, port, maybe;
    int stored_unacked = 0;
    for (int i = 0; i < streamer.Sent(); ++i) {
      const std::string id = streamer.Id(i);
      const bool stored = at_sender->count({"police-nl", id, 1}) > 0;
      if (acked.count(i) > 0) {
        EXPECT_TRUE(stored) << id << " was acknowledged but is not stored";
      }
      if (!stored) {
        maybe.insert(id);
        continue;
      }
      stored_unacked += acked.count(i) == 0;
      customs.insert(id);
      if (ForPort(i)) port.insert(id);
    }
    ASSERT_GE(acked.size(), static_cast<size_t>(kMinItems));
    for (const auto& [key, count] : *at_sender) {
      if (absl::StartsWith(std::get<1>(key), prefix)) {
        EXPECT_EQ(count, 1) << std::get<1>(key) << " stored twice at the sender";
      }
    }
    AwaitStored("customs-nl", customs, absl::Seconds(90));
    AwaitStored("port-rtm", port, absl::Seconds(60));
    CheckExactlyOnce("customs-nl", prefix, customs, {});
    CheckExactlyOnce("port-rtm", prefix, port, {});
    RecordProperty("items_acknowledged", static_cast<int>(acked.size()));
    RecordProperty("stored_but_not_acknowledged", stored_unacked);
  }
};

TEST_F(FederationKillTest, SenderKilledDuringAStreamLosesAndDuplicatesNothing) {
  Streamer streamer(f_, "ks-");
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pause_ms(150, 700);
  int kills = 0;
  int round = 0;
  while (kills < kKills || static_cast<int>(streamer.Acked().size()) < kMinItems) {
    ASSERT_LT(round++, 200) << "the stream makes no progress; logs:\n" << f_.Logs();
    // Odd rounds resend what was not acknowledged; even rounds give it up
    // and go on after the last item sent (those may or may not arrive).
    const int from = kills % 2 == 1 ? streamer.FirstUnacked() : streamer.Sent();
    std::atomic<bool> stop{false};
    absl::Status status;
    std::thread stream([&] { status = streamer.Stream(from, stop); });
    if (kills < kKills) {
      absl::SleepFor(absl::Milliseconds(pause_ms(random)));
      f_.gateway("police-nl").Kill9();
      ++kills;
      stream.join();
      absl::Status restarted = f_.gateway("police-nl").Restart();
      ASSERT_TRUE(restarted.ok()) << restarted;
      // The next stream should start on a connected channel, not fail
      // at once while gRPC backs off from the dead gateway.
      ASSERT_TRUE(WaitFor([&] {
        v1::ListRequest probe;
        probe.set_page_size(1);
        return f_.ClientOf("police-nl").List(probe).ok();
      }, absl::Seconds(20)));
    } else {
      // No more kills: run to kMinItems acknowledged items, then stop.
      // Waits as long as the stream makes progress (a loaded machine is
      // slow, not wrong); 30 s without a new acknowledgement is a failure.
      bool enough = false;
      for (size_t before = 0;;) {
        enough = WaitFor([&] {
          return static_cast<int>(streamer.Acked().size()) >= kMinItems;
        }, absl::Seconds(30));
        const size_t now = streamer.Acked().size();
        if (enough || now == before) break;
        before = now;
      }
      stop = true;
      stream.join();
      ASSERT_TRUE(enough) << streamer.Acked().size() << " of " << kMinItems
                          << " items acknowledged after the last kill (none in the last 30 s); stream: "
                          << status << "; logs:\n"
                          << f_.Logs();
      if (!status.ok()) {
        // Unlikely (the gateway was not killed): say why and go round.
        ADD_FAILURE() << status;
      }
    }
  }
  EXPECT_EQ(kills, kKills);
  CheckOutcome(streamer, "ks-");
}

TEST_F(FederationKillTest, ReceiversKilledDuringAStreamLoseAndDuplicateNothing) {
  Streamer streamer(f_, "kr-");
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  // Kills alternate between the partners, at random moments while items
  // flow, each down for a random short time.
  std::thread killer([&] {
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> pause_ms(200, 800), down_ms(0, 300);
    const char* victims[] = {"customs-nl", "port-rtm"};
    for (int k = 0; k < kKills + 1; ++k) {
      absl::SleepFor(absl::Milliseconds(pause_ms(random)));
      GatewayProcess& victim = f_.gateway(victims[k % 2]);
      victim.Kill9();
      ++kills;
      absl::SleepFor(absl::Milliseconds(down_ms(random)));
      absl::Status restarted = victim.Restart();
      if (!restarted.ok()) ADD_FAILURE() << restarted;
    }
  });
  // The stream runs until the killer is done and enough items went in.
  // It waits as long as acknowledgements keep coming (a loaded machine is
  // slow, not wrong); 30 s without a new one ends it (and CheckOutcome
  // then fails on the count).
  std::thread stopper([&] {
    for (size_t before = 0;;) {
      const bool enough = WaitFor([&] {
        return kills > kKills &&
               static_cast<int>(streamer.Acked().size()) >= kMinItems;
      }, absl::Seconds(30));
      const size_t now = streamer.Acked().size();
      if (enough || now == before) break;
      before = now;
    }
    stop = true;
  });
  absl::Status status = streamer.Stream(0, stop);
  killer.join();
  stopper.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(kills, kKills + 1);
  // The client was answered for everything it sent.
  EXPECT_EQ(static_cast<int>(streamer.Acked().size()), streamer.Sent());
  CheckOutcome(streamer, "kr-");
}

}  // namespace
}  // namespace havengate::testing
