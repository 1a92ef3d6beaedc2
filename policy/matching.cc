#include "policy/matching.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "policy/plan.h"
#include "policy/policy.h"

namespace havengate::policy {

bool IsPersonalMatchKeyType(v1::MatchKeyType type) {
  return type == v1::PERSON_NAME || type == v1::BADGE_ID ||
         type == v1::DOCUMENT_NUMBER;
}

std::vector<v1::MatchKeyType> DefaultMatchKeyTypes() {
  return {v1::CONTAINER_NUMBER, v1::VESSEL_IMO, v1::VESSEL_MMSI};
}

absl::StatusOr<v1::MatchKeyType> ParseMatchKeyType(absl::string_view name) {
  v1::MatchKeyType type;
  if (v1::MatchKeyType_Parse(absl::AsciiStrToUpper(name), &type) &&
      type != v1::MATCH_KEY_TYPE_UNSPECIFIED) {
    return type;
  }
  std::vector<std::string> known;
  for (int i = 1; i <= v1::MatchKeyType_MAX; ++i) {
    if (v1::MatchKeyType_IsValid(i)) {
      known.push_back(absl::AsciiStrToLower(
          v1::MatchKeyType_Name(static_cast<v1::MatchKeyType>(i))));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown match key type `", name, "`; known types: ",
                   absl::StrJoin(known, ", ")));
}

bool IsPseudonymCode(absl::string_view value) {
  if (value.size() != 35 || !absl::StartsWith(value, "ps:")) return false;
  return std::all_of(value.begin() + 3, value.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::optional<std::string> MatchKeyOf(v1::MatchKeyType type,
                                      absl::string_view value,
                                      const Pseudonymiser* pseudonymiser) {
  if (absl::StripAsciiWhitespace(value).empty()) return std::nullopt;
  if (IsPseudonymCode(value)) return std::string(value);
  // A masked value (`******931`) or a failed pseudonym matches too much.
  if (absl::StrContains(value, '*') || absl::StartsWith(value, "ps:")) {
    return std::nullopt;
  }
  if (IsPersonalMatchKeyType(type)) {
    // Exactly as the pseudonymise transform would send it, so that an own
    // value meets a partner's code made under the same key.
    if (pseudonymiser == nullptr) return std::nullopt;
    return pseudonymiser->Pseudonymise(value);
  }
  std::string key = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(value));
  if (type == v1::COMPANY_NAME) {
    key = absl::StrJoin(absl::StrSplit(key, ' ', absl::SkipEmpty()), " ");
  }
  return key;
}

namespace {

template <typename Body>
void CollectKeys(const Body& body, v1::MatchKeyType type,
                 const Pseudonymiser* pseudonymiser,
                 std::set<std::string>& out) {
  auto add = [&](const std::string& value) {
    if (auto key = MatchKeyOf(type, value, pseudonymiser)) out.insert(*key);
  };
  switch (type) {
    case v1::CONTAINER_NUMBER:
      for (const auto& c : body.containers()) add(c.number());
      break;
    case v1::SEAL_NUMBER:
      for (const auto& c : body.containers()) add(c.seal_number());
      break;
    case v1::VESSEL_IMO:
      for (const auto& v : body.vessels()) add(v.imo());
      break;
    case v1::VESSEL_MMSI:
      for (const auto& v : body.vessels()) add(v.mmsi());
      break;
    case v1::PERSON_NAME:
      for (const auto& p : body.persons()) add(p.name());
      break;
    case v1::BADGE_ID:
      for (const auto& p : body.persons()) add(p.badge_id());
      break;
    case v1::DOCUMENT_NUMBER:
      for (const auto& p : body.persons()) add(p.document_number());
      break;
    case v1::COMPANY_NAME:
      for (const auto& c : body.companies()) add(c.name());
      break;
    case v1::COMPANY_EORI:
      for (const auto& c : body.companies()) add(c.eori());
      break;
    default:
      break;
  }
}

}  // namespace

namespace {

template <typename Body>
bool AnyPersonValueIs(const Body& body, const std::vector<std::unique_ptr<const Pseudonymiser>>& keys,
                      absl::string_view code) {
  std::string made;
  for (const v1::Person& person : body.persons()) {
    for (const std::string* value :
         {&person.name(), &person.date_of_birth(), &person.nationality(),
          &person.document_number(), &person.employer(), &person.badge_id()}) {
      if (value->empty()) continue;
      for (const auto& key : keys) {
        key->PseudonymiseTo(*value, &made);
        if (made == code) return true;
      }
    }
  }
  return false;
}

}  // namespace

bool CompiledPolicy::HasPersonPseudonymisedTo(const v1::Item& item,
                                              absl::string_view code) const {
  if (!IsPseudonymCode(code)) return false;
  if (item.has_alert()) return AnyPersonValueIs(item.alert(), plan_->keys, code);
  if (item.has_report()) return AnyPersonValueIs(item.report(), plan_->keys, code);
  return false;
}

std::vector<v1::MatchKey> CompiledPolicy::MatchKeys(const v1::Item& item) const {
  std::vector<v1::MatchKey> keys;
  for (v1::MatchKeyType type : plan_->match_index) {
    std::set<std::string> values;
    if (item.has_alert()) {
      CollectKeys(item.alert(), type, plan_->match_pseudonymiser, values);
    } else if (item.has_report()) {
      CollectKeys(item.report(), type, plan_->match_pseudonymiser, values);
    }
    for (const std::string& value : values) {
      v1::MatchKey& key = keys.emplace_back();
      key.set_type(type);
      key.set_key(value);
    }
  }
  return keys;
}

absl::StatusOr<v1::MatchKey> CompiledPolicy::MatchKeyFor(
    v1::MatchKeyType type, absl::string_view value) const {
  std::optional<std::string> key =
      MatchKeyOf(type, value, plan_->match_pseudonymiser);
  if (!key.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no ", absl::AsciiStrToLower(v1::MatchKeyType_Name(type)),
        " key can be made of the value given: it is empty or masked",
        IsPersonalMatchKeyType(type)
            ? ", or personal and not a pseudonym code (`ps:` + 32 hex) while "
              "the policy names no `matching.key`"
            : ""));
  }
  v1::MatchKey out;
  out.set_type(type);
  out.set_key(*std::move(key));
  return out;
}

bool CompiledPolicy::IndexesMatchKeyType(v1::MatchKeyType type) const {
  return std::find(plan_->match_index.begin(), plan_->match_index.end(),
                   type) != plan_->match_index.end();
}

bool CompiledPolicy::AnswersHitQuestion(absl::string_view partner,
                                        v1::MatchKeyType type) const {
  for (const v1::HitAnswerRule& rule : source_.matching().answer()) {
    const bool to = std::find(rule.to().begin(), rule.to().end(), partner) !=
                    rule.to().end();
    const bool kind =
        std::find(rule.key_types().begin(), rule.key_types().end(), type) !=
        rule.key_types().end();
    if (to && kind) return true;
  }
  return false;
}

}  // namespace havengate::policy
