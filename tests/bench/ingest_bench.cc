// ingest_bench: how fast one havengate node accepts items, against the
// ceiling of a bare mutual-TLS gRPC server on the same machine, in the same
// run. See BENCHMARK.md beside this file for what is measured and how to
// read the figures.
//
//   ingest_bench [--rounds 5] [--items 20000] [--window 1024]
//                [--rate 1000] [--latency-seconds 5] [--json-out FILE]
//                [--no-client-batches]
//                [--item deploy/samples/pin_code_fraud_rtm.json]
//   ingest_bench --quick     # smoke run: small N, one round
//
// Everything runs on 127.0.0.1 with real certificates from a temporary CA:
// a real `havengate` process with its durable SQLite store in a temporary
// directory, and the bare server (this binary re-executed with the hidden
// --serve-bare flag).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proto/item_validation.h"
#include "proto/status_macros.h"
#include "tests/bench/bare_server.h"
#include "tests/bench/bench_alert.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/load.h"
#include "tests/testing/harness.h"

namespace havengate::bench {
namespace {

struct Flags : CommonFlags {
  Flags() : CommonFlags(20'000) {}
};

// One round of measurement 1 and 2.
struct Round {
  // `gateway`: the client library with batches (unless
  // --no-client-batches); `unbatched`: one item per message, the baseline
  // of the batches, in the same round (first in every other round).
  StreamResult bare, gateway, unbatched;
  // Server CPU time (user + system) per streamed item.
  double bare_cpu_us = 0, gateway_cpu_us = 0, unbatched_cpu_us = 0;
  LatencyResult bare_push, gateway_push;
};

double RoundRatio(const Round& r) {
  return r.gateway.items_per_second / r.bare.items_per_second;
}
double BatchRatio(const Round& r) {
  return r.gateway.items_per_second / r.unbatched.items_per_second;
}

void PrintReport(const Flags& flags, size_t item_bytes,
                 const std::vector<Round>& rounds, const std::string& load,
                 std::ostream& out) {
  out << absl::StrFormat(
      "\n1. PushStream throughput: one client, one stream, %d items of %d "
      "bytes, window %d\n",
      flags.items, item_bytes, flags.window);
  out << absl::StrFormat("%-7s %14s %16s %7s %16s %16s\n", "round",
                         "bare items/s", "gateway items/s", "ratio",
                         "bare cpu us/it", "gw cpu us/it");
  for (size_t i = 0; i < rounds.size(); ++i) {
    const Round& r = rounds[i];
    out << absl::StrFormat("%-7d %14.0f %16.0f %6.1f%% %16.1f %16.1f\n", i + 1,
                           r.bare.items_per_second, r.gateway.items_per_second,
                           100 * RoundRatio(r), r.bare_cpu_us,
                           r.gateway_cpu_us);
  }
  double bare = MedianOf(rounds, [](const Round& r) {
    return r.bare.items_per_second;
  });
  double gateway = MedianOf(rounds, [](const Round& r) {
    return r.gateway.items_per_second;
  });
  out << absl::StrFormat(
      "%-7s %14.0f %16.0f %6.1f%% %16.1f %16.1f\n", "median", bare, gateway,
      100 * gateway / bare,
      MedianOf(rounds, [](const Round& r) { return r.bare_cpu_us; }),
      MedianOf(rounds, [](const Round& r) { return r.gateway_cpu_us; }));
  out << absl::StrFormat(
      "(ratio column of the median row: median gateway / median bare; "
      "median of the per-round ratios: %.1f%%)\n",
      100 * MedianOf(rounds, RoundRatio));

  if (flags.client_batches) {
    out << absl::StrFormat(
        "\n1b. The client's batches: the same stream to the gateway with "
        "batches (as above) and with one item per message, in the same round\n");
    out << absl::StrFormat("%-7s %12s %12s %8s %13s %13s %12s\n", "round",
                           "batch it/s", "single it/s", "ratio",
                           "batch cpu us", "single cpu us", "items/msg");
    auto per_message = [](const Round& r) {
      return r.gateway.messages > 0
                 ? static_cast<double>(r.gateway.items) / r.gateway.messages
                 : 0.0;
    };
    for (size_t i = 0; i < rounds.size(); ++i) {
      const Round& r = rounds[i];
      out << absl::StrFormat("%-7d %12.0f %12.0f %7.1f%% %13.1f %13.1f %12.1f\n",
                             i + 1, r.gateway.items_per_second,
                             r.unbatched.items_per_second, 100 * BatchRatio(r),
                             r.gateway_cpu_us, r.unbatched_cpu_us, per_message(r));
    }
    const double batch_cpu = MedianOf(rounds, [](const Round& r) { return r.gateway_cpu_us; });
    const double single_cpu =
        MedianOf(rounds, [](const Round& r) { return r.unbatched_cpu_us; });
    out << absl::StrFormat(
        "%-7s %12.0f %12.0f %7.1f%% %13.1f %13.1f %12.1f\n", "median", gateway,
        MedianOf(rounds, [](const Round& r) { return r.unbatched.items_per_second; }),
        100 * MedianOf(rounds, BatchRatio), batch_cpu, single_cpu,
        MedianOf(rounds, per_message));
    out << absl::StrFormat(
        "(ratio: median of the per-round ratios; gateway CPU per item with "
        "batches %+.1f%%)\n",
        single_cpu > 0 ? 100 * (batch_cpu / single_cpu - 1) : 0.0);
  }

  out << absl::StrFormat(
      "\n2. Push latency: unary Push, open loop at %.0f items/s for %.1f s "
      "(completion - scheduled send), ms\n",
      flags.rate, flags.latency_seconds);
  out << absl::StrFormat("%-7s %10s %10s %10s   %10s %10s %10s\n", "round",
                         "gw p50", "gw p99", "gw max", "bare p50", "bare p99",
                         "bare max");
  for (size_t i = 0; i < rounds.size(); ++i) {
    const Round& r = rounds[i];
    out << absl::StrFormat(
        "%-7d %10.2f %10.2f %10.2f   %10.2f %10.2f %10.2f\n", i + 1,
        Ms(r.gateway_push.p50), Ms(r.gateway_push.p99), Ms(r.gateway_push.max),
        Ms(r.bare_push.p50), Ms(r.bare_push.p99), Ms(r.bare_push.max));
  }
  double p99 = MedianOf(rounds, [](const Round& r) {
    return Ms(r.gateway_push.p99);
  });
  out << absl::StrFormat(
      "%-7s %10.2f %10.2f %10.2f   %10.2f %10.2f %10.2f\n", "median",
      MedianOf(rounds, [](const Round& r) { return Ms(r.gateway_push.p50); }),
      p99,
      MedianOf(rounds, [](const Round& r) { return Ms(r.gateway_push.max); }),
      MedianOf(rounds, [](const Round& r) { return Ms(r.bare_push.p50); }),
      MedianOf(rounds, [](const Round& r) { return Ms(r.bare_push.p99); }),
      MedianOf(rounds, [](const Round& r) { return Ms(r.bare_push.max); }));

  out << absl::StrFormat(
      "\nAims (informational): gateway/bare %.1f%% (aim >= 40%%): %s; "
      "p99 Push latency %.2f ms (aim <= 5 ms): %s\n",
      100 * gateway / bare, gateway >= 0.4 * bare ? "met" : "NOT met", p99,
      p99 <= 5 ? "met" : "NOT met");
  out << "Load average (1/5/15 min) at start and end: " << load << "\n";
}

std::string LatencyJson(const LatencyResult& l) {
  return absl::StrFormat(
      R"({"calls": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f})",
      l.calls, Ms(l.p50), Ms(l.p99), Ms(l.max));
}

std::string Json(const Flags& flags, size_t item_bytes,
                 const std::vector<Round>& rounds, const std::string& load) {
  std::vector<std::string> per_round;
  for (const Round& r : rounds) {
    per_round.push_back(absl::StrFormat(
        R"(    {"bare_items_per_s": %.1f, "gateway_items_per_s": %.1f, )"
        R"("ratio": %.4f, "bare_cpu_us_per_item": %.2f, )"
        R"("gateway_cpu_us_per_item": %.2f, )"
        R"("unbatched_items_per_s": %.1f, "unbatched_cpu_us_per_item": %.2f, )"
        R"("gateway_push": %s, "bare_push": %s})",
        r.bare.items_per_second, r.gateway.items_per_second,
        RoundRatio(r), r.bare_cpu_us,
        r.gateway_cpu_us, r.unbatched.items_per_second, r.unbatched_cpu_us,
        LatencyJson(r.gateway_push),
        LatencyJson(r.bare_push)));
  }
  double bare = MedianOf(rounds, [](const Round& r) {
    return r.bare.items_per_second;
  });
  double gateway = MedianOf(rounds, [](const Round& r) {
    return r.gateway.items_per_second;
  });
  return absl::StrFormat(
      "{\n"
      R"(  "config": {"rounds": %d, "items": %d, "item_bytes": %d, )"
      R"("window": %d, "push_rate_per_s": %.0f, "push_seconds": %.1f, )"
      R"("load_average": "%s"},)"
      "\n  \"rounds\": [\n%s\n  ],\n"
      R"(  "median": {"bare_items_per_s": %.1f, "gateway_items_per_s": %.1f, )"
      R"("ratio": %.4f, "ratio_median_of_rounds": %.4f, )"
      R"("gateway_push_p50_ms": %.3f, )"
      R"("gateway_push_p99_ms": %.3f, "gateway_push_max_ms": %.3f, )"
      R"("bare_push_p99_ms": %.3f})"
      "\n}\n",
      flags.rounds, flags.items, item_bytes, flags.window, flags.rate,
      flags.latency_seconds, load, absl::StrJoin(per_round, ",\n"), bare,
      gateway, gateway / bare, MedianOf(rounds, RoundRatio),
      MedianOf(rounds, [](const Round& r) { return Ms(r.gateway_push.p50); }),
      MedianOf(rounds, [](const Round& r) { return Ms(r.gateway_push.p99); }),
      MedianOf(rounds, [](const Round& r) { return Ms(r.gateway_push.max); }),
      MedianOf(rounds, [](const Round& r) { return Ms(r.bare_push.p99); }));
}

absl::Status Run(const Flags& flags) {
  HG_ASSIGN_OR_RETURN(const v1::Item item, LoadBenchItem(flags.item_file));
  HG_RETURN_IF_ERROR(ValidateItem(item));
  const size_t item_bytes = item.ByteSizeLong();
  std::string load = LoadAverage();

  testing::TempDir dir;
  HG_ASSIGN_OR_RETURN(testing::TestOrg org,
                      testing::CreateTestOrg(dir.path(), "bench-org",
                                             "bench.example"));
  testing::GatewaySpec spec;
  spec.org = &org;
  // What the gateway can take, not what one caller is allowed: the
  // per-caller limits (server/limits) would pace the streams and refuse
  // Push calls beyond their defaults.
  spec.extra_yaml =
      "limits:\n  per_caller: {calls_per_second: 0, items_per_second: 0,"
      " max_concurrent_calls: 0}\n";
  HG_ASSIGN_OR_RETURN(auto gateway, testing::GatewayProcess::Start(spec));
  BareServerOptions bare_options;
  bare_options.certificate = org.gateway_cert;  // same identity, same CA
  bare_options.private_key = org.gateway_key;
  bare_options.ca = org.ca_file;
  bare_options.port_file = dir.path() + "/bare.port";
  HG_ASSIGN_OR_RETURN(auto bare,
                      BareServerProcess::Start(
                          SelfPath(), bare_options));
  const pid_t gateway_pid = gateway->pid();
  std::cout << "havengate on 127.0.0.1:" << gateway->port() << " (store "
            << gateway->store_file() << "), bare server on 127.0.0.1:"
            << bare->port() << "\n";

  HG_ASSIGN_OR_RETURN(auto gateway_client,
                      testing::ConnectClient(org, gateway->port()));
  HG_ASSIGN_OR_RETURN(auto bare_client,
                      testing::ConnectClient(org, bare->port()));

  // Warm-up: handshakes, connection windows, first pages of the store.
  const int warm = std::min(flags.items, 2000);
  HG_RETURN_IF_ERROR(StreamWithStub(bare_client->channel(), item, "warm",
                                    warm, flags.window)
                         .status());
  HG_RETURN_IF_ERROR(StreamWithClient(*gateway_client, item, "warm", warm,
                                      flags.window, flags.client_batches)
                         .status());

  std::vector<Round> rounds;
  for (int i = 0; i < flags.rounds; ++i) {
    Round r;
    std::string prefix = absl::StrCat("r", i + 1);
    std::cout << "round " << i + 1 << "/" << flags.rounds << ": streams"
              << std::flush;
    double cpu = ProcessCpuSeconds(bare->pid());
    HG_ASSIGN_OR_RETURN(r.bare,
                        StreamWithStub(bare_client->channel(), item, prefix,
                                       flags.items, flags.window));
    r.bare_cpu_us = (ProcessCpuSeconds(bare->pid()) - cpu) * 1e6 / flags.items;
    // With the client's batches and, as their baseline, without; which
    // goes first alternates between rounds.
    for (int k = 0; k < 2; ++k) {
      const bool batches = (k == 0) == (i % 2 == 0);
      if (batches && !flags.client_batches) continue;
      StreamResult& stream = batches ? r.gateway : r.unbatched;
      double& cpu_us = batches ? r.gateway_cpu_us : r.unbatched_cpu_us;
      cpu = ProcessCpuSeconds(gateway_pid);
      HG_ASSIGN_OR_RETURN(stream, StreamWithClient(*gateway_client, item,
                                                   absl::StrCat(prefix, batches ? "b" : "s"),
                                                   flags.items, flags.window, batches));
      cpu_us = (ProcessCpuSeconds(gateway_pid) - cpu) * 1e6 / flags.items;
    }
    if (!flags.client_batches) {
      r.gateway = r.unbatched;
      r.gateway_cpu_us = r.unbatched_cpu_us;
    }
    std::cout << ", push latency" << std::flush;
    const absl::Duration latency_time = absl::Seconds(flags.latency_seconds);
    HG_ASSIGN_OR_RETURN(r.bare_push,
                        OpenLoopPush(bare_client->channel(), item,
                                     prefix + "-push", flags.rate,
                                     latency_time));
    HG_ASSIGN_OR_RETURN(r.gateway_push,
                        OpenLoopPush(gateway_client->channel(), item,
                                     prefix + "-push", flags.rate,
                                     latency_time));
    std::cout << absl::StrFormat(
        ": bare %.0f/s, gateway %.0f/s (one item per message %.0f/s), "
        "gateway p99 %.2f ms\n",
        r.bare.items_per_second, r.gateway.items_per_second,
        r.unbatched.items_per_second,
        Ms(r.gateway_push.p99));
    rounds.push_back(r);
  }

  absl::StrAppend(&load, " / ", LoadAverage());
  PrintReport(flags, item_bytes, rounds, load, std::cout);
  if (!flags.json_out.empty()) {
    std::ofstream out(flags.json_out, std::ios::trunc);
    out << Json(flags, item_bytes, rounds, load);
    if (!out) {
      return absl::UnavailableError(
          absl::StrCat("cannot write ", flags.json_out));
    }
  }
  // The client hangs up first: the gateway's shutdown waits for every
  // connection to answer its GOAWAY, and an idle client channel notices
  // only at gRPC's next backup poll (5 s).
  gateway_client.reset();
  absl::StatusOr<int> exit = gateway->Terminate();
  if (!exit.ok() || *exit != 0) {
    return absl::InternalError(absl::StrCat(
        "havengate did not stop cleanly; its log:\n", gateway->ReadLog()));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace havengate::bench

int main(int argc, char** argv) {
  namespace bench = havengate::bench;
  // The bare server's own mode (see bare_server.h); not for users.
  if (std::optional<int> exit = bench::RunBareServerIfAsked(argc, argv)) {
    return *exit;
  }
  CLI::App app{
      "ingest_bench: items/s one havengate node accepts from one PushStream "
      "client (durable store), against a bare mutual-TLS gRPC server in the "
      "same run; and Push latency at a steady rate."};
  bench::Flags flags;
  flags.AddTo(app, "Push this item (proto3 JSON, e.g. deploy/samples/*.json) "
                 "instead of the built-in 40-field alert");
  return bench::ParseAndRun(
      app, argc, argv, "ingest_bench", [&] { flags.ApplyQuick(); },
      [&] { return bench::Run(flags); });
}
