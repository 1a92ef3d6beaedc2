// Randomised leak test: a million generated (policy, item) cases, each
// decided by the engine and by a deliberately simple reference model written
// here from the written semantics (path prefixes and a copy-then-clear
// projection, nothing shared with the engine's bit sets). The two must
// agree exactly, and every string value the reference says a partner must
// not see as is — a unique canary — must appear nowhere in what the engine
// produces for that partner: not in the projected item (binary or JSON).
// No canary at all may appear in what is audited or logged about the
// decision: the field lists and matched rules of PartnerDecision, the
// reason text, the explanation, the policy's diagnostics. A partner that
// indexes every match key of what it received records hits holding only
// released values, personal ones only as pseudonym codes, and a refusal to
// make a key of a personal value in clear does not repeat it. A one-off
// release on request (a third of the items, random approved paths) carries
// every value at the approved paths and no other body value.
//
// Every body string field can hold a canary; a policy is compiled once and
// decides kItemsPerPolicy items. Deterministic: trial t uses the seed
// TrialSeed(--seed, t), printed with every failure together with the flags
// that rerun just that trial.
//
//   policy_leak_test                      # 1,000,000 cases (CI; 100,000
//                                         # in sanitizer builds)
//   policy_leak_test --cases=20000        # fewer, while developing
//   policy_leak_test --seed=7 --trial=123 # rerun one failing trial
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "policy/field_requests.h"
#include "policy/leak_testing.h"
#include "policy/matching.h"
#include "policy/policy.h"
#include "policy/policy_testing.h"
#include "proto/item_validation.h"
#include "proto/json.h"

namespace havengate::policy {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

const std::vector<std::string> kPartners = {"org-a", "org-b", "org-c", "org-d"};
constexpr char kSelf[] = "org-self";

// ------------------------------------------------------------ generation

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Coin(double p = 0.5) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[Int(0, static_cast<int>(v.size()) - 1)]; }
  std::string Canary() { return testing::Canary(++canaries_); }
  double Coordinate() { return Int(-89'000'000, 89'000'000) / 1e6; }

 private:
  std::mt19937 rng_;
  int canaries_ = 0;
};

template <typename Body>
void FillEntities(Gen& g, Body* b) {
  if (g.Coin(0.8)) b->set_title(g.Canary());
  if (g.Coin(0.7)) {
    v1::Location* l = b->mutable_location();
    if (g.Coin()) l->set_unlocode(g.Canary());
    if (g.Coin()) l->set_terminal(g.Canary());
    if (g.Coin()) l->set_description(g.Canary());
    if (g.Coin()) {
      l->mutable_position()->set_latitude(g.Coordinate());
      l->mutable_position()->set_longitude(g.Coordinate());
    }
  }
  for (int i = g.Int(0, 3); i > 0; --i) {
    v1::Container* c = b->add_containers();
    if (g.Coin(0.8)) c->set_number(g.Canary());
    if (g.Coin()) c->set_seal_number(g.Canary());
    if (g.Coin()) c->set_consignee(g.Canary());
    if (g.Coin()) c->set_port_of_loading(g.Canary());
    if (g.Coin()) c->set_pin_release_status(static_cast<v1::Container::PinReleaseStatus>(g.Int(0, 4)));
  }
  for (int i = g.Int(0, 3); i > 0; --i) {
    v1::Person* p = b->add_persons();
    if (g.Coin(0.8)) p->set_name(g.Canary());
    if (g.Coin()) p->set_badge_id(g.Canary());
    if (g.Coin()) p->set_document_number(g.Canary());
    if (g.Coin()) p->set_role(static_cast<v1::Person::Role>(g.Int(0, 6)));
  }
  for (int i = g.Int(0, 2); i > 0; --i) {
    v1::Vessel* v = b->add_vessels();
    if (g.Coin()) v->set_imo(g.Canary());
    if (g.Coin()) v->set_name(g.Canary());
  }
  if (g.Coin(0.3)) b->add_companies()->set_name(g.Canary());
  if (g.Coin()) {
    b->mutable_reporter()->set_name(g.Canary());
    if (g.Coin()) b->mutable_reporter()->set_contact(g.Canary());
  }
  if (g.Coin()) {
    b->mutable_source()->set_reference(g.Canary());
    b->mutable_source()->set_reliability(static_cast<v1::Source::Reliability>(g.Int(0, 6)));
  }
  if (g.Coin(0.3)) {
    v1::Attachment* a = b->add_attachments();
    a->set_file_name(g.Canary());
    a->set_size_bytes(g.Int(1, 1 << 20));
  }
}

// Puts canaries into unset string fields of the body and of every
// sub-message it holds, so that fields FillEntities does not name
// (persons.nationality, companies.address, attachments.sha256, ...) carry
// values too.
void SprinkleCanaries(Gen& g, Message* m) {
  const Reflection* r = m->GetReflection();
  const google::protobuf::Descriptor* d = m->GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        if (g.Coin(0.15)) r->AddString(m, f, g.Canary());
      } else if (r->GetString(*m, f).empty() && g.Coin(0.3)) {
        r->SetString(m, f, g.Canary());
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int j = 0; j < r->FieldSize(*m, f); ++j) {
          SprinkleCanaries(g, r->MutableRepeatedMessage(m, f, j));
        }
      } else if (r->HasField(*m, f)) {
        SprinkleCanaries(g, r->MutableMessage(m, f));
      }
    }
  }
}

v1::Item RandomItem(Gen& g, bool received) {
  v1::Item item;
  item.set_item_id(g.Canary());
  item.set_version(g.Int(1, 3));
  item.set_origin(received ? g.Pick(kPartners) : kSelf);
  if (g.Coin()) item.mutable_created_at()->set_seconds(1'790'000'000 + g.Int(0, 1'000'000));
  v1::Classification* c = item.mutable_classification();
  c->set_tlp(static_cast<v1::Classification::Tlp>(g.Int(1, 5)));
  c->set_handling_code(static_cast<v1::Classification::HandlingCode>(g.Int(0, 4)));
  c->set_no_reshare(g.Coin(0.2));
  for (const std::string& p : kPartners) {
    if (g.Coin(0.3)) c->add_reshare_to(p);
  }
  if (g.Coin()) {
    v1::Alert* a = item.mutable_alert();
    a->set_category(static_cast<v1::Alert::Category>(g.Int(1, 8)));
    a->set_severity(static_cast<v1::Alert::Severity>(g.Int(1, 4)));
    if (g.Coin()) a->set_description(g.Canary());
    if (g.Coin()) {
      a->mutable_observed_at()->set_seconds(1'790'000'000 + g.Int(0, 10'000'000));
      a->mutable_observed_at()->set_nanos(g.Int(0, 999'999'999));
    }
    FillEntities(g, a);
    SprinkleCanaries(g, a);
  } else {
    v1::IntelligenceReport* r = item.mutable_report();
    if (g.Coin()) r->set_summary(g.Canary());
    for (int i = g.Int(0, 3); i > 0; --i) r->add_related_item_ids(g.Canary());
    FillEntities(g, r);
    SprinkleCanaries(g, r);
  }
  return item;
}

// Conditions with their meaning computed directly on the typed item.
struct CondTemplate {
  std::string text;
  int kinds;  // 0 both, 1 alert only, 2 report only
  std::function<bool(const v1::Item&)> eval;
};

template <typename F>
auto OnBody(const v1::Item& item, F f) {
  return item.has_alert() ? f(item.alert()) : f(item.report());
}

const std::vector<CondTemplate>& Conditions() {
  static const auto* conditions = new std::vector<CondTemplate>{
      {"", 0, [](const v1::Item&) { return true; }},
      {"classification.tlp <= AMBER", 0,
       [](const v1::Item& i) { return i.classification().tlp() <= v1::Classification::AMBER; }},
      {"classification.handling_code == H1", 0,
       [](const v1::Item& i) { return i.classification().handling_code() == v1::Classification::H1; }},
      {"size(containers) > 1", 0,
       [](const v1::Item& i) { return OnBody(i, [](const auto& b) { return b.containers_size() > 1; }); }},
      {"containers.exists(c, has(c.consignee))", 0,
       [](const v1::Item& i) {
         return OnBody(i, [](const auto& b) {
           for (const auto& c : b.containers()) {
             if (!c.consignee().empty()) return true;
           }
           return false;
         });
       }},
      {"persons.all(p, p.role != SUSPECT)", 0,
       [](const v1::Item& i) {
         return OnBody(i, [](const auto& b) {
           for (const auto& p : b.persons()) {
             if (p.role() == v1::Person::SUSPECT) return false;
           }
           return true;
         });
       }},
      {"has(location.position) || !has(reporter)", 0,
       [](const v1::Item& i) {
         return OnBody(i, [](const auto& b) {
           return b.location().has_position() || !b.has_reporter();
         });
       }},
      {"origin == \"org-a\"", 0, [](const v1::Item& i) { return i.origin() == "org-a"; }},
      {"severity >= HIGH", 1,
       [](const v1::Item& i) { return i.alert().severity() >= v1::Alert::HIGH; }},
      {"category in [SEIZURE, RIP_OFF, PIN_CODE_FRAUD]", 1,
       [](const v1::Item& i) {
         auto c = i.alert().category();
         return c == v1::Alert::SEIZURE || c == v1::Alert::RIP_OFF || c == v1::Alert::PIN_CODE_FRAUD;
       }},
      {"size(related_item_ids) >= 2", 2,
       [](const v1::Item& i) { return i.report().related_item_ids_size() >= 2; }},
  };
  return *conditions;
}

struct PathChoice {
  std::string path;
  int kinds;  // 0 both, 1 alert only, 2 report only
};

const std::vector<PathChoice>& Paths() {
  static const auto* paths = new std::vector<PathChoice>{
      {"*", 0}, {"title", 0}, {"location", 0}, {"location.unlocode", 0},
      {"location.position", 0}, {"location.position.latitude", 0}, {"containers", 0},
      {"containers.number", 0}, {"containers.consignee", 0}, {"containers.pin_release_status", 0},
      {"persons", 0}, {"persons.name", 0}, {"persons.badge_id", 0}, {"persons.role", 0},
      {"vessels", 0}, {"vessels.imo", 0}, {"companies", 0}, {"reporter", 0},
      {"reporter.contact", 0}, {"source", 0}, {"source.reference", 0}, {"attachments", 0},
      {"location.description", 0}, {"containers.cargo_description", 0},
      {"persons.nationality", 0}, {"persons.employer", 0}, {"vessels.flag", 0},
      {"companies.address", 0}, {"reporter.unit", 0}, {"attachments.sha256", 0},
      {"category", 1}, {"severity", 1}, {"description", 1}, {"observed_at", 1},
      {"summary", 2}, {"assessment", 2}, {"related_item_ids", 2}};
  return *paths;
}

struct TransformChoice {
  std::string path;
  int kinds;
  std::function<v1::Transform(Gen&)> make;
};

const std::vector<TransformChoice>& Transforms() {
  auto pseudonymise = [](Gen& g) {
    v1::Transform t;
    t.mutable_pseudonymise()->set_key(g.Coin() ? "k0" : "k1");
    return t;
  };
  auto mask = [](Gen& g) {
    v1::Transform t;
    t.mutable_mask()->set_keep_last(g.Int(0, 4));
    return t;
  };
  auto replace = [](Gen& g) {
    v1::Transform t;
    t.mutable_replace()->set_with(g.Coin() ? "R1" : "R2");
    return t;
  };
  auto redact = [](Gen&) {
    v1::Transform t;
    t.mutable_redact();
    return t;
  };
  auto round = [](Gen& g) {
    v1::Transform t;
    t.mutable_round_geo()->set_decimals(g.Int(0, 4));
    return t;
  };
  auto truncate = [](Gen& g) {
    v1::Transform t;
    t.mutable_truncate_time()->set_unit(static_cast<v1::TruncateTime::Unit>(g.Int(1, 3)));
    return t;
  };
  static const auto* transforms = new std::vector<TransformChoice>{
      {"persons.name", 0, pseudonymise}, {"persons.name", 0, mask},
      {"persons.name", 0, redact}, {"persons.badge_id", 0, mask},
      {"containers.number", 0, replace}, {"containers.number", 0, pseudonymise},
      {"containers.consignee", 0, pseudonymise}, {"title", 0, mask}, {"title", 0, replace},
      {"location", 0, redact}, {"location.position", 0, round},
      {"location.position.latitude", 0, round}, {"persons", 0, redact},
      {"source.reference", 0, mask}, {"observed_at", 1, truncate},
      {"description", 1, replace}, {"related_item_ids", 2, mask}, {"summary", 2, redact}};
  return *transforms;
}

bool KindFits(int choice, int rule_kinds) { return choice == 0 || choice == rule_kinds; }

v1::SharingPolicy RandomPolicy(Gen& g, std::vector<std::function<bool(const v1::Item&)>>* conds) {
  v1::SharingPolicy p;
  p.set_organisation(kSelf);
  p.set_version("random");
  for (const std::string& id : kPartners) p.add_partners()->set_id(id);
  for (const char* k : {"k0", "k1"}) {
    v1::PseudonymKey* key = p.add_keys();
    key->set_name(k);
    key->set_file(absl::StrCat(k, ".key"));
  }
  for (int r = g.Int(1, 6); r > 0; --r) {
    v1::Rule* rule = p.add_rules();
    rule->set_name(absl::StrCat("rule-", p.rules_size()));
    for (const std::string& id : kPartners) {
      if (g.Coin(0.4)) rule->add_to(id);
    }
    if (rule->to().empty()) rule->add_to(g.Pick(kPartners));
    int kinds = g.Int(0, 2);  // 0 both, 1 alert, 2 report
    if (kinds == 1) rule->add_kinds(v1::ALERT);
    if (kinds == 2) rule->add_kinds(v1::REPORT);
    std::vector<const CondTemplate*> usable;
    for (const CondTemplate& c : Conditions()) {
      if (KindFits(c.kinds, kinds)) usable.push_back(&c);
    }
    const CondTemplate* cond = usable[g.Int(0, static_cast<int>(usable.size()) - 1)];
    rule->set_when(cond->text);
    conds->push_back(cond->eval);
    for (const PathChoice& path : Paths()) {
      if (!KindFits(path.kinds, kinds)) continue;
      if (g.Coin(path.path == "*" ? 0.15 : 0.2)) rule->add_share(path.path);
      if (g.Coin(0.07)) rule->add_withhold(path.path);
    }
    for (const TransformChoice& t : Transforms()) {
      if (!KindFits(t.kinds, kinds) || rule->transform().count(t.path)) continue;
      if (g.Coin(0.12)) (*rule->mutable_transform())[t.path] = t.make(g);
    }
    for (v1::RestrictedLevel level : {v1::RED, v1::H2, v1::H3}) {
      if (g.Coin(0.3)) rule->add_allow_restricted(level);
    }
    rule->set_forward_received(g.Coin(0.4));
  }
  return p;
}

// ------------------------------------------------------------ reference

int Rank(const v1::Transform& t) {
  switch (t.kind_case()) {
    case v1::Transform::kRedact: return 6;
    case v1::Transform::kPseudonymise: return 5;
    case v1::Transform::kReplace: return 4;
    case v1::Transform::kMask: return 3;
    default: return 2;
  }
}

// True if a protects more than b.
bool Stronger(const v1::Transform& a, const v1::Transform& b) {
  if (Rank(a) != Rank(b)) return Rank(a) > Rank(b);
  switch (a.kind_case()) {
    case v1::Transform::kPseudonymise: return a.pseudonymise().key() < b.pseudonymise().key();
    case v1::Transform::kReplace: return a.replace().with() < b.replace().with();
    case v1::Transform::kMask: return a.mask().keep_last() < b.mask().keep_last();
    case v1::Transform::kRoundGeo: return a.round_geo().decimals() < b.round_geo().decimals();
    case v1::Transform::kTruncateTime: return a.truncate_time().unit() > b.truncate_time().unit();
    default: return false;
  }
}

std::string RefPseudonym(const std::string& key, const std::string& value) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(value.data()), value.size(), mac, &len);
  return "ps:" + absl::BytesToHexString(std::string(reinterpret_cast<char*>(mac), 16));
}

std::string RefMask(const std::string& value, size_t keep) {
  // Values are ASCII canaries here.
  if (value.size() <= keep) return std::string(value.size(), '*');
  return std::string(value.size() - keep, '*') + value.substr(value.size() - keep);
}

struct RefRules {
  // Rules that match (partner, kind, condition): their withhold, redact and
  // transforms apply. Of those, the ones whose gates let them release: only
  // their shares count.
  std::vector<const v1::Rule*> matched;
  std::vector<const v1::Rule*> releasing;
  const std::map<std::string, std::string>* keys;

  bool Released(const std::string& path) const {
    bool shared = false;
    for (const v1::Rule* r : releasing) {
      for (const std::string& s : r->share()) shared |= testing::PathCovers(s, path);
    }
    for (const v1::Rule* r : matched) {
      for (const std::string& w : r->withhold()) {
        if (testing::PathCovers(w, path)) return false;
      }
    }
    return shared;
  }
  const v1::Transform* TransformFor(const std::string& path) const {
    const v1::Transform* best = nullptr;
    for (const v1::Rule* r : matched) {
      for (const auto& [target, t] : r->transform()) {
        if (!testing::PathCovers(target, path)) continue;
        if (best == nullptr || Stronger(t, *best)) best = &t;
      }
    }
    return best;
  }
};

std::string ApplyToString(const v1::Transform& t, const std::string& v, const RefRules& rules) {
  switch (t.kind_case()) {
    case v1::Transform::kPseudonymise: return RefPseudonym(rules.keys->at(t.pseudonymise().key()), v);
    case v1::Transform::kMask: return RefMask(v, t.mask().keep_last());
    case v1::Transform::kReplace: return t.replace().with();
    default: return "UNEXPECTED";
  }
}

// Copy-then-clear projection: returns true if anything is left in `m`.
bool RefProject(Message* m, const std::string& prefix, const RefRules& rules) {
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    bool leaf = f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
                f->message_type() == google::protobuf::Timestamp::descriptor();
    if (leaf) {
      const v1::Transform* t = rules.TransformFor(path);
      if (!rules.Released(path) || (t != nullptr && t->has_redact())) {
        r->ClearField(m, f);
        continue;
      }
      if (t == nullptr) continue;
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        if (f->is_repeated()) {
          for (int i = 0; i < r->FieldSize(*m, f); ++i) {
            r->SetRepeatedString(m, f, i, ApplyToString(*t, r->GetRepeatedString(*m, f, i), rules));
          }
        } else {
          r->SetString(m, f, ApplyToString(*t, r->GetString(*m, f), rules));
        }
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        double scale = std::pow(10.0, t->round_geo().decimals());
        r->SetDouble(m, f, std::round(r->GetDouble(*m, f) * scale) / scale);
      } else {
        auto* ts = static_cast<google::protobuf::Timestamp*>(r->MutableMessage(m, f));
        int64_t step = t->truncate_time().unit() == v1::TruncateTime::DAY    ? 86400
                       : t->truncate_time().unit() == v1::TruncateTime::HOUR ? 3600
                                                                              : 60;
        int64_t s = ts->seconds();
        ts->set_seconds(s - ((s % step) + step) % step);
        ts->set_nanos(0);
      }
      continue;
    }
    if (f->is_repeated()) {
      std::vector<std::unique_ptr<Message>> kept;
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        std::unique_ptr<Message> element(r->GetRepeatedMessage(*m, f, i).New());
        element->CopyFrom(r->GetRepeatedMessage(*m, f, i));
        if (RefProject(element.get(), path, rules)) kept.push_back(std::move(element));
      }
      r->ClearField(m, f);
      for (auto& e : kept) r->AddMessage(m, f)->CopyFrom(*e);
    } else if (!RefProject(r->MutableMessage(m, f), path, rules)) {
      r->ClearField(m, f);
    }
  }
  return m->ByteSizeLong() > 0;
}

struct Expected {
  bool released = false;
  v1::Item item;
};

Expected Reference(const v1::SharingPolicy& policy,
                   const std::vector<std::function<bool(const v1::Item&)>>& conds,
                   const std::map<std::string, std::string>& keys, const v1::Item& item,
                   bool received, const std::string& partner) {
  Expected e;
  if (partner == item.origin()) return e;
  v1::ItemKind kind = item.has_alert() ? v1::ALERT : v1::REPORT;
  RefRules rules{{}, {}, &keys};
  for (int i = 0; i < policy.rules_size(); ++i) {
    const v1::Rule& r = policy.rules(i);
    if (!testing::RuleMatchesButForCondition(r, item, partner) || !conds[i](item)) continue;
    rules.matched.push_back(&r);
    if (testing::RuleMayRelease(r, item, received)) rules.releasing.push_back(&r);
  }
  if (rules.releasing.empty()) return e;
  if (received && !testing::OriginatorAllows(item.classification(), partner)) return e;
  e.item = item;
  Message* body = kind == v1::ALERT ? static_cast<Message*>(e.item.mutable_alert())
                                    : static_cast<Message*>(e.item.mutable_report());
  if (!RefProject(body, "", rules)) {
    e.item.Clear();
    return e;
  }
  e.released = true;
  return e;
}

// ------------------------------------------------------------ protections

// The property of issue "protections fail closed", checked apart from the
// reference model: for every rule whose partner, kinds and condition match
// an item, nothing under its withhold or redact reaches the partner, and
// nothing under its other transforms reaches it as it was — whatever the
// gates, the originator's constraints or the other rules say.
struct Protections {
  std::vector<std::string> removed;      // withhold and redact paths
  std::vector<std::string> transformed;  // other transform paths

  bool Removes(const std::string& path) const {
    for (const std::string& p : removed) {
      if (testing::PathCovers(p, path)) return true;
    }
    return false;
  }
  bool Transforms(const std::string& path) const {
    for (const std::string& p : transformed) {
      if (testing::PathCovers(p, path)) return true;
    }
    return false;
  }
};

Protections ProtectionsFor(const v1::SharingPolicy& policy,
                           const std::vector<std::function<bool(const v1::Item&)>>& conds,
                           const v1::Item& item, const std::string& partner) {
  Protections p;
  for (int i = 0; i < policy.rules_size(); ++i) {
    const v1::Rule& r = policy.rules(i);
    if (!testing::RuleMatchesButForCondition(r, item, partner) || !conds[i](item)) continue;
    p.removed.insert(p.removed.end(), r.withhold().begin(), r.withhold().end());
    for (const auto& [target, t] : r.transform()) {
      (t.has_redact() ? p.removed : p.transformed).push_back(target);
    }
  }
  return p;
}

// Body path of every string value (canary) in `m`.
void PathsOfStrings(const Message& m, const std::string& prefix,
                    std::map<std::string, std::string>* path_of) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        (*path_of)[f->is_repeated() ? r->GetRepeatedString(m, f, i) : r->GetString(m, f)] = path;
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        PathsOfStrings(f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f),
                       path, path_of);
      }
    }
  }
}

// Paths of the leaves set in `m` (a projected body) that `p` removes.
void RemovedLeavesPresent(const Message& m, const std::string& prefix, const Protections& p,
                          std::vector<std::string>* found) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (p.Removes(path)) {
      found->push_back(path);
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    for (int i = 0, n = f->is_repeated() ? r->FieldSize(m, f) : 1; i < n; ++i) {
      RemovedLeavesPresent(f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f),
                           path, p, found);
    }
  }
}

// ------------------------------------------------------------ the test

// Sanitizer builds (tests/run-sanitized.sh) run ten times slower: there the
// default is 100,000 cases, which covers the code as well; the million runs
// in the normal build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int64_t kDefaultCases = 100'000;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr int64_t kDefaultCases = 100'000;
#else
constexpr int64_t kDefaultCases = 1'000'000;
#endif
#else
constexpr int64_t kDefaultCases = 1'000'000;
#endif

struct Flags {
  int64_t cases = kDefaultCases;  // (policy, item) pairs
  uint32_t seed = 1;
  int64_t trial = -1;         // >= 0: run only this trial
};

Flags& GetFlags() {
  static Flags flags;
  return flags;
}

// Items decided by each generated policy (compiling costs about as much as
// deciding a few items); a case is one (policy, item) pair.
constexpr int kItemsPerPolicy = 16;

// splitmix64 of (seed, trial): neighbouring trials and seeds get unrelated
// generator states.
uint32_t TrialSeed(uint32_t seed, int64_t trial) {
  uint64_t z = (uint64_t{seed} << 40) ^ static_cast<uint64_t>(trial);
  z += 0x9e3779b97f4a7c15u;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

struct Stats {
  int64_t cases = 0;
  int64_t partner_decisions = 0;
  int64_t released = 0;
  int64_t explained = 0;
  int64_t withheld_checks = 0;  // (canary, partner) pairs that must not leak
  int64_t protected_checks = 0;  // values under a matching rule's protections
  int64_t hit_keys = 0;  // match keys a receiver indexed, each checked as a hit
  int64_t release_checks = 0;  // one-off releases on request checked
  int failures = 0;
};

class LeakRun {
 public:
  LeakRun() {
    for (int k = 0; k < 2; ++k) {
      std::string path = absl::StrCat(dir_.path(), "/k", k, ".key");
      testing::WriteKeyFile(path, 40 + k);
      keys_[absl::StrCat("k", k)] = testing::ReadFileOrDie(path);
    }
    receiver_ = ReceiverPolicy();
  }

  const Stats& stats() const { return stats_; }

  // Generates trial `trial`'s policy and decides `items` items with it.
  void Trial(int64_t trial, int items) {
    const uint32_t seed = TrialSeed(GetFlags().seed, trial);
    const std::string rerun =
        absl::StrCat("trial ", trial, " (seed ", seed, "; rerun: policy_leak_test --seed=",
                     GetFlags().seed, " --trial=", trial, ")");
    Gen g(seed);
    std::vector<std::function<bool(const v1::Item&)>> conds;
    v1::SharingPolicy policy = RandomPolicy(g, &conds);
    std::vector<Diagnostic> diagnostics;
    auto compiled = CompilePolicy(policy, "random", dir_.path(), &diagnostics);
    if (!compiled.ok()) {
      ADD_FAILURE() << rerun << ": policy did not compile: " << FormatDiagnostics(diagnostics)
                    << policy.DebugString();
      ++stats_.failures;
      return;
    }
    ExpectNoCanary(FormatDiagnostics(diagnostics), "diagnostics", rerun);
    for (int n = 0; n < items && stats_.failures < kMaxFailures; ++n) {
      bool received = g.Coin(0.3);
      v1::Item item = RandomItem(g, received);
      std::vector<std::string> canaries;
      std::string item_bytes = item.SerializeAsString();
      for (absl::string_view c : testing::FindCanaries(item_bytes)) canaries.emplace_back(c);
      DecideOptions options;
      options.received_from_partner = received;
      options.explain = g.Coin(0.2);
      Decision decision = (*compiled)->Decide(item, options);
      ++stats_.cases;
      if (decision.partners.size() != kPartners.size()) {
        ADD_FAILURE() << rerun << ": " << decision.partners.size() << " partner decisions";
        ++stats_.failures;
        return;
      }
      std::map<std::string, std::string> path_of;  // value -> body path
      PathsOfStrings(item.has_alert() ? static_cast<const Message&>(item.alert())
                                      : static_cast<const Message&>(item.report()),
                     "", &path_of);
      for (const PartnerDecision& d : decision.partners) {
        CheckPartner(policy, conds, item, canaries, path_of, received, d, rerun);
      }
      if (n % 3 == 0) CheckReleaseOnRequest(g, item, path_of, rerun);
      // One partner alone decides the same as all partners together.
      if (n % 4 == 0) {
        const std::string& one = g.Pick(kPartners);
        auto single = (*compiled)->DecideFor(one, item, options);
        if (!single.ok() || single->released != decision.Find(one)->released ||
            single->projected.SerializeAsString() !=
                decision.Find(one)->projected.SerializeAsString()) {
          ADD_FAILURE() << rerun << ": DecideFor(" << one << ") differs from Decide";
          ++stats_.failures;
        }
      }
    }
  }

 private:
  static constexpr int kMaxFailures = 5;

  // Audit and log text holds names and paths, never a value.
  void ExpectNoCanary(absl::string_view text, absl::string_view what, const std::string& rerun) {
    if (!absl::StrContains(text, testing::kCanaryMark)) return;
    for (absl::string_view canary : testing::FindCanaries(text)) {
      ADD_FAILURE() << rerun << ": value " << canary << " appears in " << what << ":\n" << text;
    }
    ++stats_.failures;
  }

  void CheckPartner(const v1::SharingPolicy& policy,
                    const std::vector<std::function<bool(const v1::Item&)>>& conds,
                    const v1::Item& item, const std::vector<std::string>& canaries,
                    const std::map<std::string, std::string>& path_of, bool received,
                    const PartnerDecision& d, const std::string& rerun) {
    ++stats_.partner_decisions;
    std::string bytes = d.projected.SerializeAsString();
    std::string json = d.released ? ToJson(d.projected, {.pretty = false}) : "";
    CheckProtections(policy, conds, item, path_of, bytes, json, d, rerun);
    Expected e = Reference(policy, conds, keys_, item, received, d.partner);
    std::string expected_bytes = e.item.SerializeAsString();
    if (e.released != d.released ||
        (bytes != expected_bytes &&
         !google::protobuf::util::MessageDifferencer::Equals(e.item, d.projected))) {
      ADD_FAILURE() << rerun << ": partner " << d.partner << " received " << received
                    << "\npolicy:\n" << policy.DebugString() << "\nitem:\n"
                    << item.DebugString() << "\nexpected (" << e.released << "):\n"
                    << e.item.DebugString() << "\nengine (" << d.released << ", "
                    << DecisionReasonText(d.reason) << "):\n" << d.projected.DebugString();
      ++stats_.failures;
      return;
    }
    stats_.released += d.released;

    // What the partner receives: only the canaries the reference releases
    // as they are.
    absl::flat_hash_set<absl::string_view> allowed;
    for (absl::string_view c : testing::FindCanaries(expected_bytes)) allowed.insert(c);
    for (const std::string& canary : canaries) stats_.withheld_checks += !allowed.contains(canary);
    auto check_received = [&](absl::string_view text, absl::string_view what) {
      for (absl::string_view canary : testing::FindCanaries(text)) {
        if (allowed.contains(canary)) continue;
        ADD_FAILURE() << rerun << ": withheld value " << canary << " leaked to " << d.partner
                      << " in the projected item (" << what << ")";
        ++stats_.failures;
      }
    };
    check_received(bytes, "binary");
    if (d.released) check_received(json, "JSON");
    if (d.released) CheckHitsAtReceiver(d, allowed, rerun);

    // What is audited and logged about the decision: no value at all.
    std::string audit = absl::StrCat(
        DecisionReasonText(d.reason), "\n", absl::StrJoin(d.matched_rules, ","), "\n",
        absl::StrJoin(d.protecting_rules, ","), "\n",
        absl::StrJoin(d.released_fields, ","), "\n", absl::StrJoin(d.withheld_fields, ","), "\n");
    for (const TransformedField& t : d.transformed_fields) absl::StrAppend(&audit, t.ToString(), "\n");
    ExpectNoCanary(audit, "the decision's audit fields", rerun);
    if (d.explanation != nullptr) {
      ++stats_.explained;
      ExpectNoCanary(d.explanation->ToString(), "the explanation", rerun);
    }
  }

  // A one-off release on request (KeepOnlyFields) carries the envelope and
  // the values at the approved paths: every one of them, and nothing else of
  // the body.
  void CheckReleaseOnRequest(Gen& g, const v1::Item& item,
                             const std::map<std::string, std::string>& path_of,
                             const std::string& rerun) {
    std::vector<std::string> paths;
    for (const auto& [value, path] : path_of) {
      if (absl::StrContains(value, testing::kCanaryMark)) paths.push_back(path);
    }
    if (paths.empty()) return;
    std::vector<std::string> approved;
    for (int k = g.Int(1, 3); k > 0; --k) {
      std::string path = g.Pick(paths);
      // Sometimes the enclosing message (`persons` for `persons.name`).
      if (g.Coin(0.3) && absl::StrContains(path, '.')) path = path.substr(0, path.rfind('.'));
      approved.push_back(std::move(path));
    }
    v1::Item envelope = item;
    envelope.clear_alert();
    envelope.clear_report();
    const std::string envelope_bytes = envelope.SerializeAsString();
    absl::flat_hash_set<std::string> allowed;
    for (absl::string_view c : testing::FindCanaries(envelope_bytes)) allowed.emplace(c);
    absl::flat_hash_set<std::string> expected;
    for (const auto& [value, path] : path_of) {
      if (std::none_of(approved.begin(), approved.end(),
                       [&](const std::string& a) { return FieldPathCovers(a, path); })) {
        continue;
      }
      for (absl::string_view c : testing::FindCanaries(value)) expected.emplace(c);
    }
    allowed.insert(expected.begin(), expected.end());
    const std::string release = KeepOnlyFields(item, approved).SerializeAsString();
    absl::flat_hash_set<std::string> carried;
    for (absl::string_view c : testing::FindCanaries(release)) carried.emplace(c);
    ++stats_.release_checks;
    for (const std::string& c : carried) {
      if (allowed.contains(c)) continue;
      ADD_FAILURE() << rerun << ": value " << c << " outside the approved fields ("
                    << absl::StrJoin(approved, ",") << ") in a release on request";
      ++stats_.failures;
    }
    for (const std::string& c : expected) {
      if (carried.contains(c)) continue;
      ADD_FAILURE() << rerun << ": approved value " << c << " ("
                    << absl::StrJoin(approved, ",") << ") missing from a release on request";
      ++stats_.failures;
    }
  }

  // A partner that indexes every key type of what it received: the hits it
  // records (and a hit notification, a hit answer's key) hold released
  // values only, and personal ones only as codes. A refusal to make a key
  // of a personal value in clear does not repeat the value.
  std::shared_ptr<const CompiledPolicy> ReceiverPolicy() {
    v1::SharingPolicy p;
    p.set_organisation("org-a");
    p.set_version("receiver");
    v1::PseudonymKey* key = p.add_keys();
    key->set_name("m");
    key->set_file("k1.key");
    for (int t = 1; t <= v1::MatchKeyType_MAX; ++t) {
      if (v1::MatchKeyType_IsValid(t)) p.mutable_matching()->add_index(static_cast<v1::MatchKeyType>(t));
    }
    p.mutable_matching()->set_key("m");
    std::vector<Diagnostic> diagnostics;
    auto compiled = CompilePolicy(p, "receiver", dir_.path(), &diagnostics);
    EXPECT_TRUE(compiled.ok()) << FormatDiagnostics(diagnostics);
    return compiled.ok() ? *compiled : nullptr;
  }

  void CheckHitsAtReceiver(const PartnerDecision& d,
                           const absl::flat_hash_set<absl::string_view>& allowed,
                           const std::string& rerun) {
    if (receiver_ == nullptr) return;
    for (const v1::MatchKey& key : receiver_->MatchKeys(d.projected)) {
      ++stats_.hit_keys;
      v1::Hit hit;
      hit.set_key_type(key.type());
      hit.set_key(key.key());
      // Item references are envelope identifiers (generated with canaries
      // too), not body values: fixed ones here, so only the key is checked.
      hit.mutable_item()->set_origin("org-self");
      hit.mutable_item()->set_item_id("item");
      *hit.mutable_other() = hit.item();
      const std::string text = absl::StrCat(hit.SerializeAsString(), "\n",
                                            ToJson(hit, {.pretty = false}));
      if (IsPersonalMatchKeyType(key.type())) {
        ExpectNoCanary(text, "a hit on a personal key", rerun);
        continue;
      }
      for (absl::string_view canary : testing::FindCanaries(text)) {
        if (allowed.contains(canary)) continue;
        ADD_FAILURE() << rerun << ": withheld value " << canary << " in a hit at " << d.partner;
        ++stats_.failures;
      }
    }
    for (const v1::Person& person : d.projected.has_alert() ? d.projected.alert().persons()
                                                            : d.projected.report().persons()) {
      absl::StatusOr<v1::MatchKey> none = NoKeyPolicy()->MatchKeyFor(v1::PERSON_NAME, person.name());
      if (!none.ok()) ExpectNoCanary(none.status().message(), "a refusal", rerun);
    }
  }

  // A policy without a matching key: personal values in clear are refused.
  const CompiledPolicy* NoKeyPolicy() {
    if (no_key_ == nullptr) {
      v1::SharingPolicy p;
      p.set_organisation("org-b");
      p.set_version("no-key");
      std::vector<Diagnostic> diagnostics;
      auto compiled = CompilePolicy(p, "no-key", dir_.path(), &diagnostics);
      EXPECT_TRUE(compiled.ok());
      if (compiled.ok()) no_key_ = *compiled;
    }
    return no_key_.get();
  }

  // See Protections: independent of the reference model, so a mistake
  // made in both (the engine and the reference) is still caught.
  void CheckProtections(const v1::SharingPolicy& policy,
                        const std::vector<std::function<bool(const v1::Item&)>>& conds,
                        const v1::Item& item,
                        const std::map<std::string, std::string>& path_of,
                        const std::string& bytes, const std::string& json,
                        const PartnerDecision& d, const std::string& rerun) {
    if (d.partner == item.origin()) return;
    Protections p = ProtectionsFor(policy, conds, item, d.partner);
    if (p.removed.empty() && p.transformed.empty()) return;
    for (const auto& [value, path] : path_of) {
      if (!p.Removes(path) && !p.Transforms(path)) continue;
      ++stats_.protected_checks;
      if (!absl::StrContains(value, testing::kCanaryMark)) continue;
      if (absl::StrContains(bytes, value) || absl::StrContains(json, value)) {
        ADD_FAILURE() << rerun << ": " << d.partner << " receives " << path << " ("
                      << value << ") as it is, though a matching rule "
                      << (p.Removes(path) ? "withholds or redacts" : "transforms") << " it";
        ++stats_.failures;
      }
    }
    if (!d.projected.has_alert() && !d.projected.has_report()) return;
    std::vector<std::string> present;
    RemovedLeavesPresent(d.projected.has_alert()
                             ? static_cast<const Message&>(d.projected.alert())
                             : static_cast<const Message&>(d.projected.report()),
                         "", p, &present);
    for (const std::string& path : present) {
      ADD_FAILURE() << rerun << ": " << d.partner << " receives " << path
                    << ", though a matching rule withholds or redacts it";
      ++stats_.failures;
    }
  }

  testing::TempDir dir_;
  std::map<std::string, std::string> keys_;
  std::shared_ptr<const CompiledPolicy> receiver_;
  std::shared_ptr<const CompiledPolicy> no_key_;
  Stats stats_;
};

TEST(LeakTest, EngineMatchesReferenceAndNoCanaryLeaks) {
  const Flags& flags = GetFlags();
  LeakRun run;
  auto start = std::chrono::steady_clock::now();
  if (flags.trial >= 0) {
    run.Trial(flags.trial, kItemsPerPolicy);
  } else {
    for (int64_t trial = 0; run.stats().cases < flags.cases && run.stats().failures == 0;
         ++trial) {
      run.Trial(trial, static_cast<int>(
                           std::min<int64_t>(kItemsPerPolicy, flags.cases - run.stats().cases)));
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Stats& s = run.stats();
  std::printf("leak test: %lld cases (seed %u), %lld partner decisions, %lld released, "
              "%lld explained, %lld withheld canaries checked, %lld values under a "
              "matching rule's protections checked, %lld hit keys checked, %lld releases on "
              "request checked, %d failures, "
              "%.1f s\n",
              static_cast<long long>(s.cases), flags.seed,
              static_cast<long long>(s.partner_decisions), static_cast<long long>(s.released),
              static_cast<long long>(s.explained), static_cast<long long>(s.withheld_checks),
              static_cast<long long>(s.protected_checks),
              static_cast<long long>(s.hit_keys), static_cast<long long>(s.release_checks),
              s.failures, seconds);
  EXPECT_EQ(s.failures, 0);
  if (flags.trial < 0) {
    EXPECT_EQ(s.cases, flags.cases);
    // The generator must exercise both outcomes substantially.
    EXPECT_GT(s.released, s.partner_decisions / 8);
    EXPECT_GT(s.withheld_checks, s.partner_decisions);
    EXPECT_GT(s.protected_checks, s.partner_decisions / 4);
    EXPECT_GT(s.hit_keys, s.released / 2);
    EXPECT_GT(s.release_checks, s.cases / 4);
  }
}

}  // namespace
}  // namespace havengate::policy

// Own main for --cases, --seed and --trial (see the file comment); the
// other flags go to GoogleTest.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  havengate::policy::Flags& flags = havengate::policy::GetFlags();
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    bool ok = false;
    if (absl::ConsumePrefix(&arg, "--cases=")) {
      ok = absl::SimpleAtoi(arg, &flags.cases) && flags.cases > 0;
    } else if (absl::ConsumePrefix(&arg, "--seed=")) {
      ok = absl::SimpleAtoi(arg, &flags.seed);
    } else if (absl::ConsumePrefix(&arg, "--trial=")) {
      ok = absl::SimpleAtoi(arg, &flags.trial) && flags.trial >= 0;
    }
    if (!ok) {
      std::fprintf(stderr, "usage: %s [--cases=N] [--seed=S] [--trial=T] [gtest flags]\n",
                   argv[0]);
      return 2;
    }
  }
  return RUN_ALL_TESTS();
}
