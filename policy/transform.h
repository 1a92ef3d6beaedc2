// The field transforms of a sharing policy (redact, pseudonymise, replace,
// mask, truncate_time, round_geo): which field types each applies to, which
// of two is the more protective, and the value functions themselves.
//
// Precedence when two matching rules transform the same field: redact >
// pseudonymise > replace > mask > truncate_time / round_geo. Between two of
// the same kind: the coarser time unit, the fewer decimals, the fewer kept
// characters; between two pseudonymise keys or two replace constants (which
// are equally protective) the alphabetically first, so the result does not
// depend on rule order (the compiler warns about such conflicts).
//
// Pure functions and plain values; thread-safe.
#ifndef HAVENGATE_POLICY_TRANSFORM_H_
#define HAVENGATE_POLICY_TRANSFORM_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "havengate/v1/policy.pb.h"
#include "policy/schema.h"

namespace havengate::policy {

class Pseudonymiser;

// Ordered by protection: a later kind wins over an earlier one.
enum class TransformKind : uint8_t {
  kNone = 0,
  kTruncateTime,
  kRoundGeo,
  kMask,
  kReplace,
  kPseudonymise,
  kRedact,
};

// "redact", "pseudonymise", ... as in the policy language.
absl::string_view TransformName(TransformKind kind);

// One compiled transform.
struct TransformSpec {
  TransformKind kind = TransformKind::kNone;
  // truncate_time: the TruncateTime.Unit; round_geo: decimals; mask:
  // keep_last.
  int param = 0;
  // replace: the constant; pseudonymise: the key name.
  std::string text;
  // pseudonymise: the key's hasher (owned by the compiled policy) and its
  // index among the policy's keys.
  const Pseudonymiser* pseudonymiser = nullptr;
  int key_index = -1;

  // For explanations: "pseudonymise with key `names-2026`", "truncate_time
  // to HOUR", ... (never a value other than a policy constant).
  std::string Describe() const;
};

// Builds a spec from the policy message; on a problem (no transform chosen,
// unit unset, decimals out of range) returns a spec of kind kNone and sets
// `error`. The pseudonymiser is filled in by the caller.
TransformSpec SpecFromProto(const v1::Transform& transform, std::string* error);

// Whether `spec` can transform the field at `node`; an explanation in words
// for officers if not, "" if it can.
std::string CheckApplicable(const TransformSpec& spec, const SchemaNode& node);

// True if `a` protects more than `b` (see the file comment).
bool MoreProtective(const TransformSpec& a, const TransformSpec& b);

// Keeps the last `keep_last` characters (code points) and replaces the
// others with `*`. A value no longer than `keep_last` is masked entirely: a
// mask never reveals a whole value.
std::string MaskText(absl::string_view value, int keep_last);

// Seconds since the epoch floored to the start of the minute, hour or day
// (UTC) for TruncateTime.Unit `unit`.
int64_t TruncateSeconds(int64_t seconds, int unit);

// `value` rounded half away from zero to `decimals` decimals.
double RoundCoordinate(double value, int decimals);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_TRANSFORM_H_
