// Loading and compiling sharing policies: every check that makes a policy
// safe to run, each error reported at its place in the file.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "policy/field_requests.h"
#include "policy/plan.h"
#include "policy/suggest.h"
#include "proto/status_macros.h"
#include "proto/identifiers.h"

namespace havengate::policy {
namespace {

using Severity = Diagnostic::Severity;

std::string Quote(absl::string_view s) { return absl::StrCat("`", s, "`"); }

absl::string_view KindPlural(int slot) { return slot == 0 ? "alerts" : "reports"; }

std::string JoinPath(const std::string& base, const std::string& file) {
  if (file.empty() || file[0] == '/' || base.empty()) return file;
  return absl::StrCat(base, base.back() == '/' ? "" : "/", file);
}

}  // namespace

class PolicyCompiler {
 public:
  PolicyCompiler(const v1::SharingPolicy& policy, const SourceMap& sources,
                 const std::string& base_dir, std::vector<Diagnostic>* out,
                 const absl::flat_hash_set<std::string>* unreliable)
      : policy_(policy), sources_(sources), base_dir_(base_dir), out_(out),
        unreliable_(unreliable) {}

  // Compiles; never throws (a failure inside a library we call becomes an
  // INTERNAL error rather than an exception escaping).
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> Run() {
    try {
      return RunOrThrow();
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("compiling policy ", sources_.file(),
                                              " failed: ", e.what()));
    }
  }

 private:
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> RunOrThrow() {
    result_.reset(new CompiledPolicy());
    result_->plan_ = std::make_unique<CompiledPolicy::Plan>();
    plan_ = result_->plan_.get();
    CheckHeader();
    CompilePartners();
    CompileKeys();
    CompileRules();
    CompileInbound();
    CompileMatching();
    CompileRequests();
    if (errors_ == 0) Analyse();
    for (const Diagnostic& d : diagnostics_) out_->push_back(d);
    if (errors_ > 0) {
      return ErrorsToStatus(absl::StrCat("policy ", sources_.file(), " is invalid"),
                            diagnostics_);
    }
    BuildPlans();
    result_->source_ = policy_;
    for (const Diagnostic& d : diagnostics_) {
      if (d.severity == Severity::kWarning) result_->warnings_.push_back(d);
    }
    return std::shared_ptr<const CompiledPolicy>(std::move(result_));
  }

  // A top-level section that could not be read completely: names it would
  // define are not reported as unknown (that would repeat the read error).
  bool Unreliable(const std::string& section) const {
    return unreliable_ != nullptr && unreliable_->contains(section);
  }

  void Error(const std::string& path, std::string message) {
    ++errors_;
    diagnostics_.push_back(sources_.At(path, Severity::kError, std::move(message)));
  }
  void ErrorAtKey(const std::string& path, std::string message) {
    ++errors_;
    diagnostics_.push_back(sources_.AtKey(path, Severity::kError, std::move(message)));
  }
  void Warning(const std::string& path, std::string message) {
    diagnostics_.push_back(sources_.At(path, Severity::kWarning, std::move(message)));
  }

  void CheckHeader() {
    if (policy_.organisation().empty()) {
      Error("organisation", "the policy needs `organisation:` (this "
                            "organisation's id, e.g. police-nl)");
    } else if (absl::Status s = ValidateOrganisationId(policy_.organisation()); !s.ok()) {
      Error("organisation", absl::StrCat("organisation: ", s.message()));
    }
    if (absl::StripAsciiWhitespace(policy_.version()).empty()) {
      Error("version", "the policy needs `version:` (a label such as "
                       "2026-11-28.1, recorded with every decision)");
    }
  }

  void CompilePartners() {
    for (int i = 0; i < policy_.partners_size(); ++i) {
      const v1::Partner& p = policy_.partners(i);
      std::string path = absl::StrCat("partners[", i, "]");
      if (p.id().empty()) {
        Error(path, "a partner needs an `id` (its organisation id)");
        continue;
      }
      if (absl::Status s = ValidateOrganisationId(p.id()); !s.ok()) {
        Error(path + ".id", absl::StrCat("partner id ", Quote(p.id()), ": ", s.message()));
        continue;
      }
      if (p.id() == policy_.organisation()) {
        Error(path + ".id", "an organisation cannot be its own partner");
        continue;
      }
      if (plan_->partner_index.contains(p.id())) {
        Error(path + ".id", absl::StrCat("partner ", Quote(p.id()), " is listed twice"));
        continue;
      }
      plan_->partner_index[p.id()] = static_cast<int>(plan_->partners.size());
      plan_->partners.push_back(PartnerPlan{p.id(), {}});
      result_->partner_ids_.push_back(p.id());
      partner_names_.push_back(p.id());
    }
  }

  void CompileKeys() {
    for (int i = 0; i < policy_.keys_size(); ++i) {
      const v1::PseudonymKey& k = policy_.keys(i);
      std::string path = absl::StrCat("keys[", i, "]");
      if (k.name().empty()) {
        Error(path, "a key needs a `name` that transforms refer to");
        continue;
      }
      if (key_index_.contains(k.name())) {
        Error(path + ".name", absl::StrCat("key ", Quote(k.name()), " is listed twice"));
        continue;
      }
      if (k.file().empty()) {
        Error(path, absl::StrCat("key ", Quote(k.name()),
                                 " needs a `file` holding at least 32 random bytes"));
        continue;
      }
      std::string file = JoinPath(base_dir_, k.file());
      // A key that cannot be used is still a known name: rules using it are
      // not reported again.
      key_index_[k.name()] = -1;
      key_names_.push_back(k.name());
      absl::StatusOr<SecretKey> secret = SecretKey::ReadFile(file);
      if (!secret.ok()) {
        Error(path + ".file",
              absl::StrCat("key ", Quote(k.name()), ": ", secret.status().message(),
                           absl::IsNotFound(secret.status())
                               ? " (create it with `havenctl policy keygen POLICY`)"
                               : ""));
        continue;
      }
      auto hasher = Pseudonymiser::Create(*secret);
      if (!hasher.ok()) {
        Error(path + ".file", absl::StrCat("key ", Quote(k.name()), ": ",
                                           hasher.status().message()));
        continue;
      }
      struct stat st;
      if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
        Warning(path + ".file",
                absl::StrCat("key file ", file, " can be read by other users; "
                             "restrict it with chmod 600"));
      }
      key_index_[k.name()] = static_cast<int>(plan_->keys.size());
      plan_->keys.push_back(*std::move(hasher));
    }
  }

  // Resolves `path` in every kind slot the rule applies to. Returns false
  // (after reporting) if it is missing in any.
  bool ResolvePath(const std::string& rule_name, const std::string& source_path,
                   const std::string& field_path, const bool applies[2],
                   int nodes[2], bool at_key) {
    std::string first_error;
    std::vector<int> missing, present;
    for (int k = 0; k < 2; ++k) {
      nodes[k] = -1;
      if (!applies[k]) continue;
      absl::StatusOr<int> node = SchemaForSlot(k).Find(field_path);
      if (node.ok()) {
        nodes[k] = *node;
        present.push_back(k);
      } else {
        missing.push_back(k);
        if (first_error.empty()) first_error = std::string(node.status().message());
      }
    }
    if (missing.empty()) return true;
    std::string message;
    if (present.empty()) {
      message = absl::StrCat("rule ", Quote(rule_name), ": ", first_error);
    } else {
      message = absl::StrCat("rule ", Quote(rule_name), ": ", Quote(field_path),
                             " exists in ", KindPlural(present[0]), " but not in ",
                             KindPlural(missing[0]),
                             "; the rule applies to both — add `kinds: [",
                             present[0] == 0 ? "ALERT" : "REPORT", "]`");
    }
    if (at_key) {
      ErrorAtKey(source_path, message);
    } else {
      Error(source_path, message);
    }
    return false;
  }

  void CompileRules() {
    absl::flat_hash_map<std::string, int> names;
    for (int i = 0; i < policy_.rules_size(); ++i) {
      const v1::Rule& rule = policy_.rules(i);
      std::string path = absl::StrCat("rules[", i, "]");
      CompiledRule compiled;
      compiled.index = i;
      compiled.name = rule.name();
      std::string display = rule.name().empty() ? absl::StrCat("#", i + 1) : rule.name();
      if (rule.name().empty()) {
        Error(path, absl::StrCat("rule #", i + 1, " needs a `name`"));
      } else if (auto it = names.find(rule.name()); it != names.end()) {
        SourcePos first = sources_.ValueAt(absl::StrCat("rules[", it->second, "].name"));
        Error(path + ".name",
              absl::StrCat("rule name ", Quote(rule.name()), " is already used",
                           first.known() ? absl::StrCat(" at line ", first.line) : "",
                           "; rule names must be unique"));
      } else {
        names[rule.name()] = i;
      }
      // Recipients.
      if (rule.to().empty()) {
        Error(path, absl::StrCat("rule ", Quote(display),
                                 " needs `to:` (the partners it releases to)"));
      }
      for (int j = 0; j < rule.to_size(); ++j) {
        if (!plan_->partner_index.contains(rule.to(j)) && !Unreliable("partners")) {
          Error(absl::StrCat(path, ".to[", j, "]"),
                absl::StrCat("rule ", Quote(display), ": ", Quote(rule.to(j)),
                             " is not a partner in this policy",
                             DidYouMean(rule.to(j), partner_names_),
                             "; add it under `partners:` first"));
        }
      }
      // Kinds.
      bool applies[2] = {rule.kinds().empty(), rule.kinds().empty()};
      for (int j = 0; j < rule.kinds_size(); ++j) {
        int slot = KindSlot(static_cast<v1::ItemKind>(rule.kinds(j)));
        if (slot < 0) {
          Error(absl::StrCat(path, ".kinds[", j, "]"),
                absl::StrCat("rule ", Quote(display), ": kinds are ALERT or REPORT"));
          continue;
        }
        applies[slot] = true;
      }
      for (int j = 0; j < rule.allow_restricted_size(); ++j) {
        int level = rule.allow_restricted(j);
        if (level == v1::RESTRICTED_LEVEL_UNSPECIFIED) {
          Error(absl::StrCat(path, ".allow_restricted[", j, "]"),
                absl::StrCat("rule ", Quote(display),
                             ": allow_restricted takes RED, H2 or H3"));
          continue;
        }
        compiled.allowed_levels |= 1u << level;
      }
      compiled.forward_received = rule.forward_received();
      for (int k = 0; k < 2; ++k) {
        compiled.kinds[k].applies = applies[k];
        if (applies[k]) {
          int size = SchemaForSlot(k).size();
          compiled.kinds[k].share = FieldSet(size);
          compiled.kinds[k].withhold = FieldSet(size);
          compiled.kinds[k].redact = FieldSet(size);
          compiled.kinds[k].redact_roots = FieldSet(size);
        }
      }
      CompileCondition(rule, path, display, applies, compiled);
      CompileFieldPaths(rule.share(), path + ".share", display, applies, compiled, true);
      CompileFieldPaths(rule.withhold(), path + ".withhold", display, applies, compiled, false);
      CompileTransforms(rule, path, display, applies, compiled);
      plan_->rules.push_back(std::move(compiled));
    }
  }

  void CompileCondition(const v1::Rule& rule, const std::string& path,
                        const std::string& display, const bool applies[2],
                        CompiledRule& compiled) {
    absl::string_view when = absl::StripAsciiWhitespace(rule.when());
    if (when.empty()) return;
    std::vector<ConditionError> errors[2];
    bool ok[2] = {true, true};
    for (int k = 0; k < 2; ++k) {
      if (!applies[k]) continue;
      compiled.kinds[k].condition = Condition::Compile(
          rule.when(), k == 0 ? v1::ALERT : v1::REPORT, &errors[k]);
      ok[k] = compiled.kinds[k].condition != nullptr;
    }
    std::string when_path = path + ".when";
    std::set<std::pair<size_t, std::string>> reported;
    for (int k = 0; k < 2; ++k) {
      if (!applies[k] || ok[k]) continue;
      for (const ConditionError& e : errors[k]) {
        if (!reported.insert({e.offset, e.message}).second) continue;
        std::string message = absl::StrCat("rule ", Quote(display), ": ", e.message);
        // A field of the other kind: the rule is probably meant for that
        // kind only.
        bool other_kind_field = false;
        if (applies[1 - k] && absl::StartsWith(e.message, "`")) {
          size_t close = e.message.find('`', 1);
          std::string name = e.message.substr(1, close == std::string::npos ? 0 : close - 1);
          other_kind_field =
              absl::StrContains(e.message, "is not a field of") &&
              SchemaForSlot(1 - k).body()->FindFieldByName(name) != nullptr;
        }
        if ((applies[1 - k] && ok[1 - k]) || other_kind_field) {
          absl::StrAppend(&message, " (in ", KindPlural(k), "; the rule applies to "
                          "alerts and reports — add `kinds: [",
                          k == 0 ? "REPORT" : "ALERT", "]` to limit it)");
        }
        ++errors_;
        diagnostics_.push_back(sources_.AtPos(
            sources_.InsideValue(when_path, rule.when(), e.offset), Severity::kError,
            std::move(message)));
      }
    }
  }

  void CompileFieldPaths(const google::protobuf::RepeatedPtrField<std::string>& paths,
                         const std::string& list_path, const std::string& display,
                         const bool applies[2], CompiledRule& compiled, bool share) {
    for (int j = 0; j < paths.size(); ++j) {
      std::string source_path = absl::StrCat(list_path, "[", j, "]");
      std::string field_path(absl::StripAsciiWhitespace(paths.Get(j)));
      if (field_path.empty()) {
        Error(source_path, absl::StrCat("rule ", Quote(display), ": empty field path"));
        continue;
      }
      int nodes[2];
      if (!ResolvePath(display, source_path, field_path, applies, nodes, false)) continue;
      for (int k = 0; k < 2; ++k) {
        if (nodes[k] < 0) continue;
        FieldSet& set = share ? compiled.kinds[k].share : compiled.kinds[k].withhold;
        set.SetRange(nodes[k], SchemaForSlot(k).node(nodes[k]).end);
      }
    }
  }

  void CompileTransforms(const v1::Rule& rule, const std::string& path,
                         const std::string& display, const bool applies[2],
                         CompiledRule& compiled) {
    std::vector<std::string> keys;
    for (const auto& [field_path, transform] : rule.transform()) keys.push_back(field_path);
    std::sort(keys.begin(), keys.end());
    for (const std::string& field_path : keys) {
      const v1::Transform& transform = rule.transform().at(field_path);
      std::string source_path = absl::StrCat(path, ".transform[", field_path, "]");
      std::string error;
      TransformSpec spec = SpecFromProto(transform, &error);
      if (spec.kind == TransformKind::kNone) {
        Error(source_path, absl::StrCat("rule ", Quote(display), ", transform of ",
                                        Quote(field_path), ": ", error));
        continue;
      }
      if (spec.kind == TransformKind::kPseudonymise) {
        auto it = key_index_.find(spec.text);
        if (it == key_index_.end()) {
          if (Unreliable("keys")) continue;
          Error(source_path + ".pseudonymise.key", absl::StrCat("rule ", Quote(display), ": key ",
                                          Quote(spec.text), " is not defined under `keys:`",
                                          DidYouMean(spec.text, key_names_)));
          continue;
        }
        used_keys_.insert(spec.text);
        if (it->second < 0) continue;  // Broken key, already reported.
        spec.key_index = it->second;
        spec.pseudonymiser = plan_->keys[it->second].get();
      }
      int nodes[2];
      std::string trimmed(absl::StripAsciiWhitespace(field_path));
      if (!ResolvePath(display, source_path, trimmed, applies, nodes, true)) continue;
      for (int k = 0; k < 2; ++k) {
        if (nodes[k] < 0) continue;
        const BodySchema& schema = SchemaForSlot(k);
        const SchemaNode& node = schema.node(nodes[k]);
        std::string problem = CheckApplicable(spec, node);
        if (!problem.empty()) {
          ErrorAtKey(source_path, absl::StrCat("rule ", Quote(display), ": ", problem));
          break;  // Same type in both kinds: report once.
        }
        CompiledRule::ForKind& fk = compiled.kinds[k];
        if (spec.kind == TransformKind::kRedact) {
          fk.redact_roots.Set(nodes[k]);
          fk.redact.SetRange(nodes[k], node.end);
          continue;
        }
        auto add = [&](int leaf) {
          for (auto& [n, existing] : fk.transforms) {
            if (n != leaf) continue;
            if (MoreProtective(spec, existing)) existing = spec;
            return;
          }
          fk.transforms.emplace_back(leaf, spec);
        };
        if (node.geo_point) {
          for (int c = nodes[k] + 1; c < node.end; c = schema.node(c).end) {
            if (schema.node(c).type == ValueType::kDouble) add(c);
          }
        } else {
          add(nodes[k]);
        }
      }
    }
    for (auto& fk : compiled.kinds) {
      std::sort(fk.transforms.begin(), fk.transforms.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
  }

  void CompileInbound() {
    const v1::Inbound& inbound = policy_.inbound();
    for (int i = 0; i < inbound.accept_size(); ++i) {
      const v1::InboundRule& r = inbound.accept(i);
      std::string path = absl::StrCat("inbound.accept[", i, "]");
      if (r.from().empty()) {
        Error(path, "an inbound rule needs `from:` (the partners it accepts from)");
      }
      for (int j = 0; j < r.from_size(); ++j) {
        if (!plan_->partner_index.contains(r.from(j)) && !Unreliable("partners")) {
          Error(absl::StrCat(path, ".from[", j, "]"),
                absl::StrCat(Quote(r.from(j)), " is not a partner in this policy",
                             DidYouMean(r.from(j), partner_names_)));
        }
      }
      bool alerts = r.kinds().empty();
      for (int j = 0; j < r.kinds_size(); ++j) {
        if (KindSlot(static_cast<v1::ItemKind>(r.kinds(j))) < 0) {
          Error(absl::StrCat(path, ".kinds[", j, "]"), "kinds are ALERT or REPORT");
        }
        alerts |= r.kinds(j) == v1::ALERT;
      }
      for (int j = 0; j < r.categories_size(); ++j) {
        if (r.categories(j) == v1::Alert::CATEGORY_UNSPECIFIED) {
          Error(absl::StrCat(path, ".categories[", j, "]"),
                "CATEGORY_UNSPECIFIED is not a category");
        }
      }
      if (!r.categories().empty() && !alerts) {
        Warning(path + ".categories",
                "categories apply to alerts only, and this rule accepts no alerts");
      }
    }
  }

  // The `matching` section: key types indexed for hits, and the key that
  // turns personal values held in clear into pseudonym codes.
  void CompileMatching() {
    const v1::Matching& m = policy_.matching();
    std::vector<v1::MatchKeyType> index;
    int first_personal = -1;
    for (int i = 0; i < m.index_size(); ++i) {
      const auto type = static_cast<v1::MatchKeyType>(m.index(i));
      const std::string path = absl::StrCat("matching.index[", i, "]");
      if (type == v1::MATCH_KEY_TYPE_UNSPECIFIED) {
        Error(path, "MATCH_KEY_TYPE_UNSPECIFIED is not a key type");
        continue;
      }
      if (std::find(index.begin(), index.end(), type) != index.end()) {
        Warning(path, absl::StrCat("key type ", v1::MatchKeyType_Name(type),
                                   " is listed twice"));
        continue;
      }
      if (IsPersonalMatchKeyType(type) && first_personal < 0) first_personal = i;
      index.push_back(type);
    }
    if (m.index().empty()) index = DefaultMatchKeyTypes();
    plan_->match_index = index;
    for (int i = 0; i < m.answer_size(); ++i) {
      const v1::HitAnswerRule& rule = m.answer(i);
      const std::string path = absl::StrCat("matching.answer[", i, "]");
      if (rule.to().empty()) {
        Error(path, "an answer rule needs `to:` (the partners whose hit "
                    "questions it answers)");
      }
      for (int j = 0; j < rule.to_size(); ++j) {
        if (!plan_->partner_index.contains(rule.to(j)) && !Unreliable("partners")) {
          Error(absl::StrCat(path, ".to[", j, "]"),
                absl::StrCat(Quote(rule.to(j)), " is not a partner in this policy",
                             DidYouMean(rule.to(j), partner_names_)));
        }
      }
      if (rule.key_types().empty()) {
        Error(path, "an answer rule needs `key_types:` (which questions it answers)");
      }
      for (int j = 0; j < rule.key_types_size(); ++j) {
        const auto type = static_cast<v1::MatchKeyType>(rule.key_types(j));
        if (std::find(index.begin(), index.end(), type) == index.end()) {
          Error(absl::StrCat(path, ".key_types[", j, "]"),
                absl::StrCat(v1::MatchKeyType_Name(type),
                             " is not indexed (`matching.index`), so every "
                             "answer would be no-hit"));
        }
      }
    }
    if (m.key().empty()) {
      if (first_personal >= 0) {
        Error(absl::StrCat("matching.index[", first_personal, "]"),
              absl::StrCat("indexing ",
                           v1::MatchKeyType_Name(m.index(first_personal)),
                           " (personal data) needs `matching.key`: the key "
                           "under `keys:` that turns values held in clear "
                           "into pseudonym codes, so no personal value is "
                           "indexed in clear"));
      }
      return;
    }
    auto it = key_index_.find(m.key());
    if (it == key_index_.end()) {
      if (!Unreliable("keys")) {
        Error("matching.key", absl::StrCat("key ", Quote(m.key()),
                                           " is not defined under `keys:`",
                                           DidYouMean(m.key(), key_names_)));
      }
      return;
    }
    used_keys_.insert(m.key());
    if (first_personal < 0) {
      Warning("matching.key",
              "`matching.key` is used for personal key types only (PERSON_NAME, "
              "BADGE_ID, DOCUMENT_NUMBER), and none is indexed");
    }
    if (it->second >= 0) plan_->match_pseudonymiser = plan_->keys[it->second].get();
  }

  // The `requests` section: which partners may ask for which withheld
  // fields, how many officers approve, when a request expires.
  void CompileRequests() {
    for (int i = 0; i < policy_.requests_size(); ++i) {
      const v1::FieldRequestRule& rule = policy_.requests(i);
      const std::string path = absl::StrCat("requests[", i, "]");
      if (rule.from().empty()) {
        Error(path, "a requests rule needs `from:` (the partners that may ask)");
      }
      for (int j = 0; j < rule.from_size(); ++j) {
        if (!plan_->partner_index.contains(rule.from(j)) && !Unreliable("partners")) {
          Error(absl::StrCat(path, ".from[", j, "]"),
                absl::StrCat(Quote(rule.from(j)), " is not a partner in this policy",
                             DidYouMean(rule.from(j), partner_names_)));
        }
      }
      if (rule.fields().empty()) {
        Error(path, "a requests rule needs `fields:` (the body field paths "
                    "partners may ask for, e.g. persons.name)");
      }
      for (int j = 0; j < rule.fields_size(); ++j) {
        if (absl::Status s = CheckRequestFieldPath(rule.fields(j)); !s.ok()) {
          Error(absl::StrCat(path, ".fields[", j, "]"), std::string(s.message()));
        }
      }
      if (rule.approvers() < 0 || rule.approvers() > kMaxRequestApprovers) {
        Error(path + ".approvers",
              absl::StrCat("approvers: 1 to ", kMaxRequestApprovers,
                           " distinct officers (leave it out for 2, four eyes)"));
      } else if (rule.approvers() == 1) {
        Warning(path + ".approvers",
                "one approver releases withheld fields without a second pair of eyes");
      }
      if (absl::StatusOr<absl::Duration> d = ParseRequestExpiry(rule.expires_after());
          !d.ok()) {
        Error(path + ".expires_after",
              absl::StrCat("expires_after: ", d.status().message()));
      }
    }
  }

  // Warnings about rules that cannot have any effect.
  void Analyse() {
    const auto& rules = plan_->rules;
    for (const CompiledRule& r : rules) {
      const v1::Rule& src = policy_.rules(r.index);
      std::string path = absl::StrCat("rules[", r.index, "]");
      if (src.share().empty() && src.withhold().empty() && src.transform().empty()) {
        Warning(path, absl::StrCat("rule ", Quote(r.name),
                                   " does nothing: it has no share, withhold or transform"));
        continue;
      }
      bool never = true, always_false = true;
      uint32_t missing_levels = 0;
      for (const auto& fk : r.kinds) {
        if (!fk.applies) continue;
        bool constant_false = fk.condition != nullptr && fk.condition->constant() == false;
        uint32_t required = fk.condition == nullptr ? 0 : fk.condition->required_levels();
        uint32_t missing = required & ~r.allowed_levels;
        missing_levels |= missing;
        always_false &= constant_false;
        never &= constant_false || missing != 0;
      }
      if (always_false) {
        Warning(path + ".when", absl::StrCat("rule ", Quote(r.name),
                                             " can never match: its condition is always false"));
        continue;
      }
      // A gated rule still protects (its withhold, redact and transforms
      // apply to every item it matches): only its share is dead.
      const bool protects = !src.withhold().empty() || !src.transform().empty();
      if (never && src.share().empty()) never = false;
      if (never) {
        std::vector<std::string> levels;
        for (int l : {v1::RED, v1::H2, v1::H3}) {
          if (missing_levels & (1u << l)) {
            levels.push_back(v1::RestrictedLevel_Name(static_cast<v1::RestrictedLevel>(l)));
          }
        }
        Warning(path + ".when",
                absl::StrCat("rule ", Quote(r.name),
                             protects ? " can never release anything" : " can never match",
                             ": its condition requires ", absl::StrJoin(levels, ", "),
                             " items but the rule does not list ",
                             absl::StrJoin(levels, ", "), " in `allow_restricted`",
                             protects ? " (its withhold and transforms still apply)" : ""));
        continue;
      }
      bool releases = false;
      for (const auto& fk : r.kinds) {
        if (!fk.applies) continue;
        FieldSet effective = fk.share;
        effective.Subtract(fk.withhold);
        effective.Subtract(fk.redact);
        releases |= !effective.Empty();
      }
      if (!src.share().empty() && !releases) {
        Warning(path, absl::StrCat("rule ", Quote(r.name),
                                   " withholds or redacts everything it shares"));
      }
    }
    FindDeadShares();
    FindShadowedRules();
    FindTransformConflicts();
    for (int i = 0; i < policy_.keys_size(); ++i) {
      if (!policy_.keys(i).name().empty() && !used_keys_.contains(policy_.keys(i).name())) {
        Warning(absl::StrCat("keys[", i, "]"),
                absl::StrCat("key ", Quote(policy_.keys(i).name()), " is not used by any rule"));
      }
    }
  }

  static std::set<std::string> ToSet(const google::protobuf::RepeatedPtrField<std::string>& v) {
    return std::set<std::string>(v.begin(), v.end());
  }

  // True if, whenever rule `r` matches, `s` matches too and `r` adds
  // nothing to what `s` decides.
  bool Shadows(const CompiledRule& s, const CompiledRule& r,
               const std::set<std::string>& s_to, const std::set<std::string>& r_to) const {
    const v1::Rule& rs = policy_.rules(r.index);
    const v1::Rule& ss = policy_.rules(s.index);
    if (!rs.withhold().empty() || !rs.transform().empty() || rs.share().empty()) return false;
    absl::string_view s_when = absl::StripAsciiWhitespace(ss.when());
    if (!s_when.empty() && s_when != absl::StripAsciiWhitespace(rs.when())) return false;
    if ((r.allowed_levels & ~s.allowed_levels) != 0) return false;
    if (r.forward_received && !s.forward_received) return false;
    if (!std::includes(s_to.begin(), s_to.end(), r_to.begin(), r_to.end())) return false;
    for (int k = 0; k < 2; ++k) {
      if (!r.kinds[k].applies) continue;
      if (!s.kinds[k].applies) return false;
      FieldSet covered = s.kinds[k].share;
      covered |= s.kinds[k].withhold;
      covered |= s.kinds[k].redact;
      if (!r.kinds[k].share.IsSubsetOf(covered)) return false;
    }
    return true;
  }

  // A share that another rule's withhold (or redact) cancels for a partner
  // whenever the sharing rule matches: the other rule matches at least as
  // often (no condition, or the same one), and withhold always wins, also
  // for restricted and received items. Officers meet this when a general
  // protective rule ("informants never leave") meets a rule written for
  // restricted items that shares the same field.
  // Rules whose share FindDeadShares reported (indexes into plan_->rules).
  absl::flat_hash_set<size_t> dead_shares_;

  void FindDeadShares() {
    const auto& rules = plan_->rules;
    for (size_t i = 0; i < rules.size(); ++i) {
      const CompiledRule& r = rules[i];
      const v1::Rule& rs = policy_.rules(r.index);
      if (rs.share().empty()) continue;
      absl::string_view r_when = absl::StripAsciiWhitespace(rs.when());
      std::vector<std::string> dead_for;
      std::set<std::string> cancelled_by;
      for (const std::string& partner : ToSet(rs.to())) {
        bool dead = false;
        std::set<std::string> by;
        for (int k = 0; k < 2; ++k) {
          if (!r.kinds[k].applies || r.kinds[k].share.Empty()) continue;
          FieldSet cancelled(SchemaForSlot(k).size());
          std::set<std::string> by_kind;
          for (size_t j = 0; j < rules.size(); ++j) {
            if (j == i || !rules[j].kinds[k].applies) continue;
            const v1::Rule& ws = policy_.rules(rules[j].index);
            absl::string_view w_when = absl::StripAsciiWhitespace(ws.when());
            if (!w_when.empty() && w_when != r_when) continue;
            if (std::find(ws.to().begin(), ws.to().end(), partner) == ws.to().end()) continue;
            FieldSet removes = rules[j].kinds[k].withhold;
            removes |= rules[j].kinds[k].redact;
            if (removes.Empty()) continue;
            FieldSet kept = r.kinds[k].share;
            kept.Subtract(removes);
            if (kept == r.kinds[k].share) continue;  // cancels none of it
            cancelled |= removes;
            by_kind.insert(rules[j].name);
          }
          // Dead if, for some kind the rule applies to, all of it goes.
          if (!r.kinds[k].share.IsSubsetOf(cancelled)) continue;
          dead = true;
          by.insert(by_kind.begin(), by_kind.end());
        }
        if (!dead) continue;
        dead_for.push_back(partner);
        cancelled_by.insert(by.begin(), by.end());
      }
      if (dead_for.empty()) continue;
      dead_shares_.insert(i);
      std::vector<std::string> quoted;
      for (const std::string& name : cancelled_by) quoted.push_back(Quote(name));
      Warning(absl::StrCat("rules[", r.index, "].share"),
              absl::StrCat("rule ", Quote(r.name), " shares nothing with ",
                           absl::StrJoin(dead_for, ", "), ": everything it shares is "
                           "withheld by ", absl::StrJoin(quoted, ", "),
                           " (withhold always wins, also for restricted and received "
                           "items)"));
    }
  }

  void FindShadowedRules() {
    const auto& rules = plan_->rules;
    // Only a rule with no condition or the same condition can shadow:
    // bucket by condition so large policies compare few pairs.
    absl::flat_hash_map<std::string, std::vector<int>> by_when;
    std::vector<std::set<std::string>> to(rules.size());
    for (size_t i = 0; i < rules.size(); ++i) {
      by_when[std::string(absl::StripAsciiWhitespace(policy_.rules(rules[i].index).when()))]
          .push_back(static_cast<int>(i));
      to[i] = ToSet(policy_.rules(rules[i].index).to());
    }
    for (size_t i = 0; i < rules.size(); ++i) {
      const CompiledRule& r = rules[i];
      if (dead_shares_.contains(i)) continue;  // said more precisely already
      std::string when(absl::StripAsciiWhitespace(policy_.rules(r.index).when()));
      std::vector<int> candidates = by_when[when];
      if (!when.empty()) {
        const auto& unconditional = by_when[""];
        candidates.insert(candidates.end(), unconditional.begin(), unconditional.end());
      }
      for (int j : candidates) {
        if (static_cast<size_t>(j) == i) continue;
        const CompiledRule& s = rules[j];
        if (!Shadows(s, r, to[j], to[i])) continue;
        // Two identical rules shadow each other: warn about the later one.
        if (j > static_cast<int>(i) && Shadows(r, s, to[i], to[j])) continue;
        Warning(absl::StrCat("rules[", r.index, "]"),
                absl::StrCat("rule ", Quote(r.name), " is shadowed by rule ",
                             Quote(s.name), ": whenever it matches, ", Quote(s.name),
                             " matches too and already decides everything it shares"));
        break;
      }
    }
  }

  void FindTransformConflicts() {
    const auto& rules = plan_->rules;
    std::set<std::tuple<int, int, std::string>> warned;
    for (int k = 0; k < 2; ++k) {
      // leaf -> (rule, spec) for transforms whose ties are broken arbitrarily.
      absl::flat_hash_map<int, std::vector<std::pair<int, const TransformSpec*>>> by_leaf;
      for (size_t i = 0; i < rules.size(); ++i) {
        for (const auto& [leaf, spec] : rules[i].kinds[k].transforms) {
          if (spec.kind == TransformKind::kPseudonymise || spec.kind == TransformKind::kReplace) {
            by_leaf[leaf].push_back({static_cast<int>(i), &spec});
          }
        }
      }
      for (const auto& [leaf, list] : by_leaf) {
        for (size_t a = 0; a < list.size(); ++a) {
          for (size_t b = a + 1; b < list.size(); ++b) {
            const TransformSpec& x = *list[a].second;
            const TransformSpec& y = *list[b].second;
            if (x.kind != y.kind || x.text == y.text) continue;
            const CompiledRule& ra = rules[list[a].first];
            const CompiledRule& rb = rules[list[b].first];
            std::set<std::string> ta = ToSet(policy_.rules(ra.index).to());
            bool overlap = false;
            for (const std::string& p : policy_.rules(rb.index).to()) overlap |= ta.count(p) > 0;
            if (!overlap) continue;
            const std::string& field = SchemaForSlot(k).node(leaf).path;
            if (!warned.insert({list[a].first, list[b].first, field}).second) continue;
            const TransformSpec& winner = MoreProtective(x, y) ? x : y;
            Warning(absl::StrCat("rules[", rb.index, "].transform"),
                    absl::StrCat("rules ", Quote(ra.name), " and ", Quote(rb.name), " ",
                                 TransformName(x.kind), " ", Quote(field),
                                 " differently for the same partner; when both match, ",
                                 winner.Describe(), " is used"));
          }
        }
      }
    }
  }

  void BuildPlans() {
    for (int k = 0; k < 2; ++k) {
      plan_->kind_position[k].assign(plan_->rules.size(), -1);
      int count = 0;
      for (size_t i = 0; i < plan_->rules.size(); ++i) {
        if (plan_->rules[i].kinds[k].applies) plan_->kind_position[k][i] = count++;
      }
      plan_->kind_rule_count[k] = count;
    }
    for (size_t i = 0; i < plan_->rules.size(); ++i) {
      const v1::Rule& src = policy_.rules(plan_->rules[i].index);
      absl::flat_hash_set<std::string> seen;
      for (const std::string& partner : src.to()) {
        if (!seen.insert(partner).second) continue;
        auto index = plan_->partner_index.find(partner);
        if (index == plan_->partner_index.end()) continue;  // reported as an error
        PartnerPlan& p = plan_->partners[index->second];
        for (int k = 0; k < 2; ++k) {
          if (plan_->rules[i].kinds[k].applies) p.rules[k].push_back(static_cast<int>(i));
        }
      }
    }
  }

  const v1::SharingPolicy& policy_;
  const SourceMap& sources_;
  std::string base_dir_;
  std::vector<Diagnostic>* out_;
  std::vector<Diagnostic> diagnostics_;
  int errors_ = 0;
  std::unique_ptr<CompiledPolicy> result_;
  CompiledPolicy::Plan* plan_ = nullptr;
  std::vector<std::string> partner_names_;
  std::vector<std::string> key_names_;
  absl::flat_hash_map<std::string, int> key_index_;
  absl::flat_hash_set<std::string> used_keys_;
  const absl::flat_hash_set<std::string>* unreliable_;
};

CompiledPolicy::CompiledPolicy() = default;
CompiledPolicy::~CompiledPolicy() = default;

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompileWithSources(
    const v1::SharingPolicy& policy, const SourceMap& sources,
    const std::string& base_dir, std::vector<Diagnostic>* diagnostics,
    const absl::flat_hash_set<std::string>* unreliable_sections) {
  std::vector<Diagnostic> local;
  PolicyCompiler compiler(policy, sources, base_dir,
                          diagnostics != nullptr ? diagnostics : &local,
                          unreliable_sections);
  return compiler.Run();
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompilePolicy(
    const v1::SharingPolicy& policy, const std::string& display_name,
    const std::string& base_dir, std::vector<Diagnostic>* diagnostics) {
  SourceMap sources(display_name, nullptr);
  return CompileWithSources(policy, sources, base_dir, diagnostics);
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> LoadPolicyText(
    absl::string_view text, const std::string& display_name,
    const std::string& base_dir, std::vector<Diagnostic>* diagnostics) {
  std::vector<Diagnostic> local;
  std::vector<Diagnostic>* out = diagnostics != nullptr ? diagnostics : &local;
  auto shared_text = std::make_shared<const std::string>(text);
  SourceMap sources(display_name, shared_text);
  std::optional<YAML::Node> root = ParseYaml(*shared_text, display_name, out);
  if (!root.has_value()) {
    return ErrorsToStatus(absl::StrCat("policy ", display_name, " is invalid"), *out);
  }
  return CompileYamlNode(*root, sources, base_dir, out);
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> LoadPolicyFile(
    const std::string& path, std::vector<Diagnostic>* diagnostics) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Diagnostic d;
    d.file = path;
    d.message = "cannot open the policy file";
    if (diagnostics != nullptr) diagnostics->push_back(d);
    return absl::NotFoundError(absl::StrCat("cannot open policy file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  constexpr size_t kMaxPolicyBytes = 16 << 20;
  if (text.size() > kMaxPolicyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy file ", path, " is larger than 16 MiB"));
  }
  size_t slash = path.rfind('/');
  std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (base_dir.empty()) base_dir = "/";
  return LoadPolicyText(text, path, base_dir, diagnostics);
}

absl::StatusOr<std::vector<std::string>> CreateMissingKeyFiles(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open policy file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto text = std::make_shared<const std::string>(buffer.str());
  std::vector<Diagnostic> errors;
  std::optional<YAML::Node> root = ParseYaml(*text, path, &errors);
  v1::SharingPolicy policy;
  SourceMap sources(path, text);
  if (!root.has_value() || !ReadYamlMessage(*root, &policy, "", &sources, &errors)) {
    return ErrorsToStatus(absl::StrCat("policy ", path, " cannot be read"), errors);
  }
  size_t slash = path.rfind('/');
  std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::vector<std::string> created;
  for (const v1::PseudonymKey& key : policy.keys()) {
    if (key.file().empty()) continue;
    std::string file = JoinPath(base_dir, key.file());
    struct stat st;
    if (::stat(file.c_str(), &st) == 0) continue;
    size_t dir_end = file.rfind('/');
    if (dir_end != std::string::npos && dir_end > 0) {
      // Create missing parent directories, owner-only like the keys.
      for (size_t i = 1; i <= dir_end; ++i) {
        if (i == dir_end || file[i] == '/') {
          std::string dir = file.substr(0, i);
          if (::stat(dir.c_str(), &st) != 0 && ::mkdir(dir.c_str(), 0700) != 0) {
            return absl::UnavailableError(absl::StrCat("cannot create directory ", dir));
          }
        }
      }
    }
    HG_RETURN_IF_ERROR(CreateRandomKeyFile(file));
    created.push_back(file);
  }
  return created;
}

}  // namespace havengate::policy
