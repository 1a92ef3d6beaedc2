#include "tests/bench/bench_alert.h"

#include <atomic>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/identifiers.h"
#include "proto/json.h"
#include "proto/timestamp.h"

namespace havengate::bench {
namespace {

// Owner code + category + serial, completed with its ISO 6346 check digit.
std::string ContainerNumber(absl::string_view first_ten) {
  return absl::StrCat(first_ten, ContainerCheckDigit(first_ten));
}

// Six digits completed with the IMO check digit.
std::string ImoNumber(absl::string_view first_six) {
  return absl::StrCat("IMO", first_six, ImoCheckDigit(first_six));
}

std::atomic<bool> distinct_keys{false};
// Numbers the copies that get keys of their own, across all streams.
std::atomic<uint32_t> next_key_serial{0};

}  // namespace

void SetDistinctKeys(bool distinct) { distinct_keys = distinct; }

void MakeBenchCopy(v1::Item& copy, const std::string& prefix, int n) {
  copy.set_item_id(BenchItemId(prefix, n));
  if (!copy.has_alert()) return;
  v1::Alert& alert = *copy.mutable_alert();
  for (v1::Container& c : *alert.mutable_containers()) {
    if (!c.seal_number().empty()) {
      c.set_seal_number(absl::StrCat(c.seal_number(), "/", copy.item_id()));
    }
  }
  if (!distinct_keys) return;
  const uint32_t serial = next_key_serial++ % 900'000 + 100'000;
  for (int i = 0; i < alert.containers_size(); ++i) {
    alert.mutable_containers(i)->set_number(
        ContainerNumber(absl::StrCat(i % 2 == 0 ? "BNCU" : "BNDU", serial)));
  }
  for (v1::Vessel& vessel : *alert.mutable_vessels()) {
    if (!vessel.imo().empty()) vessel.set_imo(ImoNumber(absl::StrCat(serial)));
    // 244: the Netherlands' maritime identification digits.
    if (!vessel.mmsi().empty()) vessel.set_mmsi(absl::StrCat("244", serial));
  }
}

v1::Item MakeBenchAlert() {
  // Whole seconds: the encoded item has the same size on every run.
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  v1::Item item;
  item.set_item_id("bench-template");
  *item.mutable_created_at() = ToTimestamp(now - absl::Minutes(12));
  *item.mutable_expires_at() = ToTimestamp(now + absl::Hours(24 * 90));

  v1::Classification* c = item.mutable_classification();
  c->set_tlp(v1::Classification::AMBER);
  c->set_handling_code(v1::Classification::H2);
  c->set_handling_note(
      "Share with port security and customs only; do not contact the "
      "haulier before the terminal has blocked the release.");

  v1::Alert* alert = item.mutable_alert();
  alert->set_category(v1::Alert::PIN_CODE_FRAUD);
  alert->set_severity(v1::Alert::HIGH);
  alert->set_title("Release PIN used by an unregistered truck at ECT Delta");
  alert->set_description(
      "At 03:12 a truck without a pre-notification collected a reefer "
      "container using a valid release PIN. The PIN had been issued to the "
      "consignee's forwarder two days earlier and was not reported lost. "
      "Gate camera shows a second truck waiting outside the terminal; the "
      "driver's badge was issued to a temporary employee whose contract "
      "ended last month. A second container of the same bill of lading "
      "is still on the stack.");
  *alert->mutable_observed_at() = ToTimestamp(now - absl::Minutes(47));

  v1::Location* location = alert->mutable_location();
  location->set_unlocode("NLRTM");
  location->set_terminal("ECT Delta");
  location->mutable_position()->set_latitude(51.9556);
  location->mutable_position()->set_longitude(4.0522);
  location->set_description("Gate 4 (out), lane 2, Maasvlakte");

  v1::Container* first = alert->add_containers();
  first->set_number(ContainerNumber("MSKU904785"));
  first->set_seal_number("ML-4480213");
  first->set_terminal("ECT Delta");
  first->set_bill_of_lading("MAEU218874512");
  first->set_consignee("Fruta del Sol Import B.V.");
  first->set_pin_release_status(v1::Container::PIN_USED);
  first->set_port_of_loading("ECGYE");
  first->set_cargo_description("Fresh bananas, 1,080 cartons, +13 C");
  first->set_size_type("45R1");

  v1::Container* second = alert->add_containers();
  second->set_number(ContainerNumber("SUDU607512"));
  second->set_seal_number("ML-4480214");
  second->set_terminal("ECT Delta");
  second->set_bill_of_lading("MAEU218874512");
  second->set_consignee("Fruta del Sol Import B.V.");
  second->set_pin_release_status(v1::Container::PIN_ISSUED);
  second->set_port_of_loading("ECGYE");
  second->set_cargo_description("Fresh bananas, 1,080 cartons, +13 C");
  second->set_size_type("45R1");

  v1::Vessel* vessel = alert->add_vessels();
  vessel->set_imo(ImoNumber("937618"));
  vessel->set_mmsi("636019825");
  vessel->set_name("Maersk Guayaquil Express");
  vessel->set_flag("LR");
  vessel->set_last_port("ECGYE");
  vessel->set_next_port("DEHAM");

  v1::Person* driver = alert->add_persons();
  driver->set_name("Pieter Jansen");
  driver->set_date_of_birth("1989-04-17");
  driver->set_nationality("NL");
  driver->set_document_number("NXK4R81P2");
  driver->set_employer("Snel Transport Rotterdam B.V.");
  driver->set_badge_id("RTM-51877");
  driver->set_role(v1::Person::DRIVER);

  v1::Person* employee = alert->add_persons();
  employee->set_name("Sanne de Boer");
  employee->set_date_of_birth("1994-11-02");
  employee->set_nationality("NL");
  employee->set_employer("ECT Delta Terminal B.V.");
  employee->set_badge_id("RTM-48213");
  employee->set_role(v1::Person::EMPLOYEE);

  v1::Company* company = alert->add_companies();
  company->set_name("Snel Transport Rotterdam B.V.");
  company->set_eori("NL812345670");
  company->set_address("Havenweg 12, 3089 JB Rotterdam");
  company->set_role(v1::Company::HAULIER);

  v1::Reporter* reporter = alert->mutable_reporter();
  reporter->set_name("Insp. M. Visser");
  reporter->set_unit("Seaport Police Rotterdam, intelligence desk");
  reporter->set_contact("+31 10 555 0142");

  v1::Source* source = alert->mutable_source();
  source->set_reference("ECT-GATE-2024-118834");
  source->set_reliability(v1::Source::B);
  source->set_credibility(v1::Source::PROBABLY_TRUE);
  return item;
}

absl::StatusOr<v1::Item> LoadBenchItem(const std::string& json_file) {
  if (json_file.empty()) return MakeBenchAlert();
  std::ifstream in(json_file);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", json_file));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<v1::Item> item = ParseJsonAs<v1::Item>(text.str());
  if (!item.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(json_file, ": ", item.status().message()));
  }
  item->clear_origin();
  item->clear_provenance();
  return item;
}

std::string BenchItemId(const std::string& prefix, int n) {
  return absl::StrCat(prefix, "-", n);
}

}  // namespace havengate::bench
