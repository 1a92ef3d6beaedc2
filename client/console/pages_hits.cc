// The Hits page: the newest hits the gateway recorded — two items it holds
// that share a container, vessel, company or (pseudonymised) person — from
// the Evidence service (officers only; each look is audited). Personal keys
// arrive as pseudonym codes only; every value is escaped.
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"

namespace havengate::console {
namespace {

std::string ItemRef(const v1::HitItemRef& ref) {
  std::string out = absl::StrCat(ref.origin(), "/", ref.item_id(), "@", ref.version());
  if (!ref.received_from().empty() && ref.received_from() != ref.origin()) {
    absl::StrAppend(&out, " (from ", ref.received_from(), ")");
  }
  return out;
}

}  // namespace

std::string HitsPage(Gateway& gateway) {
  v1::RecentHitsRequest request;
  absl::StatusOr<v1::RecentHitsResponse> hits = gateway.evidence.RecentHits(request);
  if (!hits.ok()) return GatewayError("reading the hits", hits.status());
  std::vector<std::vector<std::string>> rows;
  for (const v1::Hit& hit : hits->hits()) {
    rows.push_back({Escape(When(hit.recorded_at())), Escape(v1::MatchKeyType_Name(hit.key_type())),
                    Escape(hit.key()), Escape(ItemRef(hit.item())), Escape(ItemRef(hit.other()))});
  }
  return absl::StrCat(
      "<h2>Recent hits</h2><p>Two items this gateway holds that share a key, found when the "
      "second was stored; newest first (at most 50). Personal keys are shown as pseudonym "
      "codes only.</p><p id=\"hit-count\">",
      hits->hits_size(), " hit(s).</p>",
      Table({"Time", "Key type", "Key", "Item stored", "Item held before"}, rows, "hits"));
}

}  // namespace havengate::console
