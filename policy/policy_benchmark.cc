// Benchmarks of the policy engine (reproduce: see BENCHMARK.md).
//
//  - BM_DecideRealisticAlert: the Dutch police demo policy deciding the
//    PIN-code fraud sample (about 40 populated fields, two containers, two
//    persons) for its 4 partners, with pseudonymise, truncate_time and
//    round_geo transforms.
//  - BM_CopySerializeFloor: CopyFrom + SerializeToString of the same item 4
//    times, the floor any projection costs; compare in the same run.
//  - BM_CompilePolicy: compiling 1,000 rules over 100 partners (from YAML
//    text, and from a parsed message).
//  - BM_DecideForOnePartner/<total rules>: one partner's decision while the
//    policy holds 100 .. 10,000 rules for other partners (the partner's own
//    rules stay the same): the time must not grow with the total.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "policy/policy.h"
#include "policy/policy_testing.h"

namespace havengate::policy {
namespace {

struct Fixture {
  testing::TempDir dir;
  std::shared_ptr<const CompiledPolicy> police;
  v1::Item alert;

  Fixture() {
    std::string path = testing::CopyDeployPolicy("police-nl", dir);
    auto loaded = LoadPolicyFile(path, nullptr);
    if (!loaded.ok()) std::abort();
    police = *loaded;
    alert = testing::SampleItem("pin_code_fraud_rtm.json");
  }
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_DecideRealisticAlert(benchmark::State& state) {
  Fixture& f = Shared();
  int released = 0;
  for (auto _ : state) {
    Decision d = f.police->Decide(f.alert);
    benchmark::DoNotOptimize(d);
    released = 0;
    for (const PartnerDecision& p : d.partners) released += p.released;
  }
  state.counters["partners_released"] = released;
}
BENCHMARK(BM_DecideRealisticAlert);

void BM_CopySerializeFloor(benchmark::State& state) {
  Fixture& f = Shared();
  for (auto _ : state) {
    for (int i = 0; i < 4; ++i) {
      v1::Item copy;
      copy.CopyFrom(f.alert);
      std::string bytes;
      copy.SerializeToString(&bytes);
      benchmark::DoNotOptimize(bytes);
    }
  }
}
BENCHMARK(BM_CopySerializeFloor);

// The realistic decision plus serialising what each partner receives, as the
// gateway does before queueing.
void BM_DecideAndSerialize(benchmark::State& state) {
  Fixture& f = Shared();
  for (auto _ : state) {
    Decision d = f.police->Decide(f.alert);
    for (const PartnerDecision& p : d.partners) {
      std::string bytes;
      p.projected.SerializeToString(&bytes);
      benchmark::DoNotOptimize(bytes);
    }
  }
}
BENCHMARK(BM_DecideAndSerialize);

void BM_DecideWithExplanation(benchmark::State& state) {
  Fixture& f = Shared();
  DecideOptions options;
  options.explain = true;
  for (auto _ : state) {
    Decision d = f.police->Decide(f.alert, options);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideWithExplanation);

// `rules` rules over `partners` partners; partner-0 is named by exactly the
// first 10 rules, whatever the total.
std::string LargePolicy(int rules, int partners) {
  std::string yaml = "organisation: police-nl\nversion: large\npartners:\n";
  for (int p = 0; p < partners; ++p) absl::StrAppend(&yaml, "  - id: partner-", p, "\n");
  yaml += "rules:\n";
  for (int r = 0; r < rules; ++r) {
    int a = r < 10 ? 0 : 1 + r % (partners - 1);
    int b = r < 10 ? 0 : 1 + (r * 7 + 3) % (partners - 1);
    absl::StrAppend(&yaml, "  - name: rule-", r, "\n    to: [partner-", a, ", partner-", b,
                    "]\n    kinds: [ALERT]\n    when: severity >= HIGH && ",
                    "containers.exists(c, c.port_of_loading == \"P", r % 50, "\")\n",
                    "    share: [title, containers.number, persons.nationality]\n");
  }
  return yaml;
}

void BM_CompilePolicyFromYaml(benchmark::State& state) {
  std::string yaml = LargePolicy(1000, 100);
  testing::TempDir dir;
  for (auto _ : state) {
    auto p = LoadPolicyText(yaml, "large.yaml", dir.path(), nullptr);
    if (!p.ok()) state.SkipWithError("policy did not load");
    benchmark::DoNotOptimize(p);
  }
  state.counters["rules"] = 1000;
  state.counters["partners"] = 100;
}
BENCHMARK(BM_CompilePolicyFromYaml)->Unit(benchmark::kMillisecond);

void BM_CompilePolicyFromMessage(benchmark::State& state) {
  testing::TempDir dir;
  auto loaded = LoadPolicyText(LargePolicy(1000, 100), "large.yaml", dir.path(), nullptr);
  if (!loaded.ok()) std::abort();
  v1::SharingPolicy message = (*loaded)->source();
  for (auto _ : state) {
    auto p = CompilePolicy(message, "large", dir.path(), nullptr);
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_CompilePolicyFromMessage)->Unit(benchmark::kMillisecond);

void BM_DecideForOnePartner(benchmark::State& state) {
  static std::map<int, std::shared_ptr<const CompiledPolicy>>* cache =
      new std::map<int, std::shared_ptr<const CompiledPolicy>>();
  int rules = static_cast<int>(state.range(0));
  if (!cache->count(rules)) {
    testing::TempDir dir;
    auto p = LoadPolicyText(LargePolicy(rules, 100), "large.yaml", dir.path(), nullptr);
    if (!p.ok()) std::abort();
    (*cache)[rules] = *p;
  }
  const CompiledPolicy& policy = *(*cache)[rules];
  const v1::Item& item = Shared().alert;
  for (auto _ : state) {
    auto d = policy.DecideFor("partner-0", item);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideForOnePartner)->Arg(100)->Arg(1000)->Arg(10000);

}  // namespace
}  // namespace havengate::policy
