#include "proto/item_validation.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "proto/identifiers.h"

namespace havengate {
namespace {

constexpr size_t kMaxTitleChars = 200;
constexpr size_t kMaxTextChars = 10'000;
constexpr size_t kMaxShortTextChars = 1'000;
// google.protobuf.Timestamp limits: 0001-01-01 to 9999-12-31.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Where a problem is: a chain of field names (and indexes into repeated
// fields) on the stack, made a string ("alert.containers[1].number") only
// when a problem is reported, so a valid item builds no path at all.
struct Path {
  const Path* parent = nullptr;
  absl::string_view name;  // "" for the item itself
  int index = -1;          // an element of a repeated field when >= 0

  Path Field(absl::string_view field) const { return Path{this, field, -1}; }
  Path Element(absl::string_view field, int i) const { return Path{this, field, i}; }

  std::string ToString() const {
    std::string out = parent == nullptr ? std::string() : parent->ToString();
    if (!name.empty()) {
      if (!out.empty()) out += '.';
      absl::StrAppend(&out, name);
    }
    if (index >= 0) absl::StrAppend(&out, "[", index, "]");
    return out;
  }
};

// Collects "path: reason" problems found while walking an item: the first
// `max_kept` in full, the rest only counted, so that an item with hundreds
// of thousands of bad elements costs no more than a few strings.
class Problems {
 public:
  explicit Problems(int max_kept) : max_kept_(std::max(0, max_kept)) {}
  void Add(const Path& path, absl::string_view reason) {
    ++count_;
    if (problems_.size() < max_kept_) {
      std::string where = path.ToString();
      problems_.push_back(absl::StrCat(where.empty() ? "item" : where, ": ", reason));
    }
  }
  void Check(const Path& path, const absl::Status& status) {
    if (!status.ok()) Add(path, status.message());
  }
  bool empty() const { return count_ == 0; }
  absl::Status ToStatus() const {
    if (count_ == 0) return absl::OkStatus();
    std::string message = absl::StrJoin(problems_, "; ");
    if (count_ > problems_.size()) {
      absl::StrAppend(&message, "; and ", count_ - problems_.size(),
                      " more problems");
    }
    return absl::InvalidArgumentError(message);
  }

 private:
  size_t max_kept_;
  size_t count_ = 0;
  std::vector<std::string> problems_;
};

const Path kItem;

// Counts Unicode code points; input is valid UTF-8 (protobuf guarantees it
// for proto3 strings).
size_t CharCount(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void CheckLength(Problems& p, const Path& path, absl::string_view s,
                 size_t max_chars) {
  // A string has at most as many characters as bytes.
  if (s.size() > max_chars && CharCount(s) > max_chars) {
    p.Add(path, absl::StrCat("is longer than ", max_chars, " characters"));
  }
}

// The checks every field of an item gets, whatever the field: enum values
// must be defined, timestamps in range, strings of bounded length, and no
// field unknown to this gateway's schema (it could be neither validated nor
// decided on by the policy). Field-specific rules are checked separately
// below. Written out per message with the generated accessors (no
// reflective walk over fields, no path string unless reporting), in field
// number order (the order problems are reported in); the unit test walks
// the schema by reflection and proves that every field of every message
// is covered, so a field added to item.proto without a line here fails it.
class GenericCheck {
 public:
  explicit GenericCheck(Problems& p) : p_(p) {}

  void ItemFields(const v1::Item& item) {
    Unknown(kItem, item);
    Text(kItem, "item_id", item.item_id());
    Text(kItem, "origin", item.origin());
    if (item.has_created_at()) Time(kItem.Field("created_at"), item.created_at());
    if (item.has_expires_at()) Time(kItem.Field("expires_at"), item.expires_at());
    if (item.has_classification()) {
      Classification(kItem.Field("classification"), item.classification());
    }
    for (int i = 0; i < item.provenance_size(); ++i) {
      Provenance(kItem.Element("provenance", i), item.provenance(i));
    }
    if (item.has_alert()) Alert(kItem.Field("alert"), item.alert());
    if (item.has_report()) Report(kItem.Field("report"), item.report());
  }

 private:
  template <typename Message>
  void Unknown(const Path& path, const Message& message) {
    // proto3 messages have no generated accessor for these: one lookup
    // through the message's reflection, no walk over its fields.
    const google::protobuf::UnknownFieldSet& unknown =
        message.GetReflection()->GetUnknownFields(message);
    for (int i = 0; i < unknown.field_count(); ++i) {
      p_.Add(path, absl::StrCat("unknown field number ", unknown.field(i).number()));
    }
  }
  void Text(const Path& parent, absl::string_view name, const std::string& value) {
    if (value.size() > kMaxTextChars) CheckLength(p_, parent.Field(name), value, kMaxTextChars);
  }
  void Texts(const Path& parent, absl::string_view name,
             const google::protobuf::RepeatedPtrField<std::string>& values) {
    for (int i = 0; i < values.size(); ++i) {
      if (values[i].size() > kMaxTextChars) {
        CheckLength(p_, parent.Element(name, i), values[i], kMaxTextChars);
      }
    }
  }
  void Enum(const Path& parent, absl::string_view name, int value,
            bool (*is_valid)(int)) {
    if (value != 0 && !is_valid(value)) {
      p_.Add(parent.Field(name), absl::StrCat("unknown value ", value));
    }
  }
  void Time(const Path& path, const google::protobuf::Timestamp& ts) {
    if (ts.seconds() < kMinTimestampSeconds || ts.seconds() > kMaxTimestampSeconds ||
        ts.nanos() < 0 || ts.nanos() > 999'999'999) {
      p_.Add(path, "is not a valid time");
    }
  }

  void Classification(const Path& path, const v1::Classification& c) {
    Unknown(path, c);
    Enum(path, "tlp", c.tlp(), v1::Classification::Tlp_IsValid);
    Enum(path, "handling_code", c.handling_code(), v1::Classification::HandlingCode_IsValid);
    Text(path, "handling_note", c.handling_note());
    Texts(path, "reshare_to", c.reshare_to());
  }
  void Provenance(const Path& path, const v1::ProvenanceHop& hop) {
    Unknown(path, hop);
    Text(path, "organisation", hop.organisation());
    Text(path, "gateway", hop.gateway());
    if (hop.has_released_at()) Time(path.Field("released_at"), hop.released_at());
    Text(path, "policy_version", hop.policy_version());
    Text(path, "released_to", hop.released_to());
    Text(path, "released_on_request", hop.released_on_request());
    Texts(path, "release_approvers", hop.release_approvers());
  }
  void Alert(const Path& path, const v1::Alert& alert) {
    Unknown(path, alert);
    Enum(path, "category", alert.category(), v1::Alert::Category_IsValid);
    Enum(path, "severity", alert.severity(), v1::Alert::Severity_IsValid);
    Text(path, "title", alert.title());
    Text(path, "description", alert.description());
    if (alert.has_observed_at()) Time(path.Field("observed_at"), alert.observed_at());
    Entities(path, alert);
  }
  void Report(const Path& path, const v1::IntelligenceReport& report) {
    Unknown(path, report);
    Text(path, "title", report.title());
    Text(path, "summary", report.summary());
    Text(path, "assessment", report.assessment());
    Entities(path, report);
    Texts(path, "related_item_ids", report.related_item_ids());
  }
  // The fields Alert and IntelligenceReport share, in that order in both.
  template <typename Body>
  void Entities(const Path& path, const Body& body) {
    if (body.has_location()) Location(path.Field("location"), body.location());
    for (int i = 0; i < body.containers_size(); ++i) {
      Container(path.Element("containers", i), body.containers(i));
    }
    for (int i = 0; i < body.vessels_size(); ++i) {
      Vessel(path.Element("vessels", i), body.vessels(i));
    }
    for (int i = 0; i < body.persons_size(); ++i) {
      Person(path.Element("persons", i), body.persons(i));
    }
    for (int i = 0; i < body.companies_size(); ++i) {
      Company(path.Element("companies", i), body.companies(i));
    }
    if (body.has_reporter()) Reporter(path.Field("reporter"), body.reporter());
    if (body.has_source()) Source(path.Field("source"), body.source());
    for (int i = 0; i < body.attachments_size(); ++i) {
      Attachment(path.Element("attachments", i), body.attachments(i));
    }
  }
  void Location(const Path& path, const v1::Location& location) {
    Unknown(path, location);
    Text(path, "unlocode", location.unlocode());
    Text(path, "terminal", location.terminal());
    if (location.has_position()) Unknown(path.Field("position"), location.position());
    Text(path, "description", location.description());
  }
  void Container(const Path& path, const v1::Container& c) {
    Unknown(path, c);
    Text(path, "number", c.number());
    Text(path, "seal_number", c.seal_number());
    Text(path, "terminal", c.terminal());
    Text(path, "bill_of_lading", c.bill_of_lading());
    Text(path, "consignee", c.consignee());
    Enum(path, "pin_release_status", c.pin_release_status(),
         v1::Container::PinReleaseStatus_IsValid);
    Text(path, "port_of_loading", c.port_of_loading());
    Text(path, "cargo_description", c.cargo_description());
    Text(path, "size_type", c.size_type());
  }
  void Vessel(const Path& path, const v1::Vessel& v) {
    Unknown(path, v);
    Text(path, "imo", v.imo());
    Text(path, "mmsi", v.mmsi());
    Text(path, "name", v.name());
    Text(path, "flag", v.flag());
    Text(path, "last_port", v.last_port());
    Text(path, "next_port", v.next_port());
  }
  void Person(const Path& path, const v1::Person& person) {
    Unknown(path, person);
    Text(path, "name", person.name());
    Text(path, "date_of_birth", person.date_of_birth());
    Text(path, "nationality", person.nationality());
    Text(path, "document_number", person.document_number());
    Text(path, "employer", person.employer());
    Text(path, "badge_id", person.badge_id());
    Enum(path, "role", person.role(), v1::Person::Role_IsValid);
  }
  void Company(const Path& path, const v1::Company& company) {
    Unknown(path, company);
    Text(path, "name", company.name());
    Text(path, "eori", company.eori());
    Text(path, "address", company.address());
    Enum(path, "role", company.role(), v1::Company::Role_IsValid);
  }
  void Reporter(const Path& path, const v1::Reporter& reporter) {
    Unknown(path, reporter);
    Text(path, "name", reporter.name());
    Text(path, "unit", reporter.unit());
    Text(path, "contact", reporter.contact());
  }
  void Source(const Path& path, const v1::Source& source) {
    Unknown(path, source);
    Text(path, "reference", source.reference());
    Enum(path, "reliability", source.reliability(), v1::Source::Reliability_IsValid);
    Enum(path, "credibility", source.credibility(), v1::Source::Credibility_IsValid);
  }
  void Attachment(const Path& path, const v1::Attachment& a) {
    Unknown(path, a);
    Text(path, "file_name", a.file_name());
    Text(path, "media_type", a.media_type());
    Text(path, "sha256", a.sha256());
    Text(path, "description", a.description());
  }

  Problems& p_;
};

void CheckLocation(const v1::Location& location, const Path& path,
                   Problems& p) {
  if (!location.unlocode().empty()) {
    p.Check(path.Field("unlocode"), ValidateUnLocode(location.unlocode()));
  }
  if (location.has_position()) {
    const v1::GeoPoint& pos = location.position();
    const Path position = path.Field("position");
    if (!(pos.latitude() >= -90 && pos.latitude() <= 90)) {
      p.Add(position.Field("latitude"), "must be between -90 and 90");
    }
    if (!(pos.longitude() >= -180 && pos.longitude() <= 180)) {
      p.Add(position.Field("longitude"), "must be between -180 and 180");
    }
  }
}

template <typename Body>
void CheckEntities(const Body& body, const Path& path, Problems& p) {
  for (int i = 0; i < body.containers_size(); ++i) {
    const v1::Container& c = body.containers(i);
    const Path cpath = path.Element("containers", i);
    if (c.number().empty()) {
      p.Add(cpath.Field("number"), "is required");
    } else {
      p.Check(cpath.Field("number"), ValidateContainerNumber(c.number()));
    }
    if (!c.port_of_loading().empty()) {
      p.Check(cpath.Field("port_of_loading"), ValidateUnLocode(c.port_of_loading()));
    }
  }
  for (int i = 0; i < body.vessels_size(); ++i) {
    const v1::Vessel& v = body.vessels(i);
    const Path vpath = path.Element("vessels", i);
    if (v.imo().empty() && v.mmsi().empty() && v.name().empty()) {
      p.Add(vpath, "needs at least one of imo, mmsi or name");
    }
    if (!v.imo().empty()) p.Check(vpath.Field("imo"), ValidateImoNumber(v.imo()));
    if (!v.mmsi().empty()) p.Check(vpath.Field("mmsi"), ValidateMmsi(v.mmsi()));
    if (!v.flag().empty()) p.Check(vpath.Field("flag"), ValidateCountryCode(v.flag()));
    if (!v.last_port().empty()) {
      p.Check(vpath.Field("last_port"), ValidateUnLocode(v.last_port()));
    }
    if (!v.next_port().empty()) {
      p.Check(vpath.Field("next_port"), ValidateUnLocode(v.next_port()));
    }
  }
  for (int i = 0; i < body.persons_size(); ++i) {
    const v1::Person& person = body.persons(i);
    const Path ppath = path.Element("persons", i);
    if (!person.date_of_birth().empty()) {
      p.Check(ppath.Field("date_of_birth"), ValidateIsoDate(person.date_of_birth()));
    }
    if (!person.nationality().empty()) {
      p.Check(ppath.Field("nationality"), ValidateCountryCode(person.nationality()));
    }
  }
  for (int i = 0; i < body.companies_size(); ++i) {
    const v1::Company& company = body.companies(i);
    if (!company.eori().empty()) {
      p.Check(path.Element("companies", i).Field("eori"), ValidateEori(company.eori()));
    }
  }
  for (int i = 0; i < body.attachments_size(); ++i) {
    const v1::Attachment& a = body.attachments(i);
    if (!a.sha256().empty()) {
      p.Check(path.Element("attachments", i).Field("sha256"),
              ValidateSha256Hex(a.sha256()));
    }
  }
  if (body.has_location()) CheckLocation(body.location(), path.Field("location"), p);
}

void CheckAlert(const v1::Alert& alert, Problems& p) {
  const Path path = kItem.Field("alert");
  if (alert.category() == v1::Alert::CATEGORY_UNSPECIFIED) {
    p.Add(path.Field("category"), "is required");
  }
  if (alert.severity() == v1::Alert::SEVERITY_UNSPECIFIED) {
    p.Add(path.Field("severity"), "is required");
  }
  if (alert.title().empty()) p.Add(path.Field("title"), "is required");
  CheckLength(p, path.Field("title"), alert.title(), kMaxTitleChars);
  CheckEntities(alert, path, p);
}

void CheckReport(const v1::IntelligenceReport& report, Problems& p) {
  const Path path = kItem.Field("report");
  if (report.title().empty()) p.Add(path.Field("title"), "is required");
  CheckLength(p, path.Field("title"), report.title(), kMaxTitleChars);
  CheckEntities(report, path, p);
  for (int i = 0; i < report.related_item_ids_size(); ++i) {
    p.Check(path.Element("related_item_ids", i),
            ValidateItemId(report.related_item_ids(i)));
  }
}

}  // namespace

v1::ItemKind KindOf(const v1::Item& item) {
  switch (item.body_case()) {
    case v1::Item::kAlert:
      return v1::ALERT;
    case v1::Item::kReport:
      return v1::REPORT;
    default:
      return v1::ITEM_KIND_UNSPECIFIED;
  }
}

namespace {

enum class Origin { kPushed, kReceived };

absl::Status Validate(const v1::Item& item, const ItemLimits& limits,
                      Origin origin) {
  size_t size = item.ByteSizeLong();
  if (size > limits.max_item_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("item: is ", size, " bytes; the limit is ",
                     limits.max_item_bytes, " bytes"));
  }
  Problems p(limits.max_reported_errors);
  p.Check(kItem.Field("item_id"), ValidateItemId(item.item_id()));
  const Path classification = kItem.Field("classification");
  if (!item.has_classification() ||
      item.classification().tlp() == v1::Classification::TLP_UNSPECIFIED) {
    p.Add(classification.Field("tlp"),
          "is required (CLEAR, GREEN, AMBER, AMBER_STRICT or RED)");
  }
  for (int i = 0; i < item.classification().reshare_to_size(); ++i) {
    p.Check(classification.Element("reshare_to", i),
            ValidateOrganisationId(item.classification().reshare_to(i)));
  }
  CheckLength(p, classification.Field("handling_note"),
              item.classification().handling_note(), kMaxShortTextChars);
  if (item.has_created_at() && item.has_expires_at() &&
      item.expires_at().seconds() <= item.created_at().seconds()) {
    p.Add(kItem.Field("expires_at"), "must be later than created_at");
  }
  const bool pushed = origin == Origin::kPushed;
  switch (item.body_case()) {
    case v1::Item::kAlert:
      if (pushed) {
        CheckAlert(item.alert(), p);
      } else {
        CheckLength(p, kItem.Field("alert").Field("title"), item.alert().title(),
                    kMaxTitleChars);
      }
      break;
    case v1::Item::kReport:
      if (pushed) {
        CheckReport(item.report(), p);
      } else {
        CheckLength(p, kItem.Field("report").Field("title"), item.report().title(),
                    kMaxTitleChars);
      }
      break;
    default:
      p.Add(kItem.Field("body"), "is required: set alert or report");
  }
  GenericCheck(p).ItemFields(item);
  return p.ToStatus();
}

}  // namespace

absl::Status ValidateItem(const v1::Item& item, const ItemLimits& limits) {
  return Validate(item, limits, Origin::kPushed);
}

absl::Status ValidateReceivedItem(const v1::Item& item, const ItemLimits& limits) {
  return Validate(item, limits, Origin::kReceived);
}

}  // namespace havengate
