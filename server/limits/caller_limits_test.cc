#include "server/limits/caller_limits.h"

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"

namespace havengate::limits {
namespace {

using ::testing::HasSubstr;

constexpr char kAnna[] = "spiffe://police.nl.example/client/anna";
constexpr char kBob[] = "spiffe://police.nl.example/client/bob";

class CallerLimitsTest : public ::testing::Test {
 protected:
  CallerLimitsOptions Options() {
    CallerLimitsOptions options;
    options.now = [this] { return now_; };
    return options;
  }
  void Advance(absl::Duration d) { now_ += d; }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(CallerLimitsTest, ItemBurstThenSustainedRateThenRefusalWithRetryTime) {
  CallerLimitsOptions options = Options();
  options.items_per_second = 2;
  options.item_burst = 5;
  CallerLimits limits(options);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limits.TakeItem(kAnna).ok()) << i;
  absl::Duration retry;
  absl::Status refused = limits.TakeItem(kAnna, &retry);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr(kAnna));
  EXPECT_THAT(refused.message(), HasSubstr("2 items per second (burst 5"));
  EXPECT_THAT(refused.message(), HasSubstr("limits.per_caller.items_per_second"));
  EXPECT_THAT(refused.message(), HasSubstr("retry in 0.5 s"));
  EXPECT_EQ(retry, absl::Milliseconds(500));
  // Half a second earns one token, not more.
  Advance(absl::Milliseconds(500));
  EXPECT_TRUE(limits.TakeItem(kAnna).ok());
  EXPECT_FALSE(limits.TakeItem(kAnna).ok());
  // A long pause refills up to the burst only.
  Advance(absl::Hours(1));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limits.TakeItem(kAnna).ok()) << i;
  EXPECT_FALSE(limits.TakeItem(kAnna).ok());
}

TEST_F(CallerLimitsTest, EachCallerHasItsOwnBuckets) {
  CallerLimitsOptions options = Options();
  options.items_per_second = 1;
  options.item_burst = 1;
  options.calls_per_second = 1;
  options.call_burst = 1;
  CallerLimits limits(options);
  EXPECT_TRUE(limits.TakeItem(kAnna).ok());
  EXPECT_FALSE(limits.TakeItem(kAnna).ok());
  EXPECT_TRUE(limits.TakeItem(kBob).ok());
  { EXPECT_TRUE(limits.StartCall(kAnna).ok()); }
  EXPECT_FALSE(limits.StartCall(kAnna).ok());
  EXPECT_TRUE(limits.StartCall(kBob).ok());
}

TEST_F(CallerLimitsTest, CallRateRefusesWithTheLimitNamed) {
  CallerLimitsOptions options = Options();
  options.calls_per_second = 10;
  options.call_burst = 3;
  CallerLimits limits(options);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limits.StartCall(kAnna).ok()) << i;
  absl::StatusOr<CallerLimits::CallSlot> refused = limits.StartCall(kAnna);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("10 calls per second (burst 3"));
  EXPECT_THAT(refused.status().message(),
              HasSubstr("limits.per_caller.calls_per_second"));
  Advance(absl::Milliseconds(100));
  EXPECT_TRUE(limits.StartCall(kAnna).ok());
}

TEST_F(CallerLimitsTest, OpenCallsAreCappedAndFreedWhenTheSlotGoes) {
  CallerLimitsOptions options = Options();
  options.max_concurrent_calls = 2;
  CallerLimits limits(options);
  std::optional<CallerLimits::CallSlot> first, second;
  {
    auto a = limits.StartCall(kAnna);
    auto b = limits.StartCall(kAnna);
    ASSERT_TRUE(a.ok() && b.ok());
    first.emplace(std::move(*a));
    second.emplace(std::move(*b));
  }
  absl::StatusOr<CallerLimits::CallSlot> third = limits.StartCall(kAnna);
  ASSERT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("has 2 calls open"));
  EXPECT_THAT(third.status().message(),
              HasSubstr("limits.per_caller.max_concurrent_calls"));
  EXPECT_TRUE(limits.StartCall(kBob).ok());  // others are not affected
  // A moved slot is released once, by its new owner.
  CallerLimits::CallSlot moved = std::move(*first);
  first.reset();
  EXPECT_FALSE(limits.StartCall(kAnna).ok());
  { CallerLimits::CallSlot gone = std::move(moved); }
  auto again = limits.StartCall(kAnna);
  EXPECT_TRUE(again.ok());
  // A refused call took no call token.
  second.reset();
}

TEST_F(CallerLimitsTest, RefusedCallTakesNoToken) {
  CallerLimitsOptions options = Options();
  options.calls_per_second = 1;
  options.call_burst = 2;
  options.max_concurrent_calls = 1;
  CallerLimits limits(options);
  auto open = limits.StartCall(kAnna);  // token 1 of 2
  ASSERT_TRUE(open.ok());
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limits.StartCall(kAnna).ok());
  *open = CallerLimits::CallSlot();
  EXPECT_TRUE(limits.StartCall(kAnna).ok());  // token 2 of 2
}

TEST_F(CallerLimitsTest, ZeroTurnsLimitsOff) {
  CallerLimitsOptions options = Options();
  options.calls_per_second = 0;
  options.items_per_second = 0;
  options.max_concurrent_calls = 0;
  CallerLimits limits(options);
  std::vector<CallerLimits::CallSlot> open;
  for (int i = 0; i < 5000; ++i) {
    auto slot = limits.StartCall(kAnna);
    ASSERT_TRUE(slot.ok()) << i;
    open.push_back(std::move(*slot));
    ASSERT_TRUE(limits.TakeItem(kAnna).ok()) << i;
  }
}

TEST_F(CallerLimitsTest, RefusalsAreReportedOncePerInterval) {
  CallerLimits limits(Options());
  EXPECT_EQ(limits.NoteRefusal(kAnna), 1);
  EXPECT_EQ(limits.NoteRefusal(kAnna), 0);
  EXPECT_EQ(limits.NoteRefusal(kAnna), 0);
  EXPECT_EQ(limits.NoteRefusal(kBob), 1);
  Advance(CallerLimits::kReportInterval);
  EXPECT_EQ(limits.NoteRefusal(kAnna), 3);  // two held back, and this one
  EXPECT_EQ(limits.NoteRefusal(kAnna), 0);
}

TEST_F(CallerLimitsTest, IdleCallersAreForgottenAsTheTableGrows) {
  CallerLimitsOptions options = Options();
  options.items_per_second = 1;
  options.item_burst = 1;
  CallerLimits limits(options);
  auto busy = limits.StartCall(kAnna);
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE(limits.TakeItem(kBob).ok());  // bob's bucket is empty
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(limits.TakeItem(absl::StrCat(kAnna, "-", i)).ok());
  }
  EXPECT_GT(limits.TrackedCallersForTesting(), 1024u);
  Advance(absl::Seconds(2));  // every bucket full again
  ASSERT_TRUE(limits.TakeItem(kBob).ok());  // bob's empty again
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(limits.TakeItem(absl::StrCat(kBob, "-", i)).ok());
  }
  // Swept at least once since the first 3000 were idle; anna (open call)
  // and bob (empty bucket) kept their state.
  EXPECT_LT(limits.TrackedCallersForTesting(), 6000u);
  EXPECT_FALSE(limits.TakeItem(kBob).ok());
  *busy = CallerLimits::CallSlot();
}

TEST_F(CallerLimitsTest, ConcurrentCallersNeverExceedTheirLimits) {
  CallerLimitsOptions options;  // the real clock
  options.items_per_second = 1;
  options.item_burst = 100;
  options.max_concurrent_calls = 4;
  options.calls_per_second = 0;
  CallerLimits limits(options);
  std::atomic<int> items{0}, open{0}, most_open{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (limits.TakeItem(kAnna).ok()) ++items;
        auto slot = limits.StartCall(kAnna);
        if (slot.ok()) {
          int now_open = ++open;
          int seen = most_open.load();
          while (now_open > seen && !most_open.compare_exchange_weak(seen, now_open)) {
          }
          --open;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // 100 from the burst, plus at most what the test's run time earned.
  EXPECT_GE(items.load(), 100);
  EXPECT_LE(items.load(), 110);
  EXPECT_LE(most_open.load(), 4);
}

}  // namespace
}  // namespace havengate::limits

namespace havengate::limits {
namespace {

// A configuration reload: new rates apply to the next call and item of
// every caller, with the same clock.
TEST(CallerLimitsReloadTest, NewLimitsApplyToTheNextCallAndItem) {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  CallerLimitsOptions options;
  options.now = [&now] { return now; };
  options.items_per_second = 0;  // off
  options.max_concurrent_calls = 0;
  CallerLimits limits(options);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(limits.TakeItem("anna").ok()) << i;
  CallerLimitsOptions lower;
  lower.items_per_second = 1;
  lower.item_burst = 1;
  lower.max_concurrent_calls = 1;
  limits.SetLimits(lower);
  EXPECT_TRUE(limits.TakeItem("anna").ok());
  absl::Status refused = limits.TakeItem("anna");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("1 items per second"));
  now += absl::Seconds(1);  // the test's clock, not the default one
  EXPECT_TRUE(limits.TakeItem("anna").ok());
  auto slot = limits.StartCall("anna");
  ASSERT_TRUE(slot.ok());
  EXPECT_EQ(limits.StartCall("anna").status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace havengate::limits
