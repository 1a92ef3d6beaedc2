#include "server/metrics/registry.h"

#include <cmath>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/exposition_parser.h"

namespace havengate::metrics {
namespace {

using ::testing::HasSubstr;

TEST(RegistryTest, ExposesCountersAndGaugesWithHelpTypeAndSortedSeries) {
  Registry r;
  auto& calls = r.AddCounter("hg_calls_total", "Calls.", {"method", "code"});
  calls.WithLabels({"Push", "OK"}).Increment();
  calls.WithLabels({"Push", "OK"}).Increment(2);
  calls.WithLabels({"List", "OK"}).Increment();
  calls.WithLabels({"List", "OK"}).Increment(-5);  // ignored
  r.AddGauge("hg_depth", "Depth.").Get().Set(3.5);
  EXPECT_EQ(r.Expose(),
            "# HELP hg_calls_total Calls.\n"
            "# TYPE hg_calls_total counter\n"
            "hg_calls_total{method=\"List\",code=\"OK\"} 1\n"
            "hg_calls_total{method=\"Push\",code=\"OK\"} 3\n"
            "# HELP hg_depth Depth.\n"
            "# TYPE hg_depth gauge\n"
            "hg_depth 3.5\n");
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.AddCounter("hg_odd_total", "Back\\slash and\nnewline.", {"v"})
      .WithLabels({"a\"quote\" a\\back a\nnewline"})
      .Increment();
  std::string text = r.Expose();
  EXPECT_THAT(text, HasSubstr("# HELP hg_odd_total Back\\\\slash and\\nnewline.\n"));
  EXPECT_THAT(text, HasSubstr(
                        "hg_odd_total{v=\"a\\\"quote\\\" a\\\\back a\\nnewline\"} 1\n"));
  // And it reads back to the original value.
  auto parsed = ParseExposition(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Find("hg_odd_total", {{"v", "a\"quote\" a\\back a\nnewline"}}),
            1.0);
  EXPECT_EQ(parsed->help.at("hg_odd_total"), "Back\\slash and\nnewline.");
}

TEST(RegistryTest, HistogramHasCumulativeBucketsSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("hg_latency_seconds", "Latency.", {"partner"},
                           {0.1, 1, 2.5});
  Histogram& customs = h.WithLabels({"customs-nl"});
  customs.Observe(0.05);
  customs.Observe(0.1);  // le is inclusive
  customs.Observe(0.7);
  customs.Observe(30);
  EXPECT_EQ(r.Expose(),
            "# HELP hg_latency_seconds Latency.\n"
            "# TYPE hg_latency_seconds histogram\n"
            "hg_latency_seconds_bucket{partner=\"customs-nl\",le=\"0.1\"} 2\n"
            "hg_latency_seconds_bucket{partner=\"customs-nl\",le=\"1\"} 3\n"
            "hg_latency_seconds_bucket{partner=\"customs-nl\",le=\"2.5\"} 3\n"
            "hg_latency_seconds_bucket{partner=\"customs-nl\",le=\"+Inf\"} 4\n"
            "hg_latency_seconds_sum{partner=\"customs-nl\"} 30.85\n"
            "hg_latency_seconds_count{partner=\"customs-nl\"} 4\n");
  EXPECT_TRUE(ParseExposition(r.Expose()).ok());
}

TEST(RegistryTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-7), "-7");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
}

TEST(RegistryTest, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& c = r.AddCounter("hg_total", "Total.", {"t"});
  auto& h = r.AddHistogram("hg_h", "H.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.WithLabels({t % 2 == 0 ? "even" : "odd"}).Increment();
        h.Get().Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto parsed = ParseExposition(r.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Sum("hg_total"), 80000);
  EXPECT_EQ(parsed->Find("hg_h_count"), 80000);
  EXPECT_EQ(parsed->Find("hg_h_bucket", {{"le", "1"}}), 80000);
}

TEST(RegistryTest, CapsSeriesPerFamily) {
  Registry r;
  auto& c = r.AddCounter("hg_many_total", "Many.", {"id"});
  for (size_t i = 0; i < kMaxSeriesPerFamily + 50; ++i) {
    c.WithLabels({std::to_string(i)}).Increment();
  }
  auto parsed = ParseExposition(r.Expose());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->samples.size(), kMaxSeriesPerFamily);
}

TEST(RegistryDeathTest, InvalidNamesAndLabelCountsAreBugs) {
  EXPECT_DEATH(Registry().AddCounter("bad name", "x"), "invalid metric name");
  EXPECT_DEATH(Registry().AddCounter("ok", "x", {"__reserved"}),
               "invalid label name");
  EXPECT_DEATH(Registry().AddHistogram("h", "x", {"le"}, {1}),
               "invalid label name");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("c", "x", {"a"}).WithLabels({"1", "2"});
      },
      "2 label values for 1 labels");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("c", "x");
        r.AddGauge("c", "x");
      },
      "registered twice");
}

TEST(ExpositionParserTest, RefusesMalformedText) {
  EXPECT_FALSE(ParseExposition("x 1\n").ok()) << "sample before # TYPE";
  EXPECT_FALSE(ParseExposition("# TYPE x counter\nx{a=\"1} 1\n").ok());
  EXPECT_FALSE(ParseExposition("# TYPE x counter\nx{a=\"\\t\"} 1\n").ok());
  EXPECT_FALSE(ParseExposition("# TYPE x counter\nx one\n").ok());
  EXPECT_FALSE(ParseExposition("# TYPE x counter\nx 1").ok());
  EXPECT_FALSE(ParseExposition("# TYPE h histogram\n"
                               "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                               "h_sum 1\nh_count 1\n")
                   .ok())
      << "buckets not cumulative";
  EXPECT_FALSE(ParseExposition("# TYPE h histogram\n"
                               "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n")
                   .ok())
      << "+Inf differs from _count";
  auto ok = ParseExposition("# TYPE x gauge\nx{a=\"1\",b=\"2\"} -Inf 1700000000\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->Find("x", {{"a", "1"}, {"b", "2"}}), -INFINITY);
}

}  // namespace
}  // namespace havengate::metrics
