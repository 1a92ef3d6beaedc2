// ValidateItem and ValidateReceivedItem on a valid 40-field alert, as a
// gateway checks every item pushed or received (issue 16 item 3).
//   cmake --build build --target item_validation_benchmark &&
//   ./build/proto/item_validation_benchmark
#include "benchmark/benchmark.h"
#include "proto/item_validation.h"
#include "proto/json.h"

namespace havengate {
namespace {

v1::Item FortyFieldAlert() {
  auto item = ParseJsonAs<v1::Item>(R"json({
    "item_id": "rtm-2026-0001",
    "created_at": "2026-11-28T10:00:00Z",
    "expires_at": "2026-12-28T10:00:00Z",
    "classification": {"tlp": "AMBER", "handling_code": "H2",
                       "handling_note": "operational use only"},
    "alert": {
      "category": "PIN_CODE_FRAUD",
      "severity": "HIGH",
      "title": "Release PIN of reefer container used by unknown haulier",
      "description": "The release PIN was used twice within ten minutes.",
      "observed_at": "2026-11-28T09:40:00Z",
      "location": {"unlocode": "NLRTM", "terminal": "ECT Delta",
                   "position": {"latitude": 51.95, "longitude": 4.05},
                   "description": "gate 4"},
      "containers": [
        {"number": "CSQU3054383", "port_of_loading": "ECGYE", "terminal": "ECT Delta",
         "seal_number": "SL-0042", "pin_release_status": "PIN_USED",
         "cargo_description": "bananas", "size_type": "45R1"},
        {"number": "MSKU9070323", "port_of_loading": "ECGYE", "terminal": "ECT Delta"}],
      "vessels": [{"imo": "IMO9319466", "mmsi": "244123456", "flag": "NL",
                   "name": "Example Star", "last_port": "ECGYE"}],
      "persons": [
        {"name": "Jan de Vries", "date_of_birth": "1984-02-29", "nationality": "NL",
         "badge_id": "B-1234", "employer": "Example Haulage BV"},
        {"name": "Piet Jansen", "nationality": "BE"}],
      "companies": [{"name": "Example Fruit BV", "eori": "NL123456789"}],
      "reporter": {"name": "Officer 12", "unit": "Seaport Police"},
      "source": {"reference": "SRC-7", "reliability": "B", "credibility": "CONFIRMED"}
    }
  })json");
  if (!item.ok()) std::abort();
  return *item;
}

void BM_ValidateItem(benchmark::State& state) {
  const v1::Item item = FortyFieldAlert();
  if (!ValidateItem(item).ok()) std::abort();
  for (auto _ : state) benchmark::DoNotOptimize(ValidateItem(item));
}
BENCHMARK(BM_ValidateItem);

void BM_ValidateReceivedItem(benchmark::State& state) {
  const v1::Item item = FortyFieldAlert();
  for (auto _ : state) benchmark::DoNotOptimize(ValidateReceivedItem(item));
}
BENCHMARK(BM_ValidateReceivedItem);

}  // namespace
}  // namespace havengate
