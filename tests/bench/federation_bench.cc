// federation_bench: end-to-end federation figures of issue 4 and the audit
// cost of issue 5, each against a baseline measured in the same run. See
// BENCHMARK.md beside this file for what is measured and how to read it.
//
//   federation_bench [--rounds 5] [--items 10000] [--window 1024]
//                    [--rate 1000] [--latency-seconds 5]
//                    [--only federation|audit|batching|postgresql|latency]
//                    [--no-client-batches] [--json-out FILE]
//   federation_bench --only latency --rate 1000 --seconds 10 --rounds 3
//   federation_bench --quick     # smoke run: small N, one round
//
// Three gateways per federation, each a real process with its own CA, its
// durable SQLite store and mutual TLS on 127.0.0.1: A (police-nl) releases
// every pushed alert to B (customs-nl, all but one field) and C (port-rtm,
// a projection with transforms); B and C accept it under their inbound
// rules. An item counts as delivered when B's and C's integration clients
// see it in their inboxes (Inbox.Subscribe).
//
// 1. Federation (the havengate binary): one client streams items into A;
//    items/s until visible at both partners, against the bare mTLS gRPC
//    server's stream rate (the ceiling) and A's rate with no partners.
// 2. Latency at a steady offered load: unary Push into A, open loop; Push
//    answered -> visible at a partner, and Push due -> visible at both.
// 3. Audit cost: the same federation twice, gateways assembled in this
//    binary (bench_gateway.h), once with the audit and once without it.
// 4. Batches on the peer links: the same, with and without batches.
// 5. A on PostgreSQL: the same federation with A's store on a PostgreSQL
//    server the run starts, against A on SQLite (skipped where no
//    PostgreSQL server can run).
// 6. (--only latency) Latency at a fixed rate alone: unary Push into A
//    paced at --rate for --seconds per round, nothing else running; p50,
//    p95, p99 and max of Push answered at A -> visible at the last of B
//    and C.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "evidence/audit_store.h"
#include "policy/policy.h"
#include "proto/item_validation.h"
#include "proto/status_macros.h"
#include "tests/bench/bare_server.h"
#include "tests/bench/bench_alert.h"
#include "tests/bench/bench_gateway.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/inbox_watch.h"
#include "tests/bench/load.h"
#include "tests/postgres/postgres_server.h"
#include "tests/testing/harness.h"

namespace havengate::bench {
namespace {

namespace fs = std::filesystem;

constexpr char kSender[] = "police-nl";
constexpr char kCustoms[] = "customs-nl";
constexpr char kPort[] = "port-rtm";

// A's policy: the two rules of deploy/policies/police-nl for these
// partners, allowing the H2 handling code of the benchmark alert.
// Every policy indexes seal numbers only for hits: each copy streamed has
// its own (MakeBenchCopy), so the copies hit nothing; with the default
// index (containers, vessel) each copy would hit ~400 earlier ones.
constexpr char kSenderPolicy[] = R"yaml(organisation: police-nl
version: "bench-1"
matching: {index: [seal_number]}
partners:
  - {id: customs-nl, name: "Dutch Customs, Rotterdam", kind: CUSTOMS, country: NL}
  - {id: port-rtm, name: "Port of Rotterdam, security desk", kind: PORT_OPERATOR, country: NL}
rules:
  - name: harc-container-crime-to-customs
    to: [customs-nl]
    kinds: [ALERT]
    when: >
      category in [PIN_CODE_FRAUD, SUSPICIOUS_CONTAINER, RIP_OFF, SEIZURE,
      SUSPICIOUS_VESSEL, INSIDER_CORRUPTION]
    allow_restricted: [H2]
    share: ["*"]
    withhold: [persons.document_number]
  - name: port-desk-blocks-containers-and-badges
    to: [port-rtm]
    kinds: [ALERT]
    when: >
      category in [PIN_CODE_FRAUD, RIP_OFF, UNAUTHORISED_ACCESS, INSIDER_CORRUPTION]
      && location.unlocode == "NLRTM"
    allow_restricted: [H2]
    share: [category, severity, title, observed_at, location, containers.number,
            containers.terminal, containers.pin_release_status, persons.badge_id,
            persons.employer, persons.role]
    transform:
      observed_at: {truncate_time: {unit: MINUTE}}
      location.position: {round_geo: {decimals: 3}}
)yaml";

// B and C: accept A's alerts; they share nothing onwards.
constexpr char kCustomsPolicy[] = R"yaml(organisation: customs-nl
version: "bench-1"
matching: {index: [seal_number]}
partners:
  - {id: police-nl, name: "Dutch police, Seaport Police Rotterdam", kind: POLICE, country: NL}
inbound:
  accept:
    - from: [police-nl]
)yaml";

constexpr char kPortPolicy[] = R"yaml(organisation: port-rtm
version: "bench-1"
matching: {index: [seal_number]}
partners:
  - {id: police-nl, name: "Dutch police, Seaport Police Rotterdam", kind: POLICE, country: NL}
inbound:
  accept:
    - from: [police-nl]
      kinds: [ALERT]
      categories: [PIN_CODE_FRAUD, UNAUTHORISED_ACCESS, INSIDER_CORRUPTION, RIP_OFF]
)yaml";

// What the gateway can take, not what one caller is allowed: the
// per-caller limits would pace the client's streams.
constexpr char kNoCallerLimits[] =
    "limits:\n  per_caller: {calls_per_second: 0, items_per_second: 0,"
    " max_concurrent_calls: 0}\n";

struct Flags : CommonFlags {
  Flags() : CommonFlags(10'000) {}
  // "", "federation", "audit", "batching", "postgresql" or "latency"
  // (the last only when asked for by name).
  std::string only;
  bool federation() const { return only.empty() || only == "federation"; }
  bool audit() const { return only.empty() || only == "audit"; }
  bool batching() const { return only.empty() || only == "batching"; }
  bool postgresql() const { return only.empty() || only == "postgresql"; }
  bool latency() const { return only == "latency"; }
};

absl::StatusOr<std::string> WritePolicy(const testing::TestOrg& org,
                                        const std::string& yaml) {
  std::string dir = org.dir + "/policy";
  fs::create_directories(dir);
  std::string path = dir + "/policy.yaml";
  std::ofstream(path, std::ios::trunc) << yaml;
  HG_RETURN_IF_ERROR(policy::CreateMissingKeyFiles(path).status());
  return path;
}

// Before measuring: A releases the item to both partners and each partner
// accepts what it gets (else the benchmark would only time out).
absl::Status CheckReleasedToBoth(const v1::Item& pushed) {
  std::map<std::string, std::shared_ptr<const policy::CompiledPolicy>> policies;
  for (const auto& [org, yaml] :
       std::vector<std::pair<std::string, const char*>>{
           {kSender, kSenderPolicy},
           {kCustoms, kCustomsPolicy},
           {kPort, kPortPolicy}}) {
    std::vector<policy::Diagnostic> diagnostics;
    absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> compiled =
        policy::LoadPolicyText(yaml, org + " policy", ".", &diagnostics);
    if (!compiled.ok()) return compiled.status();
    policies[org] = *compiled;
  }
  v1::Item item = pushed;
  item.set_origin(kSender);
  item.set_version(1);
  policy::Decision decision = policies[kSender]->Decide(item);
  for (const char* partner : {kCustoms, kPort}) {
    const policy::PartnerDecision* d = decision.Find(partner);
    if (d == nullptr || !d->released) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the benchmark item is not released to ", partner, ": ",
          d == nullptr ? "not a partner"
                       : policy::DecisionReasonText(d->reason)));
    }
    HG_RETURN_IF_ERROR(policies[partner]->AcceptInbound(kSender, d->projected));
  }
  return absl::OkStatus();
}

// One stream of items pushed into A until visible at B and C.
struct FederatedStream {
  StreamResult ingest;  // answered by A
  // items / (first send .. visible at both partners)
  double items_per_second = 0;
  // CPU (user + system) of A, B and C together per item, and of A alone.
  double cpu_us_per_item = 0;
  double sender_cpu_us_per_item = 0;
  // Audit records A added per item streamed (0 if not counted: A on
  // PostgreSQL).
  double audit_records_per_item_at_a = 0;
};

// Unary Push into A at a steady rate, until visible at B and C.
struct FederatedLatency {
  LatencyResult push;  // Push due -> answered by A
  // Push answered by A -> visible at a partner (both partners' copies).
  absl::Duration ack_p50, ack_p99, ack_max;
  // Push due -> visible at both partners.
  absl::Duration both_p50, both_p99, both_max;
  // Push answered by A -> visible at both partners (at the last of them).
  absl::Duration answered_both_p50, answered_both_p95, answered_both_p99,
      answered_both_max;
};

// How a Trio's gateways run.
struct TrioOptions {
  // See GatewaySpec::launcher (empty: the havengate binary).
  std::vector<std::string> launcher;
  // A's store on PostgreSQL (a libpq DSN); empty: SQLite, as B's and C's.
  std::string sender_dsn;
};

// A federation of three gateways: A shares with B and C.
class Trio {
 public:
  static absl::StatusOr<std::unique_ptr<Trio>> Start(const std::string& root,
                                                     const TrioOptions& options) {
    auto trio = std::unique_ptr<Trio>(new Trio());
    trio->sender_on_sqlite_ = options.sender_dsn.empty();
    std::map<std::string, std::string> policy_files;
    for (const auto& [id, yaml] :
         std::vector<std::pair<std::string, const char*>>{
             {kSender, kSenderPolicy},
             {kCustoms, kCustomsPolicy},
             {kPort, kPortPolicy}}) {
      HG_ASSIGN_OR_RETURN(
          testing::TestOrg org,
          testing::CreateTestOrg(root, id, absl::StrCat(id, ".example")));
      trio->orgs_[id] = std::make_unique<testing::TestOrg>(std::move(org));
      HG_ASSIGN_OR_RETURN(policy_files[id], WritePolicy(*trio->orgs_[id], yaml));
      trio->ports_[id] = testing::PickUnusedPort();
    }
    auto spec = [&](const std::string& id,
                    const std::vector<std::string>& peers) {
      testing::GatewaySpec s;
      s.org = trio->orgs_[id].get();
      s.port = trio->ports_[id];
      s.policy_file = policy_files[id];
      for (const std::string& peer : peers) {
        s.peers.push_back({trio->orgs_[peer].get(), trio->ports_[peer]});
      }
      s.extra_yaml = kNoCallerLimits;
      s.launcher = options.launcher;
      if (id == kSender) s.store_dsn = options.sender_dsn;
      return s;
    };
    // The partners first, so A's links connect at once.
    HG_ASSIGN_OR_RETURN(trio->b_, testing::GatewayProcess::Start(
                                      spec(kCustoms, {kSender})));
    HG_ASSIGN_OR_RETURN(trio->c_, testing::GatewayProcess::Start(
                                      spec(kPort, {kSender})));
    HG_ASSIGN_OR_RETURN(trio->a_, testing::GatewayProcess::Start(
                                      spec(kSender, {kCustoms, kPort})));
    HG_ASSIGN_OR_RETURN(trio->a_client_,
                        testing::ConnectClient(*trio->orgs_[kSender],
                                               trio->a_->port()));
    HG_ASSIGN_OR_RETURN(trio->b_client_,
                        testing::ConnectClient(*trio->orgs_[kCustoms],
                                               trio->b_->port()));
    HG_ASSIGN_OR_RETURN(trio->c_client_,
                        testing::ConnectClient(*trio->orgs_[kPort],
                                               trio->c_->port()));
    trio->b_watch_ = std::make_unique<InboxWatch>(trio->b_client_->channel());
    trio->c_watch_ = std::make_unique<InboxWatch>(trio->c_client_->channel());
    return trio;
  }

  ~Trio() {
    // The subscriptions end before the gateways.
    b_watch_.reset();
    c_watch_.reset();
  }

  absl::StatusOr<FederatedStream> Stream(const v1::Item& item,
                                         const std::string& prefix, int items,
                                         int window, bool client_batches = true) {
    FederatedStream result;
    uint64_t audited_before = 0;
    if (sender_on_sqlite_) {
      HG_ASSIGN_OR_RETURN(audited_before, SettledAuditRowsAtA());
    }
    const double cpu = Cpu();
    const double sender_cpu = ProcessCpuSeconds(a_->pid());
    HG_ASSIGN_OR_RETURN(result.ingest,
                        StreamWithClient(*a_client_, item, prefix, items, window,
                                         client_batches));
    HG_RETURN_IF_ERROR(AwaitBoth(prefix, items));
    result.cpu_us_per_item = (Cpu() - cpu) * 1e6 / items;
    result.sender_cpu_us_per_item =
        (ProcessCpuSeconds(a_->pid()) - sender_cpu) * 1e6 / items;
    const Clock::time_point visible =
        std::max(*b_watch_->LastSeen(prefix), *c_watch_->LastSeen(prefix));
    result.items_per_second =
        items / absl::ToDoubleSeconds(Since(result.ingest.started, visible));
    if (sender_on_sqlite_) {
      // After the figures: the deliveries are audited when the partners'
      // acknowledgements reach A, which may be a little after visible.
      HG_ASSIGN_OR_RETURN(uint64_t audited, SettledAuditRowsAtA());
      result.audit_records_per_item_at_a =
          static_cast<double>(audited - audited_before) / items;
    }
    return result;
  }

  absl::StatusOr<FederatedLatency> OpenLoop(const v1::Item& item,
                                            const std::string& prefix,
                                            double rate,
                                            absl::Duration duration) {
    FederatedLatency result;
    std::vector<PushTiming> timings;
    HG_ASSIGN_OR_RETURN(result.push,
                        OpenLoopPush(a_client_->channel(), item, prefix, rate,
                                     duration, &timings));
    const int calls = static_cast<int>(timings.size());
    HG_RETURN_IF_ERROR(AwaitBoth(prefix, calls));
    auto b = b_watch_->SeenTimes(prefix, calls);
    auto c = c_watch_->SeenTimes(prefix, calls);
    std::vector<absl::Duration> ack, both, answered_both;
    for (int i = 0; i < calls; ++i) {
      ack.push_back(Since(timings[i].answered, *b[i]));
      ack.push_back(Since(timings[i].answered, *c[i]));
      both.push_back(Since(timings[i].scheduled, std::max(*b[i], *c[i])));
      answered_both.push_back(Since(timings[i].answered, std::max(*b[i], *c[i])));
    }
    std::sort(ack.begin(), ack.end());
    std::sort(both.begin(), both.end());
    std::sort(answered_both.begin(), answered_both.end());
    result.answered_both_p50 = Percentile(answered_both, 0.50);
    result.answered_both_p95 = Percentile(answered_both, 0.95);
    result.answered_both_p99 = Percentile(answered_both, 0.99);
    result.answered_both_max = answered_both.back();
    result.ack_p50 = Percentile(ack, 0.50);
    result.ack_p99 = Percentile(ack, 0.99);
    result.ack_max = ack.back();
    result.both_p50 = Percentile(both, 0.50);
    result.both_p99 = Percentile(both, 0.99);
    result.both_max = both.back();
    return result;
  }

  // Stops the gateways (A first); fails with a log if one did not stop
  // cleanly. The clients hang up first: a gateway's shutdown waits for
  // every connection to answer its GOAWAY, and an idle client channel
  // notices only at gRPC's next backup poll (5 s).
  absl::Status Stop() {
    b_watch_.reset();
    c_watch_.reset();
    a_client_.reset();
    b_client_.reset();
    c_client_.reset();
    for (auto* gateway : {&a_, &b_, &c_}) {
      absl::StatusOr<int> exit = (*gateway)->Terminate();
      if (!exit.ok() || *exit != 0) {
        return absl::InternalError(
            absl::StrCat("a gateway did not stop cleanly; its log:\n",
                         (*gateway)->ReadLog()));
      }
    }
    return absl::OkStatus();
  }

  std::string Logs() const {
    return absl::StrCat("--- A:\n", a_->ReadLog(), "--- B:\n", b_->ReadLog(),
                        "--- C:\n", c_->ReadLog());
  }

 private:
  Trio() = default;

  double Cpu() const {
    return ProcessCpuSeconds(a_->pid()) + ProcessCpuSeconds(b_->pid()) +
           ProcessCpuSeconds(c_->pid());
  }

  // Rows in A's audit table once no more arrive for 300 ms (at most 10 s).
  absl::StatusOr<uint64_t> SettledAuditRowsAtA() {
    uint64_t last = 0;
    absl::Time changed = absl::Now();
    const absl::Time deadline = changed + absl::Seconds(10);
    while (true) {
      HG_ASSIGN_OR_RETURN(auto store, evidence::AuditStore::Open(a_->store_file()));
      uint64_t rows = 0;
      HG_RETURN_IF_ERROR(store->ForEachRow(0, [&](uint64_t, absl::string_view) {
        ++rows;
        return true;
      }));
      if (rows != last) {
        last = rows;
        changed = absl::Now();
      } else if (absl::Now() - changed > absl::Milliseconds(300) || absl::Now() > deadline) {
        return rows;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  absl::Status AwaitBoth(const std::string& prefix, int items) {
    const absl::Duration timeout =
        absl::Seconds(60) + items * absl::Milliseconds(10);
    for (InboxWatch* watch : {b_watch_.get(), c_watch_.get()}) {
      absl::Status status = watch->WaitForItems(prefix, items, timeout);
      if (!status.ok()) {
        return absl::Status(status.code(),
                            absl::StrCat(watch == b_watch_.get() ? "B" : "C",
                                         ": ", status.message(), "\n", Logs()));
      }
    }
    return absl::OkStatus();
  }

  std::map<std::string, std::unique_ptr<testing::TestOrg>> orgs_;
  std::map<std::string, int> ports_;
  std::unique_ptr<testing::GatewayProcess> a_, b_, c_;
  std::unique_ptr<client::Client> a_client_, b_client_, c_client_;
  std::unique_ptr<InboxWatch> b_watch_, c_watch_;
  bool sender_on_sqlite_ = true;
};

// The bare relay (bare_server.h): a client streams into a relay process
// that forwards each item to two receiver processes, each followed by an
// inbox subscriber. The topology of A -> {B, C} in transport alone.
class BareRelayTrio {
 public:
  static absl::StatusOr<std::unique_ptr<BareRelayTrio>> Start(
      const testing::TestOrg& org, const std::string& root) {
    auto trio = std::unique_ptr<BareRelayTrio>(new BareRelayTrio());
    BareServerOptions options;
    options.certificate = org.gateway_cert;
    options.private_key = org.gateway_key;
    options.ca = org.ca_file;
    options.mode = BareMode::kReceiver;
    for (int i = 0; i < 2; ++i) {
      options.port_file = absl::StrCat(root, "/receiver", i, ".port");
      HG_ASSIGN_OR_RETURN(trio->receivers_[i],
                          BareServerProcess::Start(SelfPath(), options));
      HG_ASSIGN_OR_RETURN(trio->receiver_clients_[i],
                          testing::ConnectClient(org, trio->receivers_[i]->port()));
      trio->watches_[i] =
          std::make_unique<InboxWatch>(trio->receiver_clients_[i]->channel());
      options.forward_to.push_back(trio->receivers_[i]->port());
    }
    options.mode = BareMode::kRelay;
    options.receiver_id = org.gateway_id();
    options.port_file = root + "/relay.port";
    HG_ASSIGN_OR_RETURN(trio->relay_, BareServerProcess::Start(SelfPath(), options));
    HG_ASSIGN_OR_RETURN(trio->relay_client_,
                        testing::ConnectClient(org, trio->relay_->port()));
    return trio;
  }

  ~BareRelayTrio() {
    for (auto& watch : watches_) watch.reset();
  }

  absl::StatusOr<FederatedStream> Stream(const v1::Item& item,
                                         const std::string& prefix, int items,
                                         int window) {
    FederatedStream result;
    const double cpu = Cpu();
    HG_ASSIGN_OR_RETURN(result.ingest, StreamWithStub(relay_client_->channel(), item,
                                                      prefix, items, window));
    const absl::Duration timeout = absl::Seconds(60) + items * absl::Milliseconds(10);
    for (auto& watch : watches_) {
      HG_RETURN_IF_ERROR(watch->WaitForItems(prefix, items, timeout));
    }
    result.cpu_us_per_item = (Cpu() - cpu) * 1e6 / items;
    const Clock::time_point visible =
        std::max(*watches_[0]->LastSeen(prefix), *watches_[1]->LastSeen(prefix));
    result.items_per_second =
        items / absl::ToDoubleSeconds(Since(result.ingest.started, visible));
    return result;
  }

 private:
  BareRelayTrio() = default;
  double Cpu() const {
    return ProcessCpuSeconds(relay_->pid()) + ProcessCpuSeconds(receivers_[0]->pid()) +
           ProcessCpuSeconds(receivers_[1]->pid());
  }

  std::unique_ptr<BareServerProcess> relay_, receivers_[2];
  std::unique_ptr<client::Client> relay_client_, receiver_clients_[2];
  std::unique_ptr<InboxWatch> watches_[2];
};

// --- Rounds -----------------------------------------------------------------

struct FederationRound {
  StreamResult bare, ingest_only;
  FederatedStream relay;  // the bare relay
  FederatedStream federated;
  FederatedLatency latency;
};

struct OnOffRound {
  FederatedStream on, off;
  bool off_first = false;
};

double FedRatio(const FederationRound& r) {
  return r.federated.items_per_second / r.bare.items_per_second;
}
double RelayRatio(const FederationRound& r) {
  return r.federated.items_per_second / r.relay.items_per_second;
}
double OnOffRatio(const OnOffRound& r) {
  return r.on.items_per_second / r.off.items_per_second;
}

struct Results {
  size_t item_bytes = 0;
  std::vector<FederationRound> federation;
  std::vector<OnOffRound> audit;
  // The same comparison for batches on the peer links: `on` with batches,
  // `off` without (one entry per message).
  std::vector<OnOffRound> batching;
  // A on PostgreSQL (`on`) and on SQLite (`off`).
  std::vector<OnOffRound> postgresql;
  // Part 6: latency at a fixed rate alone.
  std::vector<FederatedLatency> latency;
  std::string load;
};

void PrintFederation(const Flags& flags, const Results& results,
                     std::ostream& out) {
  const auto& rounds = results.federation;
  out << absl::StrFormat(
      "\n1. Federation throughput: one client streams %d items of %d bytes "
      "into A (window %d); items/s until visible in the inboxes of both B "
      "and C\n",
      flags.items, results.item_bytes, flags.window);
  out << absl::StrFormat("%-7s %9s %9s %9s %10s %9s %10s %9s %11s %13s %13s\n",
                         "round", "bare/s", "relay/s", "A alone/s", "A->{B,C}/s",
                         "e2e/bare", "e2e/relay", "e2e/alone", "A answers/s",
                         "relay cpu us", "ABC cpu us/it");
  auto row = [&](const std::string& label, double bare, double relay,
                 double alone, double e2e, double answered, double relay_cpu,
                 double cpu) {
    out << absl::StrFormat(
        "%-7s %9.0f %9.0f %9.0f %10.0f %8.1f%% %9.1f%% %8.1f%% %11.0f %13.1f %13.1f\n",
        label, bare, relay, alone, e2e, 100 * e2e / bare, 100 * e2e / relay,
        100 * e2e / alone, answered, relay_cpu, cpu);
  };
  for (size_t i = 0; i < rounds.size(); ++i) {
    const FederationRound& r = rounds[i];
    row(absl::StrCat(i + 1), r.bare.items_per_second, r.relay.items_per_second,
        r.ingest_only.items_per_second, r.federated.items_per_second,
        r.federated.ingest.items_per_second, r.relay.cpu_us_per_item,
        r.federated.cpu_us_per_item);
  }
  const double bare = MedianOf(rounds, [](const FederationRound& r) {
    return r.bare.items_per_second;
  });
  const double e2e = MedianOf(rounds, [](const FederationRound& r) {
    return r.federated.items_per_second;
  });
  const double relay = MedianOf(rounds, [](const FederationRound& r) {
    return r.relay.items_per_second;
  });
  const double cpu = MedianOf(rounds, [](const FederationRound& r) {
    return r.federated.cpu_us_per_item;
  });
  row("median", bare, relay,
      MedianOf(rounds, [](const FederationRound& r) {
        return r.ingest_only.items_per_second;
      }),
      e2e,
      MedianOf(rounds, [](const FederationRound& r) {
        return r.federated.ingest.items_per_second;
      }),
      MedianOf(rounds, [](const FederationRound& r) {
        return r.relay.cpu_us_per_item;
      }),
      cpu);
  out << absl::StrFormat(
      "(median row: ratios of the medians; medians of the per-round ratios: "
      "e2e/bare %.1f%%, e2e/relay %.1f%%)\n",
      100 * MedianOf(rounds, FedRatio), 100 * MedianOf(rounds, RelayRatio));
  out << absl::StrFormat(
      "audit records written at A per item (median): %.2f; A's own CPU per item (median): "
      "%.1f us\n",
      MedianOf(rounds, [](const FederationRound& r) {
        return r.federated.audit_records_per_item_at_a;
      }),
      MedianOf(rounds, [](const FederationRound& r) {
        return r.federated.sender_cpu_us_per_item;
      }));

  out << absl::StrFormat(
      "\n2. Latency: unary Push into A, open loop at %.0f items/s for %.1f s; "
      "ms\n",
      flags.rate, flags.latency_seconds);
  out << absl::StrFormat("%-7s %9s %9s   %9s %9s %9s   %9s %9s %9s\n", "",
                         "Push (A)", "", "answered", "-> visible", "at B or C",
                         "due ->", "visible", "at both");
  out << absl::StrFormat("%-7s %9s %9s   %9s %9s %9s   %9s %9s %9s\n", "round",
                         "p50", "p99", "p50", "p99", "max", "p50", "p99",
                         "max");
  auto lrow = [&](const std::string& label, double pp50, double pp99,
                  double a50, double a99, double amax, double b50, double b99,
                  double bmax) {
    out << absl::StrFormat(
        "%-7s %9.2f %9.2f   %9.2f %9.2f %9.2f   %9.2f %9.2f %9.2f\n", label,
        pp50, pp99, a50, a99, amax, b50, b99, bmax);
  };
  for (size_t i = 0; i < rounds.size(); ++i) {
    const FederatedLatency& l = rounds[i].latency;
    lrow(absl::StrCat(i + 1), Ms(l.push.p50), Ms(l.push.p99), Ms(l.ack_p50),
         Ms(l.ack_p99), Ms(l.ack_max), Ms(l.both_p50), Ms(l.both_p99),
         Ms(l.both_max));
  }
  auto med = [&](absl::Duration FederatedLatency::*field) {
    return MedianOf(rounds, [field](const FederationRound& r) {
      return Ms(r.latency.*field);
    });
  };
  const double ack_p99 = med(&FederatedLatency::ack_p99);
  lrow("median",
       MedianOf(rounds, [](const FederationRound& r) {
         return Ms(r.latency.push.p50);
       }),
       MedianOf(rounds, [](const FederationRound& r) {
         return Ms(r.latency.push.p99);
       }),
       med(&FederatedLatency::ack_p50), ack_p99,
       med(&FederatedLatency::ack_max), med(&FederatedLatency::both_p50),
       med(&FederatedLatency::both_p99), med(&FederatedLatency::both_max));

  const double both_p99 = med(&FederatedLatency::answered_both_p99);
  out << absl::StrFormat(
      "\nAims of issue 16 (informational): CPU per federated item over A, B, C "
      "%.1f us (aim <= 120): %s; end-to-end/bare %.1f%% (aim >= 30%%): %s; "
      "end-to-end/relay %.1f%% (aim >= 70%%): %s; p99 Push answered -> visible "
      "at a partner %.2f ms, at both %.2f ms at %.0f/s (aim <= 10 ms): %s\n",
      cpu, cpu <= 120 ? "met" : "NOT met", 100 * e2e / bare,
      e2e >= 0.30 * bare ? "met" : "NOT met", 100 * e2e / relay,
      e2e >= 0.70 * relay ? "met" : "NOT met", ack_p99, both_p99, flags.rate,
      both_p99 <= 10 ? "met" : "NOT met");
}

// The table of an on/off comparison; returns the medians (on/s, off/s).
std::pair<double, double> PrintOnOff(const std::string& heading, const std::string& what,
                                     const std::vector<OnOffRound>& rounds,
                                     std::ostream& out) {
  out << heading;
  out << absl::StrFormat("%-7s %6s %13s %13s %8s %16s %16s\n", "round",
                         "first", what + " on/s", what + " off/s", "on/off",
                         "cpu us/it on", "cpu us/it off");
  auto row = [&](const std::string& label, const std::string& first, double on,
                 double off, double cpu_on, double cpu_off) {
    out << absl::StrFormat("%-7s %6s %13.0f %13.0f %7.1f%% %16.1f %16.1f\n",
                           label, first, on, off, 100 * on / off, cpu_on,
                           cpu_off);
  };
  for (size_t i = 0; i < rounds.size(); ++i) {
    const OnOffRound& r = rounds[i];
    row(absl::StrCat(i + 1), r.off_first ? "off" : "on",
        r.on.items_per_second, r.off.items_per_second, r.on.cpu_us_per_item,
        r.off.cpu_us_per_item);
  }
  const double on = MedianOf(rounds, [](const OnOffRound& r) {
    return r.on.items_per_second;
  });
  const double off = MedianOf(rounds, [](const OnOffRound& r) {
    return r.off.items_per_second;
  });
  const double cpu_on = MedianOf(rounds, [](const OnOffRound& r) {
    return r.on.cpu_us_per_item;
  });
  const double cpu_off = MedianOf(rounds, [](const OnOffRound& r) {
    return r.off.cpu_us_per_item;
  });
  row("median", "", on, off, cpu_on, cpu_off);
  out << absl::StrFormat(
      "(median of the per-round on/off ratios: %.1f%%; CPU per item with "
      "%s on: %+.1f%%)\n",
      100 * MedianOf(rounds, OnOffRatio), what, 100 * (cpu_on / cpu_off - 1));
  return {on, off};
}

void PrintAudit(const Flags& flags, const Results& results, std::ostream& out) {
  const auto [on, off] = PrintOnOff(
      absl::StrFormat(
          "\n3. Audit cost: the same federation (gateways built into this binary), "
          "with and without the audit; %d items per stream, items/s until "
          "visible at B and C\n",
          flags.items),
      "audit", results.audit, out);
  const double cost = 1 - on / off;
  out << absl::StrFormat(
      "\nAim of issue 5 (informational): the audit costs %.1f%% of end-to-end "
      "throughput (aim <= 15%%): %s\n",
      100 * cost, cost <= 0.15 ? "met" : "NOT met");
}

void PrintBatching(const Flags& flags, const Results& results, std::ostream& out) {
  PrintOnOff(absl::StrFormat(
                 "\n4. Batches on the peer links: the same federation (gateways built "
                 "into this binary), with batches and with one entry per message; %d "
                 "items per stream, items/s until visible at B and C\n",
                 flags.items),
             "batch", results.batching, out);
}

void PrintPostgresql(const Flags& flags, const Results& results, std::ostream& out) {
  if (results.postgresql.empty()) return;
  const auto [on, off] = PrintOnOff(
      absl::StrFormat(
          "\n5. A on PostgreSQL: the same federation with A's store on a "
          "PostgreSQL server on this machine (on) and on SQLite (off); %d items "
          "per stream, items/s until visible at B and C\n",
          flags.items),
      "postgresql", results.postgresql, out);
  out << absl::StrFormat(
      "\nAim of issue 13 (informational): A on PostgreSQL at least half of A on "
      "SQLite end to end: %.1f%%: %s\n",
      100 * on / off, on >= 0.5 * off ? "met" : "NOT met");
}

std::string StreamJson(const FederatedStream& s) {
  return absl::StrFormat(
      R"({"items_per_s": %.1f, "a_answers_per_s": %.1f, "cpu_us_per_item": %.2f, )"
      R"("a_cpu_us_per_item": %.2f, "audit_records_per_item_at_a": %.2f})",
      s.items_per_second, s.ingest.items_per_second, s.cpu_us_per_item,
      s.sender_cpu_us_per_item, s.audit_records_per_item_at_a);
}

std::string Json(const Flags& flags, const Results& results) {
  std::vector<std::string> federation, audit, batching, postgresql, latency;
  for (const FederationRound& r : results.federation) {
    const FederatedLatency& l = r.latency;
    federation.push_back(absl::StrFormat(
        R"(    {"bare_items_per_s": %.1f, "a_alone_items_per_s": %.1f, )"
        R"("bare_relay": %s, "ratio_to_relay": %.4f, )"
        R"("federated": %s, "ratio_to_bare": %.4f, )"
        R"("push_p50_ms": %.3f, "push_p99_ms": %.3f, )"
        R"("answered_to_visible_p50_ms": %.3f, "answered_to_visible_p99_ms": %.3f, )"
        R"("answered_to_visible_max_ms": %.3f, "due_to_visible_at_both_p50_ms": %.3f, )"
        R"("due_to_visible_at_both_p99_ms": %.3f, "due_to_visible_at_both_max_ms": %.3f})",
        r.bare.items_per_second, r.ingest_only.items_per_second,
        StreamJson(r.relay), RelayRatio(r), StreamJson(r.federated), FedRatio(r), Ms(l.push.p50), Ms(l.push.p99),
        Ms(l.ack_p50), Ms(l.ack_p99), Ms(l.ack_max), Ms(l.both_p50),
        Ms(l.both_p99), Ms(l.both_max)));
  }
  for (const OnOffRound& r : results.audit) {
    audit.push_back(absl::StrFormat(
        R"(    {"audit_on": %s, "audit_off": %s, "on_off_ratio": %.4f, "off_first": %s})",
        StreamJson(r.on), StreamJson(r.off), OnOffRatio(r),
        r.off_first ? "true" : "false"));
  }
  for (const OnOffRound& r : results.batching) {
    batching.push_back(absl::StrFormat(
        R"(    {"batches": %s, "one_per_message": %s, "on_off_ratio": %.4f, "off_first": %s})",
        StreamJson(r.on), StreamJson(r.off), OnOffRatio(r),
        r.off_first ? "true" : "false"));
  }
  for (const OnOffRound& r : results.postgresql) {
    postgresql.push_back(absl::StrFormat(
        R"(    {"a_on_postgresql": %s, "a_on_sqlite": %s, "ratio": %.4f, "sqlite_first": %s})",
        StreamJson(r.on), StreamJson(r.off), OnOffRatio(r),
        r.off_first ? "true" : "false"));
  }
  for (const FederatedLatency& l : results.latency) {
    latency.push_back(absl::StrFormat(
        R"(    {"calls": %d, "push_p50_ms": %.3f, "push_p99_ms": %.3f, )"
        R"("answered_to_visible_at_both_p50_ms": %.3f, "p95_ms": %.3f, )"
        R"("p99_ms": %.3f, "max_ms": %.3f})",
        l.push.calls, Ms(l.push.p50), Ms(l.push.p99), Ms(l.answered_both_p50),
        Ms(l.answered_both_p95), Ms(l.answered_both_p99), Ms(l.answered_both_max)));
  }
  return absl::StrFormat(
      "{\n"
      R"(  "config": {"rounds": %d, "items": %d, "item_bytes": %d, )"
      R"("window": %d, "rate_per_s": %.0f, "latency_seconds": %.1f, )"
      R"("load_average": "%s"},)"
      "\n  \"federation\": [\n%s\n  ],\n  \"audit\": [\n%s\n  ],\n"
      "  \"batching\": [\n%s\n  ],\n  \"postgresql\": [\n%s\n  ],\n"
      "  \"latency\": [\n%s\n  ]\n}\n",
      flags.rounds, flags.items, results.item_bytes, flags.window, flags.rate,
      flags.latency_seconds, results.load, absl::StrJoin(federation, ",\n"),
      absl::StrJoin(audit, ",\n"), absl::StrJoin(batching, ",\n"),
      absl::StrJoin(postgresql, ",\n"), absl::StrJoin(latency, ",\n"));
}

// --- The run ----------------------------------------------------------------

absl::Status Warm(Trio& trio, const v1::Item& item, const Flags& flags) {
  return trio
      .Stream(item, "warm", std::min(flags.items, 2000), flags.window,
              flags.client_batches)
      .status();
}

absl::Status RunFederation(const Flags& flags, const v1::Item& item,
                           const std::string& root, Results& results) {
  HG_ASSIGN_OR_RETURN(auto trio, Trio::Start(root + "/federation", TrioOptions{}));
  // A alone: the same gateway with no partners and no policy.
  HG_ASSIGN_OR_RETURN(
      testing::TestOrg alone_org,
      testing::CreateTestOrg(root + "/alone", kSender, "police-nl.example"));
  testing::GatewaySpec alone_spec;
  alone_spec.org = &alone_org;
  alone_spec.extra_yaml = kNoCallerLimits;
  HG_ASSIGN_OR_RETURN(auto alone, testing::GatewayProcess::Start(alone_spec));
  HG_ASSIGN_OR_RETURN(auto alone_client,
                      testing::ConnectClient(alone_org, alone->port()));
  BareServerOptions bare_options;
  bare_options.certificate = alone_org.gateway_cert;  // same identity, same CA
  bare_options.private_key = alone_org.gateway_key;
  bare_options.ca = alone_org.ca_file;
  bare_options.port_file = root + "/bare.port";
  HG_ASSIGN_OR_RETURN(auto bare,
                      BareServerProcess::Start(SelfPath(), bare_options));
  HG_ASSIGN_OR_RETURN(auto bare_client,
                      testing::ConnectClient(alone_org, bare->port()));
  HG_ASSIGN_OR_RETURN(auto relay, BareRelayTrio::Start(alone_org, root));

  const int warm = std::min(flags.items, 2000);
  HG_RETURN_IF_ERROR(StreamWithStub(bare_client->channel(), item, "warm", warm,
                                    flags.window)
                         .status());
  HG_RETURN_IF_ERROR(
      StreamWithClient(*alone_client, item, "warm", warm, flags.window,
                       flags.client_batches)
          .status());
  HG_RETURN_IF_ERROR(relay->Stream(item, "warm", warm, flags.window).status());
  HG_RETURN_IF_ERROR(Warm(*trio, item, flags));

  for (int i = 0; i < flags.rounds; ++i) {
    FederationRound r;
    const std::string prefix = absl::StrCat("f", i + 1);
    std::cout << "federation round " << i + 1 << "/" << flags.rounds
              << ": streams" << std::flush;
    HG_ASSIGN_OR_RETURN(r.bare, StreamWithStub(bare_client->channel(), item,
                                               prefix, flags.items,
                                               flags.window));
    HG_ASSIGN_OR_RETURN(r.relay, relay->Stream(item, prefix, flags.items,
                                               flags.window));
    HG_ASSIGN_OR_RETURN(r.ingest_only,
                        StreamWithClient(*alone_client, item, prefix,
                                         flags.items, flags.window,
                                         flags.client_batches));
    HG_ASSIGN_OR_RETURN(r.federated, trio->Stream(item, prefix, flags.items,
                                                  flags.window,
                                                  flags.client_batches));
    std::cout << ", latency" << std::flush;
    HG_ASSIGN_OR_RETURN(
        r.latency,
        trio->OpenLoop(item, prefix + "-push", flags.rate,
                       absl::Seconds(flags.latency_seconds)));
    std::cout << absl::StrFormat(
        ": bare %.0f/s, relay %.0f/s, A->{B,C} %.0f/s, answered->visible "
        "p99 %.2f ms\n",
        r.bare.items_per_second, r.relay.items_per_second,
        r.federated.items_per_second,
        Ms(r.latency.ack_p99));
    results.federation.push_back(r);
  }
  HG_RETURN_IF_ERROR(trio->Stop());
  alone_client.reset();  // see Trio::Stop
  absl::StatusOr<int> exit = alone->Terminate();
  if (!exit.ok() || *exit != 0) {
    return absl::InternalError(absl::StrCat(
        "havengate did not stop cleanly; its log:\n", alone->ReadLog()));
  }
  return absl::OkStatus();
}

// The same federation twice (gateways built into this binary), `on` and
// `off`, streamed alternately first within a round: results into `rounds`.
absl::Status RunOnOff(const Flags& flags, const v1::Item& item, const std::string& root,
                      const TrioOptions& on_options, const TrioOptions& off_options,
                      const std::string& what, std::vector<OnOffRound>& rounds) {
  HG_ASSIGN_OR_RETURN(auto on, Trio::Start(root + "-on", on_options));
  HG_ASSIGN_OR_RETURN(auto off, Trio::Start(root + "-off", off_options));
  HG_RETURN_IF_ERROR(Warm(*on, item, flags));
  HG_RETURN_IF_ERROR(Warm(*off, item, flags));
  for (int i = 0; i < flags.rounds; ++i) {
    OnOffRound r;
    // Alternating which goes first cancels drift within a round.
    r.off_first = i % 2 == 1;
    const std::string prefix = absl::StrCat(what.substr(0, 1), i + 1);
    std::cout << what << " round " << i + 1 << "/" << flags.rounds << std::flush;
    for (bool is_on : {!r.off_first, r.off_first}) {
      FederatedStream& result = is_on ? r.on : r.off;
      Trio& trio = is_on ? *on : *off;
      HG_ASSIGN_OR_RETURN(result, trio.Stream(item, prefix, flags.items,
                                              flags.window, flags.client_batches));
    }
    std::cout << absl::StrFormat(": %s on %.0f/s, off %.0f/s\n", what,
                                 r.on.items_per_second, r.off.items_per_second);
    rounds.push_back(r);
  }
  HG_RETURN_IF_ERROR(on->Stop());
  return off->Stop();
}

absl::Status RunAudit(const Flags& flags, const v1::Item& item,
                      const std::string& root, Results& results) {
  return RunOnOff(flags, item, root + "/audit", {BenchGatewayLauncher(false), ""},
                  {BenchGatewayLauncher(true), ""}, "audit", results.audit);
}

absl::Status RunBatching(const Flags& flags, const v1::Item& item,
                         const std::string& root, Results& results) {
  return RunOnOff(flags, item, root + "/batching", {BenchGatewayLauncher(false), ""},
                  {BenchGatewayLauncher(false, /*unbatched=*/true), ""}, "batches",
                  results.batching);
}

// A on PostgreSQL (a real server this run starts, on this machine) against
// A on SQLite, B and C on SQLite in both (issue 13).
absl::Status RunPostgresql(const Flags& flags, const v1::Item& item,
                           const std::string& root, Results& results) {
  if (absl::Status available = testing::PostgresServer::Available();
      !available.ok()) {
    std::cout << "postgresql part skipped: " << available.message() << "\n";
    return absl::OkStatus();
  }
  HG_ASSIGN_OR_RETURN(std::unique_ptr<testing::PostgresServer> db,
                      testing::PostgresServer::Start());
  HG_RETURN_IF_ERROR(db->CreateDatabase("police_nl"));
  return RunOnOff(flags, item, root + "/postgresql", {{}, db->Dsn("police_nl")},
                  {{}, ""}, "postgresql", results.postgresql);
}

// Part 6: the federation at a steady rate and nothing else: unary Push
// into A paced at --rate for --seconds per round (open loop).
absl::Status RunLatency(const Flags& flags, const v1::Item& item,
                        const std::string& root, Results& results) {
  HG_ASSIGN_OR_RETURN(auto trio, Trio::Start(root + "/latency", TrioOptions{}));
  HG_RETURN_IF_ERROR(Warm(*trio, item, flags));
  for (int i = 0; i < flags.rounds; ++i) {
    std::cout << "latency round " << i + 1 << "/" << flags.rounds << std::flush;
    HG_ASSIGN_OR_RETURN(
        FederatedLatency l,
        trio->OpenLoop(item, absl::StrCat("l", i + 1, "-"), flags.rate,
                       absl::Seconds(flags.latency_seconds)));
    std::cout << absl::StrFormat(
        ": answered -> visible at both p50 %.2f ms, p99 %.2f ms\n",
        Ms(l.answered_both_p50), Ms(l.answered_both_p99));
    results.latency.push_back(l);
  }
  return trio->Stop();
}

void PrintLatency(const Flags& flags, const Results& results, std::ostream& out) {
  const std::vector<FederatedLatency>& rounds = results.latency;
  out << absl::StrFormat(
      "\n6. Latency at a fixed rate: unary Push into A, open loop at %.0f "
      "items/s for %.1f s per round, nothing else running; ms\n",
      flags.rate, flags.latency_seconds);
  out << absl::StrFormat("%-7s %9s %9s   %9s %9s %9s %9s   %9s\n", "",
                         "Push (A)", "", "answered", "-> visible", "at the",
                         "last of B, C", "calls");
  out << absl::StrFormat("%-7s %9s %9s   %9s %9s %9s %9s   %9s\n", "round",
                         "p50", "p99", "p50", "p95", "p99", "max", "");
  auto row = [&](const std::string& label, auto value) {
    out << absl::StrFormat(
        "%-7s %9.2f %9.2f   %9.2f %9.2f %9.2f %9.2f   %9.0f\n", label,
        value([](const FederatedLatency& l) { return Ms(l.push.p50); }),
        value([](const FederatedLatency& l) { return Ms(l.push.p99); }),
        value([](const FederatedLatency& l) { return Ms(l.answered_both_p50); }),
        value([](const FederatedLatency& l) { return Ms(l.answered_both_p95); }),
        value([](const FederatedLatency& l) { return Ms(l.answered_both_p99); }),
        value([](const FederatedLatency& l) { return Ms(l.answered_both_max); }),
        value([](const FederatedLatency& l) { return 1.0 * l.push.calls; }));
  };
  for (size_t i = 0; i < rounds.size(); ++i) {
    row(absl::StrCat(i + 1), [&](auto field) { return field(rounds[i]); });
  }
  row("median", [&](auto field) { return MedianOf(rounds, field); });
  const double p99 = MedianOf(
      rounds, [](const FederatedLatency& l) { return Ms(l.answered_both_p99); });
  out << absl::StrFormat(
      "\nAim of issue 16 (informational): p99 Push answered -> visible at "
      "both partners %.2f ms at %.0f/s (aim <= 10 ms): %s\n",
      p99, flags.rate, p99 <= 10 ? "met" : "NOT met");
}

absl::Status Run(const Flags& flags) {
  HG_ASSIGN_OR_RETURN(const v1::Item item, LoadBenchItem(flags.item_file));
  HG_RETURN_IF_ERROR(ValidateItem(item));
  HG_RETURN_IF_ERROR(CheckReleasedToBoth(item));
  Results results;
  results.item_bytes = item.ByteSizeLong();
  results.load = LoadAverage();
  testing::TempDir dir;
  if (flags.federation()) {
    HG_RETURN_IF_ERROR(RunFederation(flags, item, dir.path(), results));
  }
  if (flags.audit()) {
    HG_RETURN_IF_ERROR(RunAudit(flags, item, dir.path(), results));
  }
  if (flags.batching()) {
    HG_RETURN_IF_ERROR(RunBatching(flags, item, dir.path(), results));
  }
  if (flags.postgresql()) {
    HG_RETURN_IF_ERROR(RunPostgresql(flags, item, dir.path(), results));
  }
  if (flags.latency()) {
    HG_RETURN_IF_ERROR(RunLatency(flags, item, dir.path(), results));
  }
  absl::StrAppend(&results.load, " / ", LoadAverage());
  if (flags.federation()) PrintFederation(flags, results, std::cout);
  if (flags.audit()) PrintAudit(flags, results, std::cout);
  if (flags.batching()) PrintBatching(flags, results, std::cout);
  if (flags.postgresql()) PrintPostgresql(flags, results, std::cout);
  if (flags.latency()) PrintLatency(flags, results, std::cout);
  std::cout << "Load average (1/5/15 min) at start and end: " << results.load
            << "\n";
  if (!flags.json_out.empty()) {
    std::ofstream out(flags.json_out, std::ios::trunc);
    out << Json(flags, results);
    if (!out) {
      return absl::UnavailableError(
          absl::StrCat("cannot write ", flags.json_out));
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace havengate::bench

int main(int argc, char** argv) {
  namespace bench = havengate::bench;
  // The child modes (bare server, gateway built into this binary); not
  // for users.
  if (std::optional<int> exit = bench::RunBareServerIfAsked(argc, argv)) {
    return *exit;
  }
  if (std::optional<int> exit = bench::RunBenchGatewayIfAsked(argc, argv)) {
    return *exit;
  }
  CLI::App app{
      "federation_bench: items/s from one client through gateway A to the "
      "inboxes of partners B and C against a bare mutual-TLS gRPC server in "
      "the same run; latency at a steady rate; and the federation's "
      "throughput with and without the audit."};
  bench::Flags flags;
  flags.AddTo(app, "Push this item (proto3 JSON) instead of the built-in "
                 "40-field alert; A's policy must release it to both partners");
  app.add_option("--only", flags.only,
                 "Run one part: federation, audit, batching, postgresql, or "
                 "latency (at --rate for --seconds per round, alone)")
      ->check(CLI::IsMember({"federation", "audit", "batching", "postgresql", "latency"}));
  return bench::ParseAndRun(
      app, argc, argv, "federation_bench", [&] { flags.ApplyQuick(); },
      [&] { return bench::Run(flags); });
}
