// The Reports page: the monitoring the ports' cooperation asks for — per
// partner and per week, items shared, delivered and received (and by
// category and TLP), refusals and expiries, and the share of fields
// withheld — counted by the gateway
// from its audit log (Evidence.Activity) and drawn here as SVG bars (no
// chart library). The page prints without the navigation and forms.
#include <algorithm>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/console/html.h"
#include "client/console/page_parts.h"
#include "client/console/pages.h"
#include "proto/timestamp.h"

namespace havengate::console {
namespace {

constexpr int kDefaultWeeks = 8;
constexpr int kMaxWeeks = 52;

struct Week {
  absl::Time start;
  std::map<std::string, v1::PartnerActivity> partners;
};

// Bars of shared (dark) and received (light) items per week for one
// partner, with the week's start under each pair.
std::string Chart(const std::string& partner, const std::vector<Week>& weeks) {
  uint64_t top = 1;
  for (const Week& w : weeks) {
    auto it = w.partners.find(partner);
    if (it == w.partners.end()) continue;
    top = std::max({top, it->second.shared(), it->second.received()});
  }
  constexpr int kSlot = 56, kBar = 20, kHeight = 120, kBase = 130;
  const int width = static_cast<int>(weeks.size()) * kSlot + 20;
  std::string svg = absl::StrCat("<svg class=\"chart\" data-partner=\"", Escape(partner),
                                 "\" width=\"", width, "\" height=\"160\" viewBox=\"0 0 ", width,
                                 " 160\" role=\"img\" aria-label=\"items shared and received "
                                 "per week: ",
                                 Escape(partner), "\">");
  absl::StrAppend(&svg, "<line x1=\"10\" y1=\"", kBase, "\" x2=\"", width - 10, "\" y2=\"", kBase,
                  "\" stroke=\"#5b6676\"/>");
  int x = 14;
  for (const Week& w : weeks) {
    auto it = w.partners.find(partner);
    const uint64_t shared = it == w.partners.end() ? 0 : it->second.shared();
    const uint64_t received = it == w.partners.end() ? 0 : it->second.received();
    for (auto [value, colour, offset] : {std::tuple(shared, "#0b5cad", 0),
                                         std::tuple(received, "#7fb3e6", kBar + 2)}) {
      const int h = static_cast<int>(value * kHeight / top);
      absl::StrAppend(&svg, "<rect x=\"", x + offset, "\" y=\"", kBase - h, "\" width=\"", kBar,
                      "\" height=\"", h, "\" fill=\"", colour, "\"><title>", value,
                      "</title></rect>");
      if (value > 0) {
        absl::StrAppend(&svg, "<text x=\"", x + offset + kBar / 2, "\" y=\"", kBase - h - 3,
                        "\" font-size=\"10\" text-anchor=\"middle\">", value, "</text>");
      }
    }
    absl::StrAppend(&svg, "<text x=\"", x + kBar, "\" y=\"", kBase + 14,
                    "\" font-size=\"10\" text-anchor=\"middle\">",
                    absl::FormatTime("%m-%d", w.start, absl::UTCTimeZone()), "</text>");
    x += kSlot;
  }
  return absl::StrCat(svg, "</svg>");
}

// Items shared and received by alert category and by TLP over all the
// weeks, one row per category or TLP seen.
std::string KindTable(const std::string& partner, const std::vector<Week>& weeks) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> category, tlp;
  for (const Week& w : weeks) {
    auto it = w.partners.find(partner);
    if (it == w.partners.end()) continue;
    const v1::PartnerActivity& a = it->second;
    for (const auto& [k, n] : a.shared_by_category()) category[k].first += n;
    for (const auto& [k, n] : a.received_by_category()) category[k].second += n;
    for (const auto& [k, n] : a.shared_by_tlp()) tlp["TLP:" + k].first += n;
    for (const auto& [k, n] : a.received_by_tlp()) tlp["TLP:" + k].second += n;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto* by : {&category, &tlp}) {
    for (const auto& [k, n] : *by) {
      rows.push_back({Escape(k), absl::StrCat(n.first), absl::StrCat(n.second)});
    }
  }
  return Table({"Category / TLP (all weeks)", "Shared", "Received"}, rows, "by-kind");
}

}  // namespace

std::string ReportsPage(Gateway& gateway, const Params& params, absl::Time now) {
  int weeks_count = kDefaultWeeks;
  if (!Param(params, "weeks").empty() &&
      (!absl::SimpleAtoi(Param(params, "weeks"), &weeks_count) || weeks_count < 1 ||
       weeks_count > kMaxWeeks)) {
    return ErrorBox(absl::StrCat("weeks: a number from 1 to ", kMaxWeeks));
  }
  std::vector<Week> weeks;
  std::map<std::string, bool> partners;
  for (int i = weeks_count - 1; i >= 0; --i) {
    Week week;
    week.start = now - absl::Hours(24 * 7 * (i + 1));
    v1::ActivityRequest request;
    *request.mutable_period()->mutable_since() = ToTimestamp(week.start);
    *request.mutable_period()->mutable_until() = ToTimestamp(now - absl::Hours(24 * 7 * i));
    absl::StatusOr<v1::ActivityResponse> activity = gateway.evidence.Activity(request);
    if (!activity.ok()) return GatewayError("reading activity", activity.status());
    for (const v1::PartnerActivity& a : activity->partners()) {
      week.partners[a.partner()] = a;
      partners[a.partner()] = true;
    }
    weeks.push_back(std::move(week));
  }
  std::string body = absl::StrCat(
      "<form method=\"get\" action=\"/reports\"><label>Weeks <input name=\"weeks\" value=\"",
      weeks_count, "\"></label><button type=\"submit\">Show</button></form>"
      "<p>Per partner, the last ", weeks_count,
      " weeks (each ending at this moment's weekday and time); dark bars: items shared, light "
      "bars: items received. Counted by the gateway from its audit log.</p>");
  if (partners.empty()) return absl::StrCat(body, "<p>No traffic in this period.</p>");
  for (const auto& [partner, unused] : partners) {
    std::vector<std::vector<std::string>> rows;
    for (const Week& w : weeks) {
      auto it = w.partners.find(partner);
      const v1::PartnerActivity a = it == w.partners.end() ? v1::PartnerActivity() : it->second;
      const uint64_t fields = a.fields_released() + a.fields_withheld();
      rows.push_back({absl::FormatTime("%Y-%m-%d", w.start, absl::UTCTimeZone()),
                      absl::StrCat(a.shared()), absl::StrCat(a.delivered()),
                      absl::StrCat(a.received()), absl::StrCat(a.refused()),
                      absl::StrCat(a.expired()),
                      fields == 0 ? "-"
                                  : absl::StrFormat("%.0f%%", 100.0 * a.fields_withheld() /
                                                                  static_cast<double>(fields))});
    }
    absl::StrAppend(&body, "<section class=\"report\"><h2>", Escape(partner), "</h2>",
                    Chart(partner, weeks),
                    Table({"Week from", "Shared", "Delivered", "Received", "Refused", "Expired",
                           "Fields withheld"},
                          rows, "report"),
                    KindTable(partner, weeks), "</section>");
  }
  return body;
}

}  // namespace havengate::console
