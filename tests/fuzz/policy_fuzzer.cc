// Fuzz target: the policy reader, type checker and compiler. The input is
// the text of a policy file (YAML or JSON), loaded with LoadPolicyText with
// the key files of the fixed policies at hand (fuzz_support.h).
//
// Properties: loading never crashes, hangs or throws; a policy that does
// not load reports at least one error; a policy that loads decides every
// sample item (with explanations) for each of its partners, and loads again
// from its own JSON form with the same partners and rules.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "policy/policy.h"
#include "proto/json.h"
#include "tests/fuzz/fuzz_support.h"

namespace havengate::fuzz {
namespace {

// Larger inputs only slow the fuzzer down; the loader has no size limit of
// its own (LoadPolicyFile refuses files over 16 MiB).
constexpr size_t kMaxInputBytes = 64 << 10;

void CheckDecisions(const policy::CompiledPolicy& loaded) {
  policy::DecideOptions options;
  options.explain = true;
  for (const v1::Item& item : SampleItems()) {
    for (bool received : {false, true}) {
      options.received_from_partner = received;
      policy::Decision decision = loaded.Decide(item, options);
      HG_FUZZ_CHECK(decision.partners.size() == loaded.partners().size(),
                    decision.partners.size());
      for (const policy::PartnerDecision& d : decision.partners) {
        HG_FUZZ_CHECK(d.explanation != nullptr, d.partner);
        HG_FUZZ_CHECK(d.released == (d.projected.ByteSizeLong() > 0), d.partner);
        if (d.released) {
          HG_FUZZ_CHECK(d.projected.body_case() == item.body_case(), d.partner);
          HG_FUZZ_CHECK(d.projected.item_id() == item.item_id(), d.partner);
        }
        (void)d.explanation->ToString();
      }
    }
  }
}

}  // namespace
}  // namespace havengate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace havengate;
  using namespace havengate::fuzz;
  if (size > kMaxInputBytes) return 0;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (NamesSpecialFiles(text)) return 0;

  std::vector<policy::Diagnostic> diagnostics;
  auto loaded = policy::LoadPolicyText(text, "fuzz.yaml", KeyDir(), &diagnostics);
  std::string report = policy::FormatDiagnostics(diagnostics);
  if (!loaded.ok()) {
    HG_FUZZ_CHECK(policy::Count(diagnostics, policy::Diagnostic::Severity::kError) > 0,
                  loaded.status().ToString());
    return 0;
  }
  HG_FUZZ_CHECK(policy::Count(diagnostics, policy::Diagnostic::Severity::kError) == 0, report);
  CheckDecisions(**loaded);

  // The policy as read, printed as JSON (which YAML includes), loads again.
  const v1::SharingPolicy& source = (*loaded)->source();
  std::string json = ToJson(source);
  std::vector<policy::Diagnostic> again;
  auto reloaded = policy::LoadPolicyText(json, "fuzz.json", KeyDir(), &again);
  HG_FUZZ_CHECK(reloaded.ok(), absl::StrCat(policy::FormatDiagnostics(again), "\n", json));
  HG_FUZZ_CHECK((*reloaded)->partners() == (*loaded)->partners(), json);
  HG_FUZZ_CHECK((*reloaded)->source().rules_size() == source.rules_size(), json);
  return 0;
}
