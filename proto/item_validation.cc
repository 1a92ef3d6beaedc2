#include "proto/item_validation.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "proto/identifiers.h"

namespace havengate {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr size_t kMaxTitleChars = 200;
constexpr size_t kMaxTextChars = 10'000;
constexpr size_t kMaxShortTextChars = 1'000;
// google.protobuf.Timestamp limits: 0001-01-01 to 9999-12-31.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Collects "path: reason" problems found while walking an item: the first
// `max_kept` in full, the rest only counted, so that an item with hundreds
// of thousands of bad elements costs no more than a few strings.
class Problems {
 public:
  explicit Problems(int max_kept) : max_kept_(std::max(0, max_kept)) {}
  void Add(std::string path, absl::string_view reason) {
    ++count_;
    if (problems_.size() < max_kept_) {
      problems_.push_back(absl::StrCat(path, ": ", reason));
    }
  }
  void Check(const std::string& path, const absl::Status& status) {
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

std::string Join(const std::string& prefix, absl::string_view name) {
  return prefix.empty() ? std::string(name) : absl::StrCat(prefix, ".", name);
}
std::string Index(const std::string& path, int i) {
  return absl::StrCat(path, "[", i, "]");
}

// Counts Unicode code points; input is valid UTF-8 (protobuf guarantees it
// for proto3 strings).
size_t CharCount(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void CheckLength(Problems& p, const std::string& path, absl::string_view s,
                 size_t max_chars) {
  if (CharCount(s) > max_chars) {
    p.Add(path, absl::StrCat("is longer than ", max_chars, " characters"));
  }
}

// Walks every field with reflection: enum values must be defined,
// timestamps in range, strings of bounded length. Field-specific rules are
// checked separately below.
void CheckGeneric(const Message& message, const std::string& path,
                  Problems& p) {
  const Descriptor* descriptor = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  if (descriptor->full_name() == "google.protobuf.Timestamp") {
    const auto& ts = static_cast<const google::protobuf::Timestamp&>(message);
    if (ts.seconds() < kMinTimestampSeconds ||
        ts.seconds() > kMaxTimestampSeconds || ts.nanos() < 0 ||
        ts.nanos() > 999'999'999) {
      p.Add(path, "is not a valid time");
    }
    return;
  }
  // Fields this gateway's schema does not know cannot be validated or
  // decided on by the policy: refuse them rather than pass them on.
  const google::protobuf::UnknownFieldSet& unknown =
      reflection->GetUnknownFields(message);
  for (int i = 0; i < unknown.field_count(); ++i) {
    p.Add(path.empty() ? "item" : path,
          absl::StrCat("unknown field number ", unknown.field(i).number()));
  }
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    std::string field_path = Join(path, field->name());
    int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      std::string element_path =
          field->is_repeated() ? Index(field_path, i) : field_path;
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_ENUM: {
          int value = field->is_repeated()
                          ? reflection->GetRepeatedEnumValue(message, field, i)
                          : reflection->GetEnumValue(message, field);
          if (field->enum_type()->FindValueByNumber(value) == nullptr) {
            p.Add(element_path, absl::StrCat("unknown value ", value));
          }
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          CheckGeneric(field->is_repeated()
                           ? reflection->GetRepeatedMessage(message, field, i)
                           : reflection->GetMessage(message, field),
                       element_path, p);
          break;
        case FieldDescriptor::CPPTYPE_STRING: {
          std::string scratch;
          const std::string& value =
              field->is_repeated()
                  ? reflection->GetRepeatedStringReference(message, field, i,
                                                           &scratch)
                  : reflection->GetStringReference(message, field, &scratch);
          CheckLength(p, element_path, value, kMaxTextChars);
          break;
        }
        default:
          break;
      }
    }
  }
}

void CheckLocation(const v1::Location& location, const std::string& path,
                   Problems& p) {
  if (!location.unlocode().empty()) {
    p.Check(Join(path, "unlocode"), ValidateUnLocode(location.unlocode()));
  }
  if (location.has_position()) {
    const v1::GeoPoint& pos = location.position();
    if (!(pos.latitude() >= -90 && pos.latitude() <= 90)) {
      p.Add(Join(path, "position.latitude"), "must be between -90 and 90");
    }
    if (!(pos.longitude() >= -180 && pos.longitude() <= 180)) {
      p.Add(Join(path, "position.longitude"), "must be between -180 and 180");
    }
  }
}

template <typename Body>
void CheckEntities(const Body& body, const std::string& path, Problems& p) {
  for (int i = 0; i < body.containers_size(); ++i) {
    const v1::Container& c = body.containers(i);
    std::string cpath = Index(Join(path, "containers"), i);
    if (c.number().empty()) {
      p.Add(Join(cpath, "number"), "is required");
    } else {
      p.Check(Join(cpath, "number"), ValidateContainerNumber(c.number()));
    }
    if (!c.port_of_loading().empty()) {
      p.Check(Join(cpath, "port_of_loading"),
              ValidateUnLocode(c.port_of_loading()));
    }
  }
  for (int i = 0; i < body.vessels_size(); ++i) {
    const v1::Vessel& v = body.vessels(i);
    std::string vpath = Index(Join(path, "vessels"), i);
    if (v.imo().empty() && v.mmsi().empty() && v.name().empty()) {
      p.Add(vpath, "needs at least one of imo, mmsi or name");
    }
    if (!v.imo().empty()) p.Check(Join(vpath, "imo"), ValidateImoNumber(v.imo()));
    if (!v.mmsi().empty()) p.Check(Join(vpath, "mmsi"), ValidateMmsi(v.mmsi()));
    if (!v.flag().empty()) p.Check(Join(vpath, "flag"), ValidateCountryCode(v.flag()));
    if (!v.last_port().empty()) {
      p.Check(Join(vpath, "last_port"), ValidateUnLocode(v.last_port()));
    }
    if (!v.next_port().empty()) {
      p.Check(Join(vpath, "next_port"), ValidateUnLocode(v.next_port()));
    }
  }
  for (int i = 0; i < body.persons_size(); ++i) {
    const v1::Person& person = body.persons(i);
    std::string ppath = Index(Join(path, "persons"), i);
    if (!person.date_of_birth().empty()) {
      p.Check(Join(ppath, "date_of_birth"), ValidateIsoDate(person.date_of_birth()));
    }
    if (!person.nationality().empty()) {
      p.Check(Join(ppath, "nationality"),
              ValidateCountryCode(person.nationality()));
    }
  }
  for (int i = 0; i < body.companies_size(); ++i) {
    const v1::Company& company = body.companies(i);
    std::string cpath = Index(Join(path, "companies"), i);
    if (!company.eori().empty()) {
      p.Check(Join(cpath, "eori"), ValidateEori(company.eori()));
    }
  }
  for (int i = 0; i < body.attachments_size(); ++i) {
    const v1::Attachment& a = body.attachments(i);
    if (!a.sha256().empty()) {
      p.Check(Join(Index(Join(path, "attachments"), i), "sha256"),
              ValidateSha256Hex(a.sha256()));
    }
  }
  if (body.has_location()) CheckLocation(body.location(), Join(path, "location"), p);
}

void CheckAlert(const v1::Alert& alert, Problems& p) {
  if (alert.category() == v1::Alert::CATEGORY_UNSPECIFIED) {
    p.Add("alert.category", "is required");
  }
  if (alert.severity() == v1::Alert::SEVERITY_UNSPECIFIED) {
    p.Add("alert.severity", "is required");
  }
  if (alert.title().empty()) p.Add("alert.title", "is required");
  CheckLength(p, "alert.title", alert.title(), kMaxTitleChars);
  CheckEntities(alert, "alert", p);
}

void CheckReport(const v1::IntelligenceReport& report, Problems& p) {
  if (report.title().empty()) p.Add("report.title", "is required");
  CheckLength(p, "report.title", report.title(), kMaxTitleChars);
  CheckEntities(report, "report", p);
  for (int i = 0; i < report.related_item_ids_size(); ++i) {
    p.Check(Index("report.related_item_ids", i),
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
  p.Check("item_id", ValidateItemId(item.item_id()));
  if (!item.has_classification() ||
      item.classification().tlp() == v1::Classification::TLP_UNSPECIFIED) {
    p.Add("classification.tlp", "is required (CLEAR, GREEN, AMBER, AMBER_STRICT or RED)");
  }
  for (int i = 0; i < item.classification().reshare_to_size(); ++i) {
    p.Check(Index("classification.reshare_to", i),
            ValidateOrganisationId(item.classification().reshare_to(i)));
  }
  CheckLength(p, "classification.handling_note",
              item.classification().handling_note(), kMaxShortTextChars);
  if (item.has_created_at() && item.has_expires_at() &&
      item.expires_at().seconds() <= item.created_at().seconds()) {
    p.Add("expires_at", "must be later than created_at");
  }
  const bool pushed = origin == Origin::kPushed;
  switch (item.body_case()) {
    case v1::Item::kAlert:
      if (pushed) {
        CheckAlert(item.alert(), p);
      } else {
        CheckLength(p, "alert.title", item.alert().title(), kMaxTitleChars);
      }
      break;
    case v1::Item::kReport:
      if (pushed) {
        CheckReport(item.report(), p);
      } else {
        CheckLength(p, "report.title", item.report().title(), kMaxTitleChars);
      }
      break;
    default:
      p.Add("body", "is required: set alert or report");
  }
  CheckGeneric(item, "", p);
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
