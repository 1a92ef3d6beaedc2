// ha_bench: ingest of one organisation's gateway on each store, in the same
// run and rounds (issue 13): the bare mutual-TLS stream (the ceiling), one
// node on SQLite (the baseline), one node on PostgreSQL, and two replicas
// on one PostgreSQL database fed by two clients at once. PostgreSQL is a
// real server the benchmark starts (tests/postgres), on the same machine.
//
//   ha_bench                 # 3 rounds of 5,000 items per stream
//   ha_bench --quick         # smoke run: 500 items, one round
//
// Prints items/s per round and the medians with their ratios to the SQLite
// node.
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/status_macros.h"
#include "tests/bench/bare_server.h"
#include "tests/bench/bench_alert.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/load.h"
#include "tests/postgres/postgres_server.h"
#include "tests/testing/harness.h"

namespace havengate::bench {
namespace {

struct Flags : CommonFlags {
  Flags() : CommonFlags(5'000) { rounds = 3; }
};

struct Round {
  double bare = 0, sqlite = 0, postgres = 0, replicas = 0;
};

constexpr char kUnlimited[] =
    "limits:\n  per_caller: {calls_per_second: 0, items_per_second: 0,"
    " max_concurrent_calls: 0}\n";

// Two clients, one per replica, streaming at once: items/s over both.
absl::StatusOr<double> StreamBoth(client::Client& a, client::Client& b,
                                  const v1::Item& item, const std::string& prefix,
                                  int items, int window, bool batches) {
  absl::StatusOr<StreamResult> ra, rb;
  std::thread other([&] {
    rb = StreamWithClient(b, item, prefix + "b", items, window, batches);
  });
  ra = StreamWithClient(a, item, prefix + "a", items, window, batches);
  other.join();
  HG_RETURN_IF_ERROR(ra.status());
  HG_RETURN_IF_ERROR(rb.status());
  const Clock::time_point start = std::min(ra->started, rb->started);
  const Clock::time_point end = std::max(ra->finished, rb->finished);
  return 2.0 * items / absl::ToDoubleSeconds(Since(start, end));
}

absl::Status Run(const Flags& flags) {
  HG_ASSIGN_OR_RETURN(const v1::Item item, LoadBenchItem(flags.item_file));
  std::string load = LoadAverage();
  HG_ASSIGN_OR_RETURN(std::unique_ptr<testing::PostgresServer> db,
                      testing::PostgresServer::Start());
  HG_RETURN_IF_ERROR(db->CreateDatabase("node"));
  HG_RETURN_IF_ERROR(db->CreateDatabase("replicas"));

  testing::TempDir dir;
  HG_ASSIGN_OR_RETURN(testing::TestOrg org,
                      testing::CreateTestOrg(dir.path(), "bench-org",
                                             "bench.example"));
  auto start = [&](const std::string& instance, const std::string& dsn)
      -> absl::StatusOr<std::unique_ptr<testing::GatewayProcess>> {
    testing::GatewaySpec spec;
    spec.org = &org;
    spec.instance = instance;
    spec.store_dsn = dsn;
    spec.extra_yaml = kUnlimited;
    return testing::GatewayProcess::Start(spec);
  };
  HG_ASSIGN_OR_RETURN(auto sqlite, start("sqlite", ""));
  HG_ASSIGN_OR_RETURN(auto postgres, start("pg", db->Dsn("node")));
  HG_ASSIGN_OR_RETURN(auto replica1, start("r1", db->Dsn("replicas")));
  HG_ASSIGN_OR_RETURN(auto replica2, start("r2", db->Dsn("replicas")));
  BareServerOptions bare_options;
  bare_options.certificate = org.gateway_cert;
  bare_options.private_key = org.gateway_key;
  bare_options.ca = org.ca_file;
  bare_options.port_file = dir.path() + "/bare.port";
  HG_ASSIGN_OR_RETURN(auto bare, BareServerProcess::Start(SelfPath(), bare_options));

  HG_ASSIGN_OR_RETURN(auto bare_client, testing::ConnectClient(org, bare->port()));
  HG_ASSIGN_OR_RETURN(auto sqlite_client, testing::ConnectClient(org, sqlite->port()));
  HG_ASSIGN_OR_RETURN(auto pg_client, testing::ConnectClient(org, postgres->port()));
  HG_ASSIGN_OR_RETURN(auto r1_client, testing::ConnectClient(org, replica1->port()));
  HG_ASSIGN_OR_RETURN(auto r2_client, testing::ConnectClient(org, replica2->port()));

  const int warm = std::min(flags.items, 1000);
  HG_RETURN_IF_ERROR(
      StreamWithStub(bare_client->channel(), item, "warm", warm, flags.window).status());
  for (client::Client* c : {sqlite_client.get(), pg_client.get(), r1_client.get(),
                            r2_client.get()}) {
    HG_RETURN_IF_ERROR(StreamWithClient(*c, item, "warm", warm, flags.window,
                                        flags.client_batches).status());
  }

  std::vector<Round> rounds;
  for (int i = 0; i < flags.rounds; ++i) {
    Round r;
    const std::string prefix = absl::StrCat("r", i + 1, "-");
    HG_ASSIGN_OR_RETURN(StreamResult bare_run,
                        StreamWithStub(bare_client->channel(), item, prefix,
                                       flags.items, flags.window));
    r.bare = bare_run.items_per_second;
    HG_ASSIGN_OR_RETURN(StreamResult sqlite_run,
                        StreamWithClient(*sqlite_client, item, prefix,
                                         flags.items, flags.window,
                                         flags.client_batches));
    r.sqlite = sqlite_run.items_per_second;
    HG_ASSIGN_OR_RETURN(StreamResult pg_run,
                        StreamWithClient(*pg_client, item, prefix, flags.items,
                                         flags.window, flags.client_batches));
    r.postgres = pg_run.items_per_second;
    HG_ASSIGN_OR_RETURN(r.replicas,
                        StreamBoth(*r1_client, *r2_client, item, prefix,
                                   flags.items, flags.window,
                                   flags.client_batches));
    std::cout << absl::StrFormat(
        "round %d/%d: bare %.0f/s, sqlite node %.0f/s, postgresql node "
        "%.0f/s, two postgresql replicas %.0f/s\n",
        i + 1, flags.rounds, r.bare, r.sqlite, r.postgres, r.replicas);
    rounds.push_back(r);
  }
  absl::StrAppend(&load, " / ", LoadAverage());

  const double sqlite_median = MedianOf(rounds, [](const Round& r) { return r.sqlite; });
  std::cout << absl::StrFormat(
      "\n%d rounds of %d items per stream (window %d), %zu-byte item; load %s\n",
      flags.rounds, flags.items, flags.window, item.ByteSizeLong(), load);
  std::cout << absl::StrFormat("%-34s %12s %16s\n", "ingest (PushStream)",
                               "median /s", "vs sqlite node");
  auto row = [&](const char* name, double median) {
    std::cout << absl::StrFormat("%-34s %12.0f %15.2fx\n", name, median,
                                 median / sqlite_median);
  };
  row("bare mTLS stream", MedianOf(rounds, [](const Round& r) { return r.bare; }));
  row("one node, SQLite", sqlite_median);
  row("one node, PostgreSQL", MedianOf(rounds, [](const Round& r) { return r.postgres; }));
  row("two replicas, PostgreSQL (2 clients)",
      MedianOf(rounds, [](const Round& r) { return r.replicas; }));

  for (auto& c : {&sqlite_client, &pg_client, &r1_client, &r2_client}) c->reset();
  for (auto* g : {sqlite.get(), postgres.get(), replica1.get(), replica2.get()}) {
    (void)g->Terminate();
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace havengate::bench

int main(int argc, char** argv) {
  namespace bench = havengate::bench;
  if (std::optional<int> exit = bench::RunBareServerIfAsked(argc, argv)) {
    return *exit;
  }
  CLI::App app{
      "ha_bench: ingest items/s of one gateway on SQLite, on PostgreSQL, and "
      "of two replicas on one PostgreSQL database, against a bare mutual-TLS "
      "gRPC server in the same run."};
  bench::Flags flags;
  flags.AddTo(app, "Push this item (proto3 JSON) instead of the built-in alert");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  flags.ApplyQuick();
  if (absl::Status available = havengate::testing::PostgresServer::Available();
      !available.ok()) {
    std::cerr << "ha_bench: skipped: " << available.message() << "\n";
    return 0;
  }
  bench::LocateBuildTree();
  absl::Status status = bench::Run(flags);
  if (!status.ok()) {
    std::cerr << "ha_bench: " << status << "\n";
    return 1;
  }
  return 0;
}
