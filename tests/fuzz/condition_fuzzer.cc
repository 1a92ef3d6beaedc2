// Fuzz target: the condition (CEL subset) parser, type checker and
// evaluator. The first input byte chooses the kind the condition is checked
// for (even: alerts, odd: reports); the rest is the text of a `when`.
//
// Properties: compiling never crashes or hangs; a condition that does not
// compile reports at least one error, each at an offset inside the text; a
// condition that compiles evaluates on every sample item (kError for items
// of the other kind), gives the same result twice, and a constant condition
// evaluates to its constant on every item of its kind.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "policy/condition.h"
#include "proto/item_validation.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace havengate;
  using namespace havengate::fuzz;
  using policy::Condition;
  if (size < 1 || size > policy::kMaxConditionBytes + 100) return 0;
  const v1::ItemKind kind = data[0] % 2 == 0 ? v1::ALERT : v1::REPORT;
  absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<policy::ConditionError> errors;
  std::unique_ptr<const Condition> condition = Condition::Compile(text, kind, &errors);
  if (condition == nullptr) {
    HG_FUZZ_CHECK(!errors.empty(), text);
    for (const policy::ConditionError& e : errors) {
      HG_FUZZ_CHECK(e.offset <= text.size(), absl::StrCat(e.offset, ": ", e.message));
      HG_FUZZ_CHECK(!e.message.empty(), e.offset);
    }
    return 0;
  }
  static const v1::Item* empty = new v1::Item;
  std::vector<const v1::Item*> items = {empty};
  for (const v1::Item& item : SampleItems()) items.push_back(&item);
  for (const v1::Item* item : items) {
    Condition::Result result = condition->Evaluate(*item);
    HG_FUZZ_CHECK(condition->Evaluate(*item) == result, text);
    if (KindOf(*item) != kind) {
      HG_FUZZ_CHECK(result == Condition::Result::kError, text);
    } else if (condition->constant().has_value()) {
      Condition::Result expected =
          *condition->constant() ? Condition::Result::kTrue : Condition::Result::kFalse;
      HG_FUZZ_CHECK(result == expected, absl::StrCat(text, " on ", item->item_id()));
    }
  }
  return 0;
}
