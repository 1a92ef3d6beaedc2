// Requests for withheld fields (requests.proto), as the policy sees them:
// the `requests` section's defaults and checks shared by the compiler and
// the gateway, and the one-off release of approved fields.
// Pure functions, thread-safe.
#ifndef HAVENGATE_POLICY_FIELD_REQUESTS_H_
#define HAVENGATE_POLICY_FIELD_REQUESTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "havengate/v1/item.pb.h"

namespace havengate::policy {

inline constexpr int kDefaultRequestApprovers = 2;
inline constexpr int kMaxRequestApprovers = 5;
inline constexpr absl::Duration kDefaultRequestExpiry = absl::Hours(72);
inline constexpr absl::Duration kMaxRequestExpiry = absl::Hours(24 * 90);

// `expires_after` of a rule: empty is the default; otherwise a duration
// such as `72h` or `30m` between 1 second and 90 days. INVALID_ARGUMENT
// says what is wrong.
[[nodiscard]] absl::StatusOr<absl::Duration> ParseRequestExpiry(
    absl::string_view text);

// Whether `path` names a body field of alerts or reports (`persons.name`).
// INVALID_ARGUMENT says why not.
[[nodiscard]] absl::Status CheckRequestFieldPath(absl::string_view path);

// Whether a rule listing `allowed` covers `path` (the same path, or one of
// its sub-fields).
bool FieldPathCovers(absl::string_view allowed, absl::string_view path);

// `item` with its body reduced to the values at `fields` (each a body
// field path; a message path keeps the whole message): what a one-off
// release on request carries. The envelope is kept.
v1::Item KeepOnlyFields(const v1::Item& item, const std::vector<std::string>& fields);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_FIELD_REQUESTS_H_
