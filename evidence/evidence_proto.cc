#include "evidence/evidence_proto.h"

#include "proto/timestamp.h"

namespace havengate::evidence {

absl::StatusOr<TimeRange> RangeFromProto(const v1::EvidencePeriod& period) {
  TimeRange range;
  if (period.has_since()) range.since = FromTimestamp(period.since());
  if (period.has_until()) range.until = FromTimestamp(period.until());
  if (range.until <= range.since) {
    return absl::InvalidArgumentError("period: until must be later than since");
  }
  return range;
}

v1::EvidencePeriod RangeToProto(const TimeRange& range) {
  v1::EvidencePeriod period;
  if (range.since != absl::InfinitePast()) *period.mutable_since() = ToTimestamp(range.since);
  if (range.until != absl::InfiniteFuture()) *period.mutable_until() = ToTimestamp(range.until);
  return period;
}

v1::FieldRelease FieldReleaseToProto(const FieldRelease& release) {
  v1::FieldRelease out;
  out.set_policy_version(release.policy_version);
  for (const auto& [outcome, count] : release.outcomes) {
    (*out.mutable_outcomes())[outcome] = count;
  }
  out.mutable_rules()->Add(release.rules.begin(), release.rules.end());
  out.mutable_protecting_rules()->Add(release.protecting_rules.begin(),
                                      release.protecting_rules.end());
  out.mutable_partners()->Add(release.partners.begin(), release.partners.end());
  out.set_decisions(release.decisions);
  *out.mutable_first_decision() = release.first_decision;
  *out.mutable_last_decision() = release.last_decision;
  out.mutable_lifecycle()->Add(release.lifecycle.begin(), release.lifecycle.end());
  return out;
}

FieldRelease FieldReleaseFromProto(const v1::FieldRelease& release) {
  FieldRelease out;
  out.policy_version = release.policy_version();
  for (const auto& [outcome, count] : release.outcomes()) out.outcomes[outcome] = count;
  out.rules.insert(release.rules().begin(), release.rules().end());
  out.protecting_rules.insert(release.protecting_rules().begin(),
                              release.protecting_rules().end());
  out.partners.insert(release.partners().begin(), release.partners().end());
  out.decisions = release.decisions();
  out.first_decision = release.first_decision();
  out.last_decision = release.last_decision();
  out.lifecycle.assign(release.lifecycle().begin(), release.lifecycle().end());
  return out;
}

}  // namespace havengate::evidence
