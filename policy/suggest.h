// "Did you mean ...?" for policy officers: the closest known name to a
// misspelt field, partner, key or enum value. Pure functions, thread-safe.
#ifndef HAVENGATE_POLICY_SUGGEST_H_
#define HAVENGATE_POLICY_SUGGEST_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace havengate::policy {

// The candidate closest to `word` by edit distance (case-insensitive), or ""
// when none is close enough to be a plausible typo.
std::string ClosestMatch(absl::string_view word,
                         const std::vector<std::string>& candidates);

// " (did you mean `x`?)" or "" — ready to append to a message.
std::string DidYouMean(absl::string_view word,
                       const std::vector<std::string>& candidates);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_SUGGEST_H_
