// The oversight queries (queries.h) in the Evidence service's terms
// (havengate/v1/evidence.proto): the gateway answers with these, havenctl
// and the console read them back, so the offline and the remote forms of a
// question print the same.
//
// Thread-safety: pure functions.
#ifndef HAVENGATE_EVIDENCE_EVIDENCE_PROTO_H_
#define HAVENGATE_EVIDENCE_EVIDENCE_PROTO_H_

#include "evidence/queries.h"
#include "havengate/v1/evidence.pb.h"

namespace havengate::evidence {

// INVALID_ARGUMENT if `until` is not later than `since`.
[[nodiscard]] absl::StatusOr<TimeRange> RangeFromProto(const v1::EvidencePeriod& period);
v1::EvidencePeriod RangeToProto(const TimeRange& range);

v1::FieldRelease FieldReleaseToProto(const FieldRelease& release);
FieldRelease FieldReleaseFromProto(const v1::FieldRelease& release);

}  // namespace havengate::evidence

#endif  // HAVENGATE_EVIDENCE_EVIDENCE_PROTO_H_
