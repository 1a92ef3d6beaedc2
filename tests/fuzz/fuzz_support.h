// What the fuzz targets in tests/fuzz/ share: the fixed inputs they run
// against (sample items, the deploy and corpus policies with key files in a
// temporary directory), a check that turns a broken property into a crash
// libFuzzer reports, and the canary scan of the leak checks.
//
// Everything is loaded once per process, on first use, from the source tree
// (policy/policy_testing.h: $HAVENGATE_SOURCE_DIR or the directory compiled
// in). Not thread-safe: fuzz targets run one input at a time.
#ifndef HAVENGATE_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define HAVENGATE_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/item.pb.h"
#include "policy/policy.h"

namespace havengate::fuzz {

// Prints "fuzz property violated: <what>" and what the failure context
// describes, and aborts, which libFuzzer (and the replay driver) report as a
// crash with the input that caused it.
[[noreturn]] void Fail(const std::string& what);

// Describes the input being checked (the item, the decision) when a check
// fails; called only then. Set per input; empty for none.
void SetFailureContext(std::function<std::string()> describe);

#define HG_FUZZ_CHECK(condition, what)                                    \
  do {                                                                    \
    if (!(condition)) ::havengate::fuzz::Fail(absl::StrCat(#condition, ": ", what)); \
  } while (0)

// The items in deploy/samples/, in file name order.
const std::vector<v1::Item>& SampleItems();

struct FixedPolicy {
  std::string name;  // "deploy/policies/police-nl" or "tests/policy_corpus/022-pseudonymise"
  std::shared_ptr<const policy::CompiledPolicy> policy;
};

// deploy/policies/*/policy.yaml (by organisation), then every case in
// tests/policy_corpus/ whose policy loads, by file name. Their key files
// hold fixed bytes in KeyDir().
const std::vector<FixedPolicy>& FixedPolicies();

// The temporary directory holding the key files every fixed policy names
// (`keys/correlation.key`, ...): the base directory for fuzzed policies, so
// that they can load with those keys.
const std::string& KeyDir();

// True if `text` names a file a policy must not make the fuzzer read (a
// device, /proc, /sys): reading /dev/stdin or a FIFO would block the run.
bool NamesSpecialFiles(absl::string_view text);

}  // namespace havengate::fuzz

#endif  // HAVENGATE_TESTS_FUZZ_FUZZ_SUPPORT_H_
