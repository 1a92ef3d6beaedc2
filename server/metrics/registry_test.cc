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
  // Labels by name, series by label values, families as registered.
  EXPECT_EQ(r.Expose(),
            "# HELP hg_calls_total Calls.\n"
            "# TYPE hg_calls_total counter\n"
            "hg_calls_total{code=\"OK\",method=\"List\"} 1\n"
            "hg_calls_total{code=\"OK\",method=\"Push\"} 3\n"
            "# HELP hg_depth Depth.\n"
            "# TYPE hg_depth gauge\n"
            "hg_depth 3.5\n");
}

TEST(RegistryTest, FamiliesKeepRegistrationOrderAcrossTypes) {
  Registry r;
  r.AddGauge("hg_b", "B.").Get().Set(1);
  r.AddHistogram("hg_a", "A.", {}, {1}).Get().Observe(0.5);
  r.AddCounter("hg_c_total", "C.").Get().Increment();
  const std::string text = r.Expose();
  EXPECT_LT(text.find("# TYPE hg_b gauge"), text.find("# TYPE hg_a histogram"));
  EXPECT_LT(text.find("# TYPE hg_a histogram"), text.find("# TYPE hg_c_total counter"));
}

TEST(RegistryTest, AnnouncesFamiliesWithoutSeries) {
  Registry r;
  r.AddHistogram("hg_latency_seconds", "Latency.", {"partner"}, {1});
  r.AddCounter("hg_none_total", "None yet.", {"partner"});
  auto parsed = ParseExposition(r.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->types.at("hg_latency_seconds"), "histogram");
  EXPECT_EQ(parsed->types.at("hg_none_total"), "counter");
  EXPECT_EQ(parsed->help.at("hg_none_total"), "None yet.");
  EXPECT_TRUE(parsed->samples.empty());
}

TEST(RegistryTest, EscapesLabelValues) {
  Registry r;
  r.AddCounter("hg_odd_total", "Odd.", {"v"})
      .WithLabels({"a\"quote\" a\\back a\nnewline"})
      .Increment();
  std::string text = r.Expose();
  EXPECT_THAT(text, HasSubstr(
                        "hg_odd_total{v=\"a\\\"quote\\\" a\\\\back a\\nnewline\"} 1\n"));
  // And it reads back to the original value.
  auto parsed = ParseExposition(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Find("hg_odd_total", {{"v", "a\"quote\" a\\back a\nnewline"}}),
            1.0);
  EXPECT_EQ(parsed->help.at("hg_odd_total"), "Odd.");
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
  auto parsed = ParseExposition(r.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->types.at("hg_latency_seconds"), "histogram");
  auto bucket = [&](const std::string& le) {
    return parsed->Find("hg_latency_seconds_bucket", {{"partner", "customs-nl"}, {"le", le}});
  };
  EXPECT_EQ(bucket("0.1"), 2);
  EXPECT_EQ(bucket("1"), 3);
  EXPECT_EQ(bucket("2.5"), 3);
  EXPECT_EQ(bucket("+Inf"), 4);
  EXPECT_EQ(parsed->Find("hg_latency_seconds_sum", {{"partner", "customs-nl"}}), 30.85);
  EXPECT_EQ(parsed->Find("hg_latency_seconds_count", {{"partner", "customs-nl"}}), 4);
}

TEST(RegistryTest, FormatsValuesAsPrometheusReadsThem) {
  Registry r;
  auto& g = r.AddGauge("hg_v", "V.", {"v"});
  const std::vector<std::pair<std::string, double>> values = {
      {"zero", 0}, {"int", 42}, {"negative", -7}, {"tenth", 0.1},
      {"third", 1.0 / 3}, {"big", 1e20}, {"inf", INFINITY}, {"minus_inf", -INFINITY},
      {"time", 1733554800}};
  for (const auto& [label, value] : values) g.WithLabels({label}).Set(value);
  g.WithLabels({"nan"}).Set(NAN);
  const std::string text = r.Expose();
  EXPECT_THAT(text, HasSubstr("hg_v{v=\"int\"} 42\n"));
  EXPECT_THAT(text, HasSubstr("hg_v{v=\"time\"} 1733554800\n"));
  EXPECT_THAT(text, HasSubstr("hg_v{v=\"inf\"} +Inf\n"));
  auto parsed = ParseExposition(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (const auto& [label, value] : values) {
    EXPECT_EQ(parsed->Find("hg_v", {{"v", label}}), value) << label;
  }
  ASSERT_TRUE(parsed->Find("hg_v", {{"v", "nan"}}).has_value());
  EXPECT_TRUE(std::isnan(*parsed->Find("hg_v", {{"v", "nan"}})));
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
  // Past the cap, new label sets go to a detached series: counted, never
  // exposed; the first ones keep counting.
  c.WithLabels({"0"}).Increment();
  auto parsed = ParseExposition(r.Expose());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->samples.size(), kMaxSeriesPerFamily);
  EXPECT_EQ(parsed->Find("hg_many_total", {{"id", "0"}}), 2);
  EXPECT_FALSE(parsed->Find("hg_many_total", {{"id", std::to_string(kMaxSeriesPerFamily)}})
                   .has_value());
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
  EXPECT_DEATH(Registry().AddCounter("c", "two\nlines"), "help text must be one line");
  EXPECT_DEATH(Registry().AddHistogram("h", "x", {}, {2, 1}), "finite and increasing");
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
