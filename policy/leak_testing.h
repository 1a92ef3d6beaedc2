// Helpers for the leak checks (policy_leak_test, the projection fuzz
// target in tests/fuzz): canaries, and the decision rules written down
// plainly from policy.proto, apart from the engine's compiled plans, to
// judge its output by. Test code only; pure functions.
//
// A canary is "CANARY<n>Z", a unique marker value put into a field of an
// item; found where the policy withholds its field, it is a leak. Plain
// ASCII, so it reads the same in binary protobuf, JSON and text; the closing
// 'Z' keeps CANARY1Z from matching inside CANARY12Z; a mask that keeps the
// last few characters never leaves the mark.
#ifndef HAVENGATE_POLICY_LEAK_TESTING_H_
#define HAVENGATE_POLICY_LEAK_TESTING_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/item.pb.h"
#include "havengate/v1/policy.pb.h"

namespace havengate::policy::testing {

inline constexpr absl::string_view kCanaryMark = "CANARY";

inline std::string Canary(int64_t n) { return absl::StrCat(kCanaryMark, n, "Z"); }

// Every canary in `text`: each "CANARY" with the digits and 'Z' that follow
// it (cut off where something else follows, so a truncated canary is found
// too).
inline std::vector<absl::string_view> FindCanaries(absl::string_view text) {
  std::vector<absl::string_view> found;
  size_t pos = 0;
  while ((pos = text.find(kCanaryMark, pos)) != absl::string_view::npos) {
    size_t end = pos + kCanaryMark.size();
    while (end < text.size() && absl::ascii_isdigit(text[end])) ++end;
    if (end < text.size() && text[end] == 'Z') ++end;
    found.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return found;
}

// Whether a share, withhold or transform entry covers the body path `path`
// (`*` covers everything; `persons` covers `persons.name`).
inline bool PathCovers(absl::string_view entry, absl::string_view path) {
  return entry == "*" || (absl::StartsWith(path, entry) &&
                          (path.size() == entry.size() || path[entry.size()] == '.'));
}

template <typename List, typename T>
bool ListHas(const List& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Whether `rule` matches `item` for `partner`, all but its condition: it
// names the partner and the item's kind. A matching rule's withhold, redact
// and transforms apply to the item whatever else holds (protections fail
// closed).
inline bool RuleMatchesButForCondition(const v1::Rule& rule, const v1::Item& item,
                                       const std::string& partner) {
  const v1::ItemKind kind = item.has_alert() ? v1::ALERT : v1::REPORT;
  if (!ListHas(rule.to(), partner)) return false;
  return rule.kinds().empty() || ListHas(rule.kinds(), kind);
}

// Whether a matching `rule` may also release `item` (its gates):
// forward_received for received items, and the restricted levels (RED, H2,
// H3) the item carries listed in allow_restricted.
inline bool RuleMayRelease(const v1::Rule& rule, const v1::Item& item, bool received) {
  const v1::Classification& c = item.classification();
  if (received && !rule.forward_received()) return false;
  if (c.tlp() == v1::Classification::RED && !ListHas(rule.allow_restricted(), v1::RED)) return false;
  if (c.handling_code() == v1::Classification::H2 && !ListHas(rule.allow_restricted(), v1::H2)) {
    return false;
  }
  if (c.handling_code() == v1::Classification::H3 && !ListHas(rule.allow_restricted(), v1::H3)) {
    return false;
  }
  return true;
}

// Whether the originator's constraints let a received item go on to
// `partner`.
inline bool OriginatorAllows(const v1::Classification& c, const std::string& partner) {
  const bool listed = ListHas(c.reshare_to(), partner);
  if (c.no_reshare()) return false;
  if (c.tlp() == v1::Classification::RED || c.tlp() == v1::Classification::AMBER_STRICT) {
    return false;
  }
  if (!c.reshare_to().empty() && !listed) return false;
  if ((c.tlp() == v1::Classification::AMBER || c.handling_code() == v1::Classification::H2 ||
       c.handling_code() == v1::Classification::H3) && !listed) {
    return false;
  }
  return true;
}

}  // namespace havengate::policy::testing

#endif  // HAVENGATE_POLICY_LEAK_TESTING_H_
