// Match keys: the identifiers of an item that hits are found on (see
// proto/havengate/v1/hits.proto), and how a value becomes the key that is
// indexed. CompiledPolicy::MatchKeys (policy.h) applies a policy's
// `matching` section to an item with these.
//
// Personal key types are never indexed in clear: a value that is already a
// pseudonym code is kept as it is, a value in clear becomes its pseudonym
// under the matching key, and without a key it is not indexed at all.
// Pure functions; thread-safe.
#ifndef HAVENGATE_POLICY_MATCHING_H_
#define HAVENGATE_POLICY_MATCHING_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/hits.pb.h"
#include "policy/pseudonymiser.h"

namespace havengate::policy {

// PERSON_NAME, BADGE_ID, DOCUMENT_NUMBER.
bool IsPersonalMatchKeyType(v1::MatchKeyType type);

// What an absent or empty `matching.index` means: CONTAINER_NUMBER,
// VESSEL_IMO, VESSEL_MMSI.
std::vector<v1::MatchKeyType> DefaultMatchKeyTypes();

// A key type by name, case-insensitive (`container_number`). INVALID_ARGUMENT
// naming the known types otherwise.
[[nodiscard]] absl::StatusOr<v1::MatchKeyType> ParseMatchKeyType(
    absl::string_view name);

// Whether `value` is a pseudonym code (`ps:` + 32 lower-case hex).
bool IsPseudonymCode(absl::string_view value);

// The key indexed for `value` of `type`, or nullopt if the value gives no
// key: empty, masked (holds `*`), a failed pseudonym (`ps:error`), or a
// personal value in clear with no `pseudonymiser`. Non-personal values are
// trimmed and upper-cased (company names also have inner blanks collapsed).
std::optional<std::string> MatchKeyOf(v1::MatchKeyType type,
                                      absl::string_view value,
                                      const Pseudonymiser* pseudonymiser);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_MATCHING_H_
