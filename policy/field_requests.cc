#include "policy/field_requests.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "policy/plan.h"
#include "policy/policy.h"

namespace havengate::policy {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Keeps in `message` (at `prefix`) only what `fields` name.
void Keep(Message& message, const std::string& prefix,
          const std::vector<std::string>& fields) {
  const google::protobuf::Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> set;
  r->ListFields(message, &set);
  for (const FieldDescriptor* f : set) {
    const std::string path = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    bool whole = false, below = false;
    for (const std::string& wanted : fields) {
      if (FieldPathCovers(wanted, path)) whole = true;
      if (absl::StartsWith(wanted, path + ".")) below = true;
    }
    if (whole) continue;
    if (!below || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
        f->message_type()->full_name() == "google.protobuf.Timestamp") {
      r->ClearField(&message, f);
      continue;
    }
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(message, f); ++i) {
        Keep(*r->MutableRepeatedMessage(&message, f, i), path, fields);
      }
    } else {
      Keep(*r->MutableMessage(&message, f), path, fields);
    }
  }
}

}  // namespace

absl::StatusOr<absl::Duration> ParseRequestExpiry(absl::string_view text) {
  if (text.empty()) return kDefaultRequestExpiry;
  absl::Duration d;
  if (!absl::ParseDuration(text, &d)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "`", text, "` is not a duration (write e.g. 72h, 30m or 90s)"));
  }
  if (d < absl::Seconds(1) || d > kMaxRequestExpiry) {
    return absl::InvalidArgumentError(
        absl::StrCat("`", text, "`: between 1s and 90 days (2160h)"));
  }
  return d;
}

absl::Status CheckRequestFieldPath(absl::string_view path) {
  absl::StatusOr<int> alerts = SchemaForSlot(0).Find(std::string(path));
  if (alerts.ok()) return absl::OkStatus();
  absl::StatusOr<int> reports = SchemaForSlot(1).Find(std::string(path));
  if (reports.ok()) return absl::OkStatus();
  return alerts.status();
}

bool FieldPathCovers(absl::string_view allowed, absl::string_view path) {
  return path == allowed ||
         (absl::StartsWith(path, allowed) && path.size() > allowed.size() &&
          path[allowed.size()] == '.');
}

v1::Item KeepOnlyFields(const v1::Item& item, const std::vector<std::string>& fields) {
  v1::Item out = item;
  if (out.has_alert()) Keep(*out.mutable_alert(), "", fields);
  if (out.has_report()) Keep(*out.mutable_report(), "", fields);
  return out;
}

absl::StatusOr<FieldRequestTerms> CompiledPolicy::FieldRequestTermsFor(
    absl::string_view partner, const std::vector<std::string>& fields) const {
  std::vector<const v1::FieldRequestRule*> rules;
  for (const v1::FieldRequestRule& rule : source_.requests()) {
    if (std::find(rule.from().begin(), rule.from().end(), partner) != rule.from().end()) {
      rules.push_back(&rule);
    }
  }
  auto covers = [](const v1::FieldRequestRule& rule, const std::string& field) {
    return std::any_of(rule.fields().begin(), rule.fields().end(),
                       [&](const std::string& a) { return FieldPathCovers(a, field); });
  };
  for (const v1::FieldRequestRule* rule : rules) {
    if (!std::all_of(fields.begin(), fields.end(),
                     [&](const std::string& f) { return covers(*rule, f); })) {
      continue;
    }
    FieldRequestTerms terms;
    terms.approvals_needed =
        rule->approvers() == 0 ? kDefaultRequestApprovers : rule->approvers();
    absl::StatusOr<absl::Duration> expiry = ParseRequestExpiry(rule->expires_after());
    if (expiry.ok()) terms.expires_after = *expiry;  // checked when compiled
    terms.may_reshare = rule->may_reshare();
    return terms;
  }
  const std::string prefix =
      absl::StrCat("the policy (version ", version(), ") of ", organisation());
  if (rules.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        prefix, " lets ", partner, " ask for no fields (`requests` section)"));
  }
  for (const std::string& field : fields) {
    if (std::none_of(rules.begin(), rules.end(),
                     [&](const v1::FieldRequestRule* r) { return covers(*r, field); })) {
      return absl::PermissionDeniedError(absl::StrCat(
          prefix, " does not let ", partner, " ask for `", field, "` (`requests` section)"));
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      prefix, " lets ", partner, " ask for these fields under different terms, not "
      "together: ask for them in separate requests"));
}

}  // namespace havengate::policy
