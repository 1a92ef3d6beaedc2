// scale_bench: a federation of up to 50 gateways on one machine (issue 16).
// See BENCHMARK.md beside this file ("Fifty gateways") for what is measured
// and how to read it.
//
//   scale_bench [--gateways 50] [--rounds 3] [--items 1000] [--rate 100]
//               [--latency-seconds 3] [--backlog 50] [--mesh 20]
//               [--hubs 5] [--members 9] [--json-out FILE] [--svg-out FILE]
//   scale_bench --quick   # 6 gateways, a mesh of 4, 2 hubs x 2 members
//
// Every gateway is a real havengate process with its own CA, durable SQLite
// store and port on 127.0.0.1 (the end-to-end harness). Parts:
// 1. Fan-out: one origin peers with all the others and shares each item
//    with the first k of them (k = 1, 5, 10, 25, 49; a rule per k selects
//    the item by its location): CPU per item at the origin, items/s until
//    visible at all k, and latency at a modest fixed rate (Push due ->
//    visible at the last of the k). k = 1 is the baseline of the same run.
// 2. Footprint: RSS, threads and open files of the origin (all peers)
//    against a partner (one peer), before traffic and after.
// 3. Restart: the partners stop, the origin queues a backlog for each, the
//    origin stops; all start again: time until every backlog is delivered.
// 4. A full mesh: every gateway shares with every other.
// 5. Regional hubs: members share with their hub; hubs re-share to other
//    hubs what the originator's reshare_to allows: time until every allowed
//    gateway holds every item, and a check that no other gateway holds any.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "policy/policy.h"
#include "proto/status_macros.h"
#include "tests/bench/bench_alert.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/inbox_watch.h"
#include "tests/bench/load.h"
#include "tests/bench/scale_plot.h"
#include "tests/testing/harness.h"

namespace havengate::bench {
namespace {

namespace fs = std::filesystem;

// A location per fan-out width: the origin's rule for k partners matches
// items at that location.
const char* const kLocations[] = {"NLRTM", "BEANR", "DEHAM", "FRLEH", "ESVLC",
                                  "ITGOA", "PLGDN"};

constexpr char kNoCallerLimits[] =
    "limits:\n  per_caller: {calls_per_second: 0, items_per_second: 0,"
    " max_concurrent_calls: 0}\n";

struct Flags {
  bool quick = false;
  int gateways = 50;
  int rounds = 3;
  int items = 1000;
  double rate = 100;
  double latency_seconds = 3;
  int backlog = 50;
  int mesh = 20;
  int hubs = 5;
  int members = 9;
  std::string json_out;
  std::string svg_out;
  std::string only;  // "", "fanout" (with footprint and restart), "mesh", "hubs"
  bool part(const char* name) const { return only.empty() || only == name; }

  void ApplyQuick() {
    if (!quick) return;
    gateways = 6;
    rounds = 1;
    items = 200;
    latency_seconds = 1;
    backlog = 20;
    mesh = 4;
    hubs = 2;
    members = 2;
  }
};

// --- Policies ----------------------------------------------------------------

struct Rule {
  std::string name;
  std::vector<std::string> to;
  std::string when;  // optional
  bool forward_received = false;
};

std::string PolicyYaml(const std::string& org, const std::vector<std::string>& partners,
                       const std::vector<Rule>& rules,
                       const std::vector<std::string>& accept_from) {
  std::string yaml = absl::StrCat("organisation: ", org, "\nversion: \"scale-1\"\npartners:\n");
  for (const std::string& p : partners) {
    absl::StrAppend(&yaml, "  - {id: ", p, ", name: \"", p,
                    "\", kind: POLICE, country: NL}\n");
  }
  if (!rules.empty()) absl::StrAppend(&yaml, "rules:\n");
  for (const Rule& r : rules) {
    absl::StrAppend(&yaml, "  - name: ", r.name, "\n    to: [", absl::StrJoin(r.to, ", "),
                    "]\n    kinds: [ALERT]\n    allow_restricted: [H2]\n    share: [\"*\"]\n");
    if (!r.when.empty()) absl::StrAppend(&yaml, "    when: ", r.when, "\n");
    if (r.forward_received) absl::StrAppend(&yaml, "    forward_received: true\n");
  }
  if (!accept_from.empty()) {
    absl::StrAppend(&yaml, "inbound:\n  accept:\n    - from: [",
                    absl::StrJoin(accept_from, ", "), "]\n");
  }
  return yaml;
}

// --- A process's footprint -------------------------------------------------------

struct Footprint {
  double rss_mib = 0;
  int threads = 0;
  int fds = 0;
};

Footprint FootprintOf(pid_t pid) {
  Footprint f;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      double kib = 0;
      status >> kib;
      f.rss_mib = kib / 1024;
    } else if (key == "Threads:") {
      status >> f.threads;
    }
    std::string rest;
    std::getline(status, rest);
  }
  std::error_code error;
  for (auto it = fs::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), error);
       !error && it != fs::directory_iterator(); it.increment(error)) {
    ++f.fds;
  }
  return f;
}

// --- A fleet of gateways ---------------------------------------------------------

struct Node {
  std::unique_ptr<testing::TestOrg> org;
  int port = 0;
  std::string policy_file;
  std::vector<std::string> peers;
  std::unique_ptr<testing::GatewayProcess> gateway;
  std::unique_ptr<client::Client> client;
  std::unique_ptr<InboxWatch> watch;
};

class Fleet {
 public:
  explicit Fleet(std::string root) : root_(std::move(root)) {}
  ~Fleet() {
    for (auto& [id, node] : nodes_) Hangup(node);
  }

  // Creates an organisation (CA, certificates) and picks its port.
  absl::Status Add(const std::string& id) {
    Node node;
    HG_ASSIGN_OR_RETURN(testing::TestOrg org,
                        testing::CreateTestOrg(root_, id, absl::StrCat(id, ".example")));
    node.org = std::make_unique<testing::TestOrg>(std::move(org));
    do {
      node.port = testing::PickUnusedPort();
    } while (!ports_.insert(node.port).second);
    nodes_[id] = std::move(node);
    return absl::OkStatus();
  }

  absl::Status Configure(const std::string& id, const std::vector<std::string>& peers,
                         const std::string& policy_yaml) {
    Node& node = nodes_.at(id);
    node.peers = peers;
    std::string dir = node.org->dir + "/policy";
    fs::create_directories(dir);
    node.policy_file = dir + "/policy.yaml";
    std::ofstream(node.policy_file, std::ios::trunc) << policy_yaml;
    return policy::CreateMissingKeyFiles(node.policy_file).status();
  }

  // Starts the gateway and connects its client and inbox watch.
  absl::Status Start(const std::string& id) {
    Node& node = nodes_.at(id);
    testing::GatewaySpec spec;
    spec.org = node.org.get();
    spec.port = node.port;
    spec.policy_file = node.policy_file;
    for (const std::string& peer : node.peers) {
      spec.peers.push_back({nodes_.at(peer).org.get(), nodes_.at(peer).port});
    }
    spec.extra_yaml = kNoCallerLimits;
    HG_ASSIGN_OR_RETURN(node.gateway, testing::GatewayProcess::Start(spec));
    return Connect(node);
  }

  // Stops the gateway (its client and watch hang up first).
  absl::Status Stop(const std::string& id) {
    Node& node = nodes_.at(id);
    Hangup(node);
    absl::StatusOr<int> exit = node.gateway->Terminate();
    if (!exit.ok() || *exit != 0) {
      return absl::InternalError(absl::StrCat(id, " did not stop cleanly; its log:\n",
                                              node.gateway->ReadLog()));
    }
    return absl::OkStatus();
  }

  absl::Status Restart(const std::string& id) {
    Node& node = nodes_.at(id);
    HG_RETURN_IF_ERROR(node.gateway->Restart());
    return Connect(node);
  }

  absl::Status StopAll() {
    for (auto& [id, node] : nodes_) Hangup(node);
    for (auto& [id, node] : nodes_) {
      if (node.gateway != nullptr && node.gateway->running()) HG_RETURN_IF_ERROR(Stop(id));
    }
    return absl::OkStatus();
  }

  Node& operator[](const std::string& id) { return nodes_.at(id); }
  pid_t pid(const std::string& id) { return nodes_.at(id).gateway->pid(); }
  double Cpu(const std::vector<std::string>& ids) {
    double total = 0;
    for (const std::string& id : ids) total += ProcessCpuSeconds(pid(id));
    return total;
  }

  // Waits until each of `ids` shows `count` items of `prefix`; returns the
  // latest time one became visible.
  absl::StatusOr<Clock::time_point> AwaitAll(const std::vector<std::string>& ids,
                                             const std::string& prefix, int count) {
    const absl::Duration timeout = absl::Seconds(90) + count * absl::Milliseconds(20);
    Clock::time_point last;
    for (const std::string& id : ids) {
      absl::Status seen = nodes_.at(id).watch->WaitForItems(prefix, count, timeout);
      if (!seen.ok()) {
        return absl::Status(seen.code(), absl::StrCat(id, ": ", seen.message(),
                                                      "\n", nodes_.at(id).gateway->ReadLog()));
      }
      last = std::max(last, *nodes_.at(id).watch->LastSeen(prefix));
    }
    return last;
  }

 private:
  absl::Status Connect(Node& node) {
    HG_ASSIGN_OR_RETURN(node.client, testing::ConnectClient(*node.org, node.port));
    node.watch = std::make_unique<InboxWatch>(node.client->channel());
    return absl::OkStatus();
  }
  static void Hangup(Node& node) {
    node.watch.reset();
    node.client.reset();
  }

  std::string root_;
  std::set<int> ports_;
  std::map<std::string, Node> nodes_;
};

std::string Id(const char* prefix, int n) { return absl::StrFormat("%s-%02d", prefix, n); }

v1::Item ItemAt(const std::string& unlocode) {
  v1::Item item = MakeBenchAlert();
  item.mutable_alert()->mutable_location()->set_unlocode(unlocode);
  return item;
}

// --- 1-3. Fan-out, footprint, restart ----------------------------------------------

struct FanoutPoint {
  int partners = 0;
  double origin_cpu_us = 0;    // per item
  double partners_cpu_us = 0;  // per item, over the k partners together
  double items_per_second = 0;
  double p50_ms = 0, p99_ms = 0;  // Push due -> visible at the last partner
};

struct Results {
  std::string load;
  int gateways = 0;
  std::vector<FanoutPoint> fanout;  // medians per k
  Footprint origin_idle, partner_idle, origin_busy, partner_busy;
  int origin_peers = 0;
  double restart_seconds = 0;
  double restart_start_seconds = 0;
  int mesh = 0;
  double mesh_seconds = 0;
  int mesh_deliveries = 0;
  int hubs = 0, members = 0;
  double hubs_seconds = 0;
  int hubs_items = 0;
  int hubs_strays = -1;  // items held where they were not allowed
};

absl::Status RunFanout(const Flags& flags, const std::string& root, Results& results) {
  Fleet fleet(root + "/fanout");
  const int n = flags.gateways;
  std::vector<std::string> partners;
  for (int i = 1; i < n; ++i) partners.push_back(Id("gw", i));
  const std::string origin = Id("gw", 0);
  std::vector<int> widths;
  for (int k : {1, 5, 10, 25, 49}) {
    if (k <= n - 1) widths.push_back(k);
  }
  if (widths.back() != n - 1) widths.push_back(n - 1);
  std::cout << "fan-out: creating " << n << " organisations" << std::flush;
  HG_RETURN_IF_ERROR(fleet.Add(origin));
  for (const std::string& p : partners) HG_RETURN_IF_ERROR(fleet.Add(p));
  std::vector<Rule> rules;
  for (size_t w = 0; w < widths.size(); ++w) {
    rules.push_back({absl::StrCat("first-", widths[w]),
                     std::vector<std::string>(partners.begin(), partners.begin() + widths[w]),
                     absl::StrCat("location.unlocode == \"", kLocations[w], "\"")});
  }
  HG_RETURN_IF_ERROR(fleet.Configure(origin, partners, PolicyYaml(origin, partners, rules, {})));
  for (const std::string& p : partners) {
    HG_RETURN_IF_ERROR(fleet.Configure(p, {origin}, PolicyYaml(p, {origin}, {}, {origin})));
  }
  std::cout << ", starting them" << std::flush;
  for (const std::string& p : partners) HG_RETURN_IF_ERROR(fleet.Start(p));
  HG_RETURN_IF_ERROR(fleet.Start(origin));
  absl::SleepFor(absl::Seconds(1));
  results.origin_peers = n - 1;
  results.origin_idle = FootprintOf(fleet.pid(origin));
  results.partner_idle = FootprintOf(fleet.pid(partners.back()));
  std::cout << "\n";

  // Warm every link (and the origin) before measuring.
  HG_RETURN_IF_ERROR(
      StreamWithClient(*fleet[origin].client, ItemAt(kLocations[widths.size() - 1]), "warm",
                       std::min(flags.items, 200), 256)
          .status());
  HG_RETURN_IF_ERROR(fleet.AwaitAll(partners, "warm", std::min(flags.items, 200)).status());

  std::map<int, std::vector<FanoutPoint>> rounds;
  for (int r = 0; r < flags.rounds; ++r) {
    for (size_t w = 0; w < widths.size(); ++w) {
      const int k = widths[w];
      const std::vector<std::string> to(partners.begin(), partners.begin() + k);
      const v1::Item item = ItemAt(kLocations[w]);
      FanoutPoint point;
      point.partners = k;
      const std::string prefix = absl::StrCat("k", k, "r", r);
      const double origin_cpu = fleet.Cpu({origin});
      const double partners_cpu = fleet.Cpu(to);
      HG_ASSIGN_OR_RETURN(StreamResult stream,
                          StreamWithClient(*fleet[origin].client, item, prefix, flags.items, 1024));
      HG_ASSIGN_OR_RETURN(Clock::time_point visible, fleet.AwaitAll(to, prefix, flags.items));
      point.origin_cpu_us = (fleet.Cpu({origin}) - origin_cpu) * 1e6 / flags.items;
      point.partners_cpu_us = (fleet.Cpu(to) - partners_cpu) * 1e6 / flags.items;
      point.items_per_second =
          flags.items / absl::ToDoubleSeconds(Since(stream.started, visible));

      std::vector<PushTiming> timings;
      const std::string lprefix = absl::StrCat("l", k, "r", r);
      HG_RETURN_IF_ERROR(OpenLoopPush(fleet[origin].client->channel(), item, lprefix,
                                      flags.rate, absl::Seconds(flags.latency_seconds),
                                      &timings)
                             .status());
      const int calls = static_cast<int>(timings.size());
      HG_RETURN_IF_ERROR(fleet.AwaitAll(to, lprefix, calls).status());
      std::vector<Clock::time_point> last(calls);
      for (const std::string& id : to) {
        auto seen = fleet[id].watch->SeenTimes(lprefix, calls);
        for (int i = 0; i < calls; ++i) last[i] = std::max(last[i], *seen[i]);
      }
      std::vector<absl::Duration> latency;
      for (int i = 0; i < calls; ++i) latency.push_back(Since(timings[i].scheduled, last[i]));
      std::sort(latency.begin(), latency.end());
      point.p50_ms = Ms(Percentile(latency, 0.5));
      point.p99_ms = Ms(Percentile(latency, 0.99));
      std::cout << absl::StrFormat(
          "fan-out round %d, %2d partners: %7.0f items/s, origin %6.1f us/item, "
          "p99 %.1f ms\n",
          r + 1, k, point.items_per_second, point.origin_cpu_us, point.p99_ms);
      rounds[k].push_back(point);
    }
  }
  for (int k : widths) {
    const auto& rs = rounds[k];
    FanoutPoint m;
    m.partners = k;
    m.origin_cpu_us = MedianOf(rs, [](const FanoutPoint& p) { return p.origin_cpu_us; });
    m.partners_cpu_us = MedianOf(rs, [](const FanoutPoint& p) { return p.partners_cpu_us; });
    m.items_per_second = MedianOf(rs, [](const FanoutPoint& p) { return p.items_per_second; });
    m.p50_ms = MedianOf(rs, [](const FanoutPoint& p) { return p.p50_ms; });
    m.p99_ms = MedianOf(rs, [](const FanoutPoint& p) { return p.p99_ms; });
    results.fanout.push_back(m);
  }
  results.origin_busy = FootprintOf(fleet.pid(origin));
  results.partner_busy = FootprintOf(fleet.pid(partners.back()));

  // Restart with a backlog for every partner.
  std::cout << "restart: stopping the partners, queueing " << flags.backlog
            << " items for each" << std::flush;
  for (const std::string& p : partners) HG_RETURN_IF_ERROR(fleet.Stop(p));
  HG_RETURN_IF_ERROR(StreamWithClient(*fleet[origin].client,
                                      ItemAt(kLocations[widths.size() - 1]), "backlog",
                                      flags.backlog, 256)
                         .status());
  HG_RETURN_IF_ERROR(fleet.Stop(origin));
  std::cout << ", starting all again\n";
  for (const std::string& p : partners) HG_RETURN_IF_ERROR(fleet.Restart(p));
  const Clock::time_point restarted = Clock::now();
  HG_RETURN_IF_ERROR(fleet.Restart(origin));
  results.restart_start_seconds = absl::ToDoubleSeconds(Since(restarted, Clock::now()));
  HG_ASSIGN_OR_RETURN(Clock::time_point delivered,
                      fleet.AwaitAll(partners, "backlog", flags.backlog));
  results.restart_seconds = absl::ToDoubleSeconds(Since(restarted, delivered));
  return fleet.StopAll();
}

// --- 4. Full mesh ------------------------------------------------------------------

// Every gateway streams `per_gateway` items at once; returns when the last
// gateway sees the last item of every other.
absl::Status RunMesh(const Flags& flags, const std::string& root, Results& results) {
  Fleet fleet(root + "/mesh");
  std::vector<std::string> ids;
  for (int i = 0; i < flags.mesh; ++i) ids.push_back(Id("mesh", i));
  std::cout << "mesh of " << flags.mesh << ": starting" << std::flush;
  for (const std::string& id : ids) HG_RETURN_IF_ERROR(fleet.Add(id));
  for (const std::string& id : ids) {
    std::vector<std::string> others;
    for (const std::string& o : ids) {
      if (o != id) others.push_back(o);
    }
    HG_RETURN_IF_ERROR(fleet.Configure(
        id, others, PolicyYaml(id, others, {{"to-everyone", others, ""}}, others)));
  }
  for (const std::string& id : ids) HG_RETURN_IF_ERROR(fleet.Start(id));
  const int per_gateway = 20;
  std::cout << ", each pushes " << per_gateway << " items\n";
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> pushers;
  std::vector<absl::Status> pushed(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    pushers.emplace_back([&, i] {
      pushed[i] = StreamWithClient(*fleet[ids[i]].client, ItemAt("NLRTM"), ids[i],
                                   per_gateway, 64)
                      .status();
    });
  }
  for (std::thread& t : pushers) t.join();
  for (const absl::Status& s : pushed) HG_RETURN_IF_ERROR(s);
  Clock::time_point last = start;
  for (const std::string& from : ids) {
    std::vector<std::string> others;
    for (const std::string& o : ids) {
      if (o != from) others.push_back(o);
    }
    HG_ASSIGN_OR_RETURN(Clock::time_point seen, fleet.AwaitAll(others, from, per_gateway));
    last = std::max(last, seen);
  }
  results.mesh = flags.mesh;
  results.mesh_deliveries = flags.mesh * (flags.mesh - 1) * per_gateway;
  results.mesh_seconds = absl::ToDoubleSeconds(Since(start, last));
  return fleet.StopAll();
}

// --- 5. Regional hubs --------------------------------------------------------------

absl::Status RunHubs(const Flags& flags, const std::string& root, Results& results) {
  Fleet fleet(root + "/hubs");
  const int h = flags.hubs, m = flags.members;
  std::vector<std::string> hubs, all;
  for (int i = 0; i < h; ++i) hubs.push_back(Id("hub", i));
  auto member = [](int hub, int n) { return absl::StrFormat("m-%d-%d", hub, n); };
  std::cout << "hubs: " << h << " hubs x " << m << " members: starting" << std::flush;
  for (const std::string& id : hubs) {
    HG_RETURN_IF_ERROR(fleet.Add(id));
    all.push_back(id);
  }
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < m; ++j) {
      HG_RETURN_IF_ERROR(fleet.Add(member(i, j)));
      all.push_back(member(i, j));
    }
  }
  for (int i = 0; i < h; ++i) {
    std::vector<std::string> members, others, peers;
    for (int j = 0; j < m; ++j) members.push_back(member(i, j));
    for (const std::string& o : hubs) {
      if (o != hubs[i]) others.push_back(o);
    }
    peers = members;
    peers.insert(peers.end(), others.begin(), others.end());
    // A hub passes what its members send on to the other hubs (as far as
    // each item's originator allows).
    HG_RETURN_IF_ERROR(fleet.Configure(
        hubs[i], peers,
        PolicyYaml(hubs[i], peers, {{"members-to-hubs", others, "", true}}, peers)));
    for (const std::string& id : members) {
      HG_RETURN_IF_ERROR(fleet.Configure(
          id, {hubs[i]}, PolicyYaml(id, {hubs[i]}, {{"to-hub", {hubs[i]}, ""}}, {hubs[i]})));
    }
  }
  for (const std::string& id : hubs) HG_RETURN_IF_ERROR(fleet.Start(id));
  for (const std::string& id : all) {
    if (fleet[id].gateway == nullptr) HG_RETURN_IF_ERROR(fleet.Start(id));
  }
  const int per_member = 5;
  std::cout << ", each member pushes " << per_member << " items\n";
  // Member (i, j) allows re-sharing to the next one or two hubs only.
  std::map<std::string, std::set<std::string>> allowed;
  std::vector<std::thread> pushers;
  std::vector<absl::Status> pushed;
  std::vector<std::pair<std::string, v1::Item>> plan;
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < m; ++j) {
      v1::Item item = ItemAt("NLRTM");
      std::set<std::string>& who = allowed[member(i, j)];
      who = {member(i, j), hubs[i]};
      for (int step = 1; step <= std::min(2, h - 1); ++step) {
        const std::string& to = hubs[(i + step) % h];
        item.mutable_classification()->add_reshare_to(to);
        who.insert(to);
      }
      plan.push_back({member(i, j), item});
    }
  }
  pushed.resize(plan.size());
  const Clock::time_point start = Clock::now();
  for (size_t p = 0; p < plan.size(); ++p) {
    pushers.emplace_back([&, p] {
      pushed[p] = StreamWithClient(*fleet[plan[p].first].client, plan[p].second,
                                   plan[p].first, per_member, 16)
                      .status();
    });
  }
  for (std::thread& t : pushers) t.join();
  for (const absl::Status& s : pushed) HG_RETURN_IF_ERROR(s);
  Clock::time_point last = start;
  for (const auto& [from, who] : allowed) {
    HG_ASSIGN_OR_RETURN(Clock::time_point seen,
                        fleet.AwaitAll(std::vector<std::string>(who.begin(), who.end()),
                                       from, per_member));
    last = std::max(last, seen);
  }
  results.hubs = h;
  results.members = m;
  results.hubs_items = static_cast<int>(plan.size()) * per_member;
  results.hubs_seconds = absl::ToDoubleSeconds(Since(start, last));
  // Anything that was going to stray has had the time the allowed copies
  // took, and a second more.
  absl::SleepFor(absl::Seconds(1));
  results.hubs_strays = 0;
  for (const auto& [from, who] : allowed) {
    for (const std::string& id : all) {
      if (who.count(id) > 0) continue;
      if (fleet[id].watch->LastSeen(from).has_value()) {
        ++results.hubs_strays;
        std::cout << "  STRAY: " << id << " holds items of " << from << "\n";
      }
    }
  }
  return fleet.StopAll();
}

// --- Report ------------------------------------------------------------------------

void PrintFanout(const Results& r, std::ostream& out) {
  out << absl::StrFormat(
      "\n1. Fan-out: one origin, %d gateways; the origin shares each item with k "
      "partners (medians)\n",
      r.gateways);
  out << absl::StrFormat("%9s %12s %14s %16s %18s %12s %9s %9s\n", "partners",
                         "items/s", "origin us/it", "origin us/copy", "per copy vs k=1",
                         "partners us", "p50 ms", "p99 ms");
  const FanoutPoint& base = r.fanout.front();
  for (const FanoutPoint& p : r.fanout) {
    const double per_copy = p.origin_cpu_us / p.partners;
    out << absl::StrFormat("%9d %12.0f %14.1f %16.1f %17.2fx %12.1f %9.2f %9.2f\n",
                           p.partners, p.items_per_second, p.origin_cpu_us, per_copy,
                           per_copy / (base.origin_cpu_us / base.partners),
                           p.partners_cpu_us, p.p50_ms, p.p99_ms);
  }
  const double rss_per_peer = (r.origin_busy.rss_mib - r.partner_busy.rss_mib) /
                              std::max(1, r.origin_peers - 1);
  const double threads_per_peer =
      static_cast<double>(r.origin_busy.threads - r.partner_busy.threads) /
      std::max(1, r.origin_peers - 1);
  out << absl::StrFormat(
      "\n2. Footprint (origin: %d peers; partner: 1 peer)\n%-22s %10s %8s %6s\n", r.origin_peers,
      "", "RSS MiB", "threads", "fds");
  auto row = [&](const char* label, const Footprint& f) {
    out << absl::StrFormat("%-22s %10.1f %8d %6d\n", label, f.rss_mib, f.threads, f.fds);
  };
  row("origin, before traffic", r.origin_idle);
  row("partner, before", r.partner_idle);
  row("origin, links open", r.origin_busy);
  row("partner, after", r.partner_busy);
  out << absl::StrFormat("per peer (origin - partner) / %d: %.2f MiB, %.2f threads, %.2f fds\n",
                         r.origin_peers - 1, rss_per_peer, threads_per_peer,
                         static_cast<double>(r.origin_busy.fds - r.partner_busy.fds) /
                             std::max(1, r.origin_peers - 1));
  out << absl::StrFormat(
      "\n3. Restart: %d peers with a backlog each; the origin was up %.2f s after "
      "the restart began, every backlog delivered after %.2f s\n",
      r.origin_peers, r.restart_start_seconds, r.restart_seconds);
}

void Print(const Results& r, std::ostream& out) {
  if (!r.fanout.empty()) PrintFanout(r, out);
  if (r.mesh > 0) {
    out << absl::StrFormat(
      "\n4. Full mesh of %d: %d deliveries visible everywhere %.2f s after the "
      "first push (%.0f deliveries/s)\n",
      r.mesh, r.mesh_deliveries, r.mesh_seconds, r.mesh_deliveries / r.mesh_seconds);
  }
  if (r.hubs > 0) {
    out << absl::StrFormat(
      "\n5. Hubs: %d hubs x %d members: %d items at every allowed gateway %.2f s "
      "after the first push; held where not allowed: %d\n",
      r.hubs, r.members, r.hubs_items, r.hubs_seconds, r.hubs_strays);
  }
  out << "Load average (1/5/15 min) at start and end: " << r.load << "\n";
}

std::string Json(const Results& r) {
  std::vector<std::string> points;
  for (const FanoutPoint& p : r.fanout) {
    points.push_back(absl::StrFormat(
        R"(    {"partners": %d, "items_per_s": %.1f, "origin_cpu_us_per_item": %.2f, )"
        R"("partners_cpu_us_per_item": %.2f, "p50_ms": %.3f, "p99_ms": %.3f})",
        p.partners, p.items_per_second, p.origin_cpu_us, p.partners_cpu_us, p.p50_ms,
        p.p99_ms));
  }
  auto fp = [](const Footprint& f) {
    return absl::StrFormat(R"({"rss_mib": %.2f, "threads": %d, "fds": %d})", f.rss_mib,
                           f.threads, f.fds);
  };
  return absl::StrFormat(
      "{\n  \"load_average\": \"%s\", \"gateways\": %d,\n  \"fanout\": [\n%s\n  ],\n"
      "  \"footprint\": {\"origin_peers\": %d, \"origin_idle\": %s, \"partner_idle\": %s, "
      "\"origin_busy\": %s, \"partner_busy\": %s},\n"
      "  \"restart\": {\"origin_up_s\": %.3f, \"all_delivered_s\": %.3f},\n"
      "  \"mesh\": {\"gateways\": %d, \"deliveries\": %d, \"seconds\": %.3f},\n"
      "  \"hubs\": {\"hubs\": %d, \"members\": %d, \"items\": %d, \"seconds\": %.3f, "
      "\"strays\": %d}\n}\n",
      r.load, r.gateways, absl::StrJoin(points, ",\n"), r.origin_peers, fp(r.origin_idle),
      fp(r.partner_idle), fp(r.origin_busy), fp(r.partner_busy), r.restart_start_seconds,
      r.restart_seconds, r.mesh, r.mesh_deliveries, r.mesh_seconds, r.hubs, r.members,
      r.hubs_items, r.hubs_seconds, r.hubs_strays);
}

std::string Svg(const Results& r) {
  std::vector<PlotSeries> cpu(2), rate(1), latency(1);
  cpu[0].name = "origin CPU us per item";
  cpu[1].name = "origin CPU us per item, linear from k=1";
  rate[0].name = "items/s until visible at all k";
  latency[0].name = "p99 ms, Push due -> visible at the last partner";
  const FanoutPoint& base = r.fanout.front();
  for (const FanoutPoint& p : r.fanout) {
    cpu[0].points.push_back({static_cast<double>(p.partners), p.origin_cpu_us});
    cpu[1].points.push_back({static_cast<double>(p.partners),
                             base.origin_cpu_us / base.partners * p.partners});
    rate[0].points.push_back({static_cast<double>(p.partners), p.items_per_second});
    latency[0].points.push_back({static_cast<double>(p.partners), p.p99_ms});
  }
  return SvgPlots(absl::StrCat("One origin sharing with k of ", r.gateways - 1,
                               " partners (load average ", r.load, ")"),
                  "partners k",
                  {{"CPU at the origin per item (us)", cpu},
                   {"throughput (items/s)", rate},
                   {absl::StrCat("latency at a fixed rate (ms)"), latency}});
}

absl::Status Run(const Flags& flags) {
  Results results;
  results.gateways = flags.gateways;
  results.load = LoadAverage();
  testing::TempDir dir;
  if (flags.part("fanout")) HG_RETURN_IF_ERROR(RunFanout(flags, dir.path(), results));
  if (flags.part("mesh")) HG_RETURN_IF_ERROR(RunMesh(flags, dir.path(), results));
  if (flags.part("hubs")) HG_RETURN_IF_ERROR(RunHubs(flags, dir.path(), results));
  absl::StrAppend(&results.load, " / ", LoadAverage());
  Print(results, std::cout);
  if (!flags.json_out.empty()) {
    std::ofstream out(flags.json_out, std::ios::trunc);
    out << Json(results);
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", flags.json_out));
  }
  if (!flags.svg_out.empty() && !results.fanout.empty()) {
    std::ofstream out(flags.svg_out, std::ios::trunc);
    out << Svg(results);
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", flags.svg_out));
  }
  if (results.hubs_strays > 0) {
    return absl::InternalError("an item was held by a gateway its originator did not allow");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace havengate::bench

int main(int argc, char** argv) {
  namespace bench = havengate::bench;
  CLI::App app{
      "scale_bench: up to 50 gateways on one machine - fan-out from one origin to "
      "1..49 partners, footprint per peer, restart with backlogs, a full mesh and "
      "regional hubs."};
  bench::Flags flags;
  app.add_flag("--quick", flags.quick, "Smoke run: 6 gateways, one round, small mesh and hubs");
  app.add_option("--gateways", flags.gateways, "Gateways in the fan-out (origin included)")
      ->check(CLI::Range(2, 50));
  app.add_option("--rounds", flags.rounds, "Rounds of the fan-out (medians)")
      ->check(CLI::Range(1, 20));
  app.add_option("--items", flags.items, "Items per fan-out stream")->check(CLI::Range(10, 100000));
  app.add_option("--rate", flags.rate, "Push calls per second for the latency")
      ->check(CLI::Range(1.0, 5000.0));
  app.add_option("--latency-seconds", flags.latency_seconds, "Duration of the latency run")
      ->check(CLI::Range(0.5, 60.0));
  app.add_option("--backlog", flags.backlog, "Items queued per peer before the restart")
      ->check(CLI::Range(1, 10000));
  app.add_option("--mesh", flags.mesh, "Gateways in the full mesh")->check(CLI::Range(2, 50));
  app.add_option("--hubs", flags.hubs, "Regional hubs")->check(CLI::Range(2, 10));
  app.add_option("--members", flags.members, "Members per hub")->check(CLI::Range(1, 20));
  app.add_option("--json-out", flags.json_out, "Also write the figures as JSON");
  app.add_option("--svg-out", flags.svg_out, "Also plot the fan-out figures as SVG");
  app.add_option("--only", flags.only, "Run one part: fanout (with footprint and restart), mesh or hubs")
      ->check(CLI::IsMember({"fanout", "mesh", "hubs"}));
  // The streams are copies of one alert: with the template's containers
  // and vessels, each copy would be a hit on up to 100 earlier ones per
  // key at every gateway, and the figures would measure hits. Every copy
  // gets keys of its own (the index is still looked up for each).
  bench::SetDistinctKeys(true);
  return bench::ParseAndRun(
      app, argc, argv, "scale_bench", [&] { flags.ApplyQuick(); },
      [&] { return bench::Run(flags); });
}
