// Times as the contract carries them (google.protobuf.Timestamp) and as the
// code computes with them (absl::Time), and the time arguments havenctl
// accepts on its command line. Every conversion between the two goes
// through here.
//
// Functions are pure and thread-safe.
#ifndef HAVENGATE_PROTO_TIMESTAMP_H_
#define HAVENGATE_PROTO_TIMESTAMP_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace havengate {

// `t` (finite) to the nanosecond, rounded down: `nanos` is always in
// [0, 999999999], as the Timestamp documentation requires.
google::protobuf::Timestamp ToTimestamp(absl::Time t);

// The time `ts` names (the Unix epoch for an unset Timestamp).
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

// "2026-11-28T14:05:00Z" (RFC 3339, any offset) or "2026-11-28" (midnight
// UTC). INVALID_ARGUMENT naming the expected forms otherwise.
[[nodiscard]] absl::StatusOr<absl::Time> ParseTimeArgument(
    absl::string_view text);

}  // namespace havengate

#endif  // HAVENGATE_PROTO_TIMESTAMP_H_
