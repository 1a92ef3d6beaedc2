#include "policy/transform.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace havengate::policy {

absl::string_view TransformName(TransformKind kind) {
  switch (kind) {
    case TransformKind::kNone: return "none";
    case TransformKind::kTruncateTime: return "truncate_time";
    case TransformKind::kRoundGeo: return "round_geo";
    case TransformKind::kMask: return "mask";
    case TransformKind::kReplace: return "replace";
    case TransformKind::kPseudonymise: return "pseudonymise";
    case TransformKind::kRedact: return "redact";
  }
  return "?";
}

std::string TransformSpec::Describe() const {
  switch (kind) {
    case TransformKind::kTruncateTime:
      return absl::StrCat("truncate_time to ",
                          v1::TruncateTime::Unit_Name(
                              static_cast<v1::TruncateTime::Unit>(param)));
    case TransformKind::kRoundGeo:
      return absl::StrCat("round_geo to ", param, " decimals");
    case TransformKind::kMask:
      return absl::StrCat("mask keeping the last ", param, " characters");
    case TransformKind::kReplace:
      return absl::StrCat("replace with \"", text, "\"");
    case TransformKind::kPseudonymise:
      return absl::StrCat("pseudonymise with key `", text, "`");
    default:
      return std::string(TransformName(kind));
  }
}

TransformSpec SpecFromProto(const v1::Transform& t, std::string* error) {
  TransformSpec spec;
  switch (t.kind_case()) {
    case v1::Transform::kRedact:
      spec.kind = TransformKind::kRedact;
      break;
    case v1::Transform::kPseudonymise:
      spec.kind = TransformKind::kPseudonymise;
      spec.text = t.pseudonymise().key();
      if (spec.text.empty()) {
        *error = "pseudonymise needs a key: `pseudonymise: {key: NAME}`";
        spec.kind = TransformKind::kNone;
      }
      break;
    case v1::Transform::kTruncateTime:
      spec.kind = TransformKind::kTruncateTime;
      spec.param = t.truncate_time().unit();
      if (spec.param == v1::TruncateTime::UNIT_UNSPECIFIED) {
        *error = "truncate_time needs a unit: MINUTE, HOUR or DAY";
        spec.kind = TransformKind::kNone;
      }
      break;
    case v1::Transform::kRoundGeo:
      spec.kind = TransformKind::kRoundGeo;
      spec.param = static_cast<int>(std::min<uint32_t>(t.round_geo().decimals(), 1000));
      if (t.round_geo().decimals() > 6) {
        *error = "round_geo takes 0 to 6 decimals";
        spec.kind = TransformKind::kNone;
      }
      break;
    case v1::Transform::kMask:
      spec.kind = TransformKind::kMask;
      spec.param = static_cast<int>(std::min<uint32_t>(t.mask().keep_last(), 1000));
      if (t.mask().keep_last() > 64) {
        *error = "mask keeps at most 64 characters";
        spec.kind = TransformKind::kNone;
      }
      break;
    case v1::Transform::kReplace:
      spec.kind = TransformKind::kReplace;
      spec.text = t.replace().with();
      break;
    default:
      *error = "choose a transform: redact, pseudonymise, replace, mask, "
               "truncate_time or round_geo";
      break;
  }
  return spec;
}

std::string CheckApplicable(const TransformSpec& spec, const SchemaNode& node) {
  std::string what = absl::StrCat("`", node.path, "` is ",
                                  DescribeType(node.type, node.repeated));
  switch (spec.kind) {
    case TransformKind::kRedact:
      if (node.field == nullptr) {
        return "redacting the whole body sends nothing; remove the rule's "
               "share instead";
      }
      return "";
    case TransformKind::kPseudonymise:
    case TransformKind::kMask:
    case TransformKind::kReplace:
      if (node.type == ValueType::kString) return "";
      return absl::StrCat(what, "; ", TransformName(spec.kind),
                          " works on text fields only");
    case TransformKind::kTruncateTime:
      if (node.type == ValueType::kTimestamp) return "";
      return absl::StrCat(what, "; truncate_time works on times only");
    case TransformKind::kRoundGeo:
      if (node.geo_point || node.type == ValueType::kDouble) return "";
      return absl::StrCat(what, "; round_geo works on positions "
                                "(e.g. location.position) only");
    case TransformKind::kNone:
      return "no transform chosen";
  }
  return "unknown transform";
}

bool MoreProtective(const TransformSpec& a, const TransformSpec& b) {
  if (a.kind != b.kind) return a.kind > b.kind;
  switch (a.kind) {
    case TransformKind::kTruncateTime:
      return a.param > b.param;  // DAY > HOUR > MINUTE
    case TransformKind::kRoundGeo:
    case TransformKind::kMask:
      return a.param < b.param;
    case TransformKind::kPseudonymise:
    case TransformKind::kReplace:
      return a.text < b.text;
    default:
      return false;
  }
}

std::string MaskText(absl::string_view value, int keep_last) {
  // Code point boundaries, so a multi-byte character is kept or masked whole.
  std::vector<size_t> starts;
  for (size_t i = 0; i < value.size(); ++i) {
    if ((static_cast<unsigned char>(value[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  size_t count = starts.size();
  starts.push_back(value.size());  // so starts[count] is the end
  if (count <= static_cast<size_t>(keep_last)) return std::string(count, '*');
  size_t hidden = count - static_cast<size_t>(keep_last);
  std::string out(hidden, '*');
  out.append(value.data() + starts[hidden], value.size() - starts[hidden]);
  return out;
}

int64_t TruncateSeconds(int64_t seconds, int unit) {
  int64_t step = unit == v1::TruncateTime::DAY    ? 86400
                 : unit == v1::TruncateTime::HOUR ? 3600
                                                  : 60;
  int64_t floored = seconds - seconds % step;
  if (seconds % step < 0) floored -= step;
  return floored;
}

double RoundCoordinate(double value, int decimals) {
  double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

}  // namespace havengate::policy
