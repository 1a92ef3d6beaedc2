#include "proto/item_validation.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "proto/json.h"

namespace havengate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Item ValidAlert() {
  auto item = ParseJsonAs<v1::Item>(R"json({
    "item_id": "rtm-2026-0001",
    "classification": {"tlp": "AMBER", "handling_code": "H1"},
    "alert": {
      "category": "PIN_CODE_FRAUD",
      "severity": "HIGH",
      "title": "Release PIN of reefer container used by unknown haulier",
      "location": {"unlocode": "NLRTM", "terminal": "ECT Delta",
                   "position": {"latitude": 51.95, "longitude": 4.05}},
      "containers": [{"number": "CSQU3054383", "port_of_loading": "ECGYE"}],
      "vessels": [{"imo": "IMO9319466", "mmsi": "244123456", "flag": "NL"}],
      "persons": [{"name": "Jan de Vries", "date_of_birth": "1984-02-29",
                   "nationality": "NL"}],
      "companies": [{"name": "Example Fruit BV", "eori": "NL123456789"}]
    }
  })json");
  EXPECT_TRUE(item.ok()) << item.status();
  return *item;
}

TEST(ItemValidationTest, AcceptsValidAlert) {
  EXPECT_TRUE(ValidateItem(ValidAlert()).ok()) << ValidateItem(ValidAlert());
}

TEST(ItemValidationTest, NamesPathOfWrongContainerCheckDigit) {
  v1::Item item = ValidAlert();
  item.mutable_alert()->add_containers()->set_number("ZEPU0037256");
  absl::Status status = ValidateItem(item);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("alert.containers[1].number: check digit is 6, expected 5"));
  EXPECT_THAT(status.message(), Not(HasSubstr("ZEPU")));
}

TEST(ItemValidationTest, NamesPathOfWrongImoAndMmsi) {
  v1::Item item = ValidAlert();
  item.mutable_alert()->mutable_vessels(0)->set_imo("IMO9319467");
  item.mutable_alert()->mutable_vessels(0)->set_mmsi("45545454");
  absl::Status status = ValidateItem(item);
  EXPECT_THAT(status.message(), HasSubstr("alert.vessels[0].imo: check digit"));
  EXPECT_THAT(status.message(), HasSubstr("alert.vessels[0].mmsi: must be 9 digits"));
}

TEST(ItemValidationTest, ReportsEveryMissingRequiredField) {
  v1::Item item;
  item.mutable_alert();
  absl::Status status = ValidateItem(item);
  EXPECT_THAT(status.message(), HasSubstr("item_id: is required"));
  EXPECT_THAT(status.message(), HasSubstr("classification.tlp: is required"));
  EXPECT_THAT(status.message(), HasSubstr("alert.category: is required"));
  EXPECT_THAT(status.message(), HasSubstr("alert.severity: is required"));
  EXPECT_THAT(status.message(), HasSubstr("alert.title: is required"));
}

TEST(ItemValidationTest, RequiresABody) {
  v1::Item item = ValidAlert();
  item.clear_alert();
  EXPECT_THAT(ValidateItem(item).message(), HasSubstr("body: is required"));
}

TEST(ItemValidationTest, RejectsUnknownEnumNumbers) {
  v1::Item item = ValidAlert();
  item.mutable_alert()->set_severity(static_cast<v1::Alert::Severity>(42));
  EXPECT_THAT(ValidateItem(item).message(),
              HasSubstr("alert.severity: unknown value 42"));
}

TEST(ItemValidationTest, RejectsUnknownFieldsFromANewerSchema) {
  v1::Item item = ValidAlert();
  // Field 99 of Container does not exist in this schema.
  item.mutable_alert()->mutable_containers(0)->GetReflection()
      ->MutableUnknownFields(item.mutable_alert()->mutable_containers(0))
      ->AddVarint(99, 1);
  std::string bytes = item.SerializeAsString();
  v1::Item parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_THAT(ValidateItem(parsed).message(),
              HasSubstr("alert.containers[0]: unknown field number 99"));
}

TEST(ItemValidationTest, RejectsOversizedItemWithResourceExhausted) {
  v1::Item item = ValidAlert();
  item.mutable_alert()->set_description(std::string(5000, 'x'));
  ItemLimits limits;
  limits.max_item_bytes = 4096;
  absl::Status status = ValidateItem(item, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("limit is 4096 bytes"));
}

TEST(ItemValidationTest, ChecksReportEntitiesToo) {
  v1::Item item;
  item.set_item_id("rep-1");
  item.mutable_classification()->set_tlp(v1::Classification::GREEN);
  item.mutable_report()->set_title("Insider network at Delta terminal");
  item.mutable_report()->add_containers()->set_number("CSQU3054384");
  item.mutable_report()->mutable_location()->set_unlocode("rotterdam");
  absl::Status status = ValidateItem(item);
  EXPECT_THAT(status.message(), HasSubstr("report.containers[0].number"));
  EXPECT_THAT(status.message(), HasSubstr("report.location.unlocode"));
}

TEST(ItemValidationTest, RejectsOutOfRangePositionAndExpiryBeforeCreation) {
  v1::Item item = ValidAlert();
  item.mutable_alert()->mutable_location()->mutable_position()->set_latitude(91);
  item.mutable_created_at()->set_seconds(2000);
  item.mutable_expires_at()->set_seconds(1000);
  absl::Status status = ValidateItem(item);
  EXPECT_THAT(status.message(), HasSubstr("alert.location.position.latitude"));
  EXPECT_THAT(status.message(), HasSubstr("expires_at: must be later"));
}

TEST(ItemValidationTest, LimitsNumberOfReportedProblems) {
  v1::Item item = ValidAlert();
  for (int i = 0; i < 30; ++i) {
    item.mutable_alert()->add_containers()->set_number("BAD");
  }
  EXPECT_THAT(ValidateItem(item).message(), HasSubstr("and 20 more problems"));
}

TEST(ItemValidationTest, HugeNumbersOfProblemsAreCountedNotKept) {
  v1::Item item = ValidAlert();
  for (int i = 0; i < 200'000; ++i) item.mutable_alert()->add_containers();
  ItemLimits limits;
  limits.max_reported_errors = 3;
  absl::Status status = ValidateItem(item, limits);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("alert.containers[2].number: is required"));
  EXPECT_THAT(status.message(), Not(HasSubstr("alert.containers[4]")));
  EXPECT_THAT(status.message(), HasSubstr("; and 199997 more problems"));
}

// What a partner's policy left of an item: required fields withheld, an
// identifier pseudonymised. Valid as received, not as pushed.
TEST(ItemValidationTest, ReceivedItemsMayLackWithheldAndCarryTransformedFields) {
  v1::Item item = ValidAlert();
  item.mutable_alert()->clear_title();
  item.mutable_alert()->set_severity(v1::Alert::SEVERITY_UNSPECIFIED);
  item.mutable_alert()->add_containers()->set_number("ps:0123456789abcdef");
  EXPECT_FALSE(ValidateItem(item).ok());
  EXPECT_TRUE(ValidateReceivedItem(item).ok()) << ValidateReceivedItem(item);
}

TEST(ItemValidationTest, ReceivedItemsStillNeedEnvelopeBodyAndKnownValues) {
  v1::Item item = ValidAlert();
  item.clear_body();
  EXPECT_THAT(ValidateReceivedItem(item).message(), HasSubstr("body: is required"));
  item = ValidAlert();
  item.mutable_classification()->set_tlp(v1::Classification::TLP_UNSPECIFIED);
  EXPECT_THAT(ValidateReceivedItem(item).message(), HasSubstr("classification.tlp"));
  item = ValidAlert();
  item.mutable_alert()->set_category(static_cast<v1::Alert::Category>(99));
  EXPECT_THAT(ValidateReceivedItem(item).message(), HasSubstr("alert.category: unknown value 99"));
  item = ValidAlert();
  item.mutable_alert()->set_title(std::string(100000, 'x'));
  EXPECT_THAT(ValidateReceivedItem(item).message(), HasSubstr("alert.title: is longer than"));
}

// The generic checks are written out per message (no reflection at run
// time). This walks the schema by reflection and, for every field of every
// message an item can hold, sets one bad value and expects the problem
// reported at that field's path: a field added to item.proto and not to
// the checks fails here.
struct BadField {
  std::string expected;  // "path: reason"
  std::function<void(v1::Item&)> apply;
};

using Locator = std::function<google::protobuf::Message*(v1::Item&)>;

void CollectBadFields(const google::protobuf::Descriptor* descriptor,
                      const Locator& locate, const std::string& path,
                      std::vector<BadField>* out) {
  using google::protobuf::FieldDescriptor;
  using google::protobuf::Message;
  out->push_back({absl::StrCat(path.empty() ? "item" : path, ": unknown field number 999"),
                  [locate](v1::Item& item) {
                    Message* m = locate(item);
                    m->GetReflection()->MutableUnknownFields(m)->AddVarint(999, 1);
                  }});
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* f = descriptor->field(i);
    const std::string field_path = absl::StrCat(
        path, path.empty() ? "" : ".", f->name(), f->is_repeated() ? "[0]" : "");
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        out->push_back({absl::StrCat(field_path, ": is longer than 10000 characters"),
                        [locate, f](v1::Item& item) {
                          Message* m = locate(item);
                          std::string big(10'001, 'x');
                          if (f->is_repeated()) {
                            m->GetReflection()->AddString(m, f, big);
                          } else {
                            m->GetReflection()->SetString(m, f, big);
                          }
                        }});
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        out->push_back({absl::StrCat(field_path, ": unknown value 99"),
                        [locate, f](v1::Item& item) {
                          Message* m = locate(item);
                          if (f->is_repeated()) {
                            m->GetReflection()->AddEnumValue(m, f, 99);
                          } else {
                            m->GetReflection()->SetEnumValue(m, f, 99);
                          }
                        }});
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        Locator sub = [locate, f](v1::Item& item) {
          Message* m = locate(item);
          const google::protobuf::Reflection* r = m->GetReflection();
          if (!f->is_repeated()) return r->MutableMessage(m, f);
          return r->FieldSize(*m, f) > 0 ? r->MutableRepeatedMessage(m, f, 0)
                                         : r->AddMessage(m, f);
        };
        if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
          out->push_back({absl::StrCat(field_path, ": is not a valid time"),
                          [sub](v1::Item& item) {
                            static_cast<google::protobuf::Timestamp*>(sub(item))
                                ->set_seconds(253402300800);
                          }});
        } else {
          CollectBadFields(f->message_type(), sub, field_path, out);
        }
        break;
      }
      default:
        break;
    }
  }
}

TEST(ItemValidationTest, GenericChecksCoverEveryFieldOfTheSchema) {
  std::vector<BadField> cases;
  CollectBadFields(v1::Item::descriptor(),
                   [](v1::Item& item) -> google::protobuf::Message* { return &item; },
                   "", &cases);
  ASSERT_GT(cases.size(), 80u);
  ItemLimits limits;
  limits.max_reported_errors = 1000;
  for (const BadField& bad : cases) {
    v1::Item item;
    bad.apply(item);
    EXPECT_THAT(ValidateReceivedItem(item, limits).message(), HasSubstr(bad.expected));
    EXPECT_THAT(ValidateItem(item, limits).message(), HasSubstr(bad.expected));
  }
}

}  // namespace
}  // namespace havengate
