#include "tests/bench/scale_plot.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace havengate::bench {
namespace {

constexpr double kWidth = 720, kPanelHeight = 240, kTop = 40;
constexpr double kLeft = 70, kRight = 20, kPlotTop = 30, kPlotBottom = 50;
const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A round step giving about five ticks up to `max`.
double TickStep(double max) {
  if (max <= 0) return 1;
  double raw = max / 5;
  double magnitude = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace

std::string SvgPlots(const std::string& title, const std::string& x_label,
                     const std::vector<PlotPanel>& panels) {
  const double height = kTop + panels.size() * kPanelHeight;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"22\" font-size=\"14\" text-anchor=\"middle\">%s</text>\n",
      kWidth, height, kWidth / 2, Escape(title));
  double x_max = 0;
  std::set<double> xs;
  for (const PlotPanel& panel : panels) {
    for (const PlotSeries& s : panel.series) {
      for (const auto& [x, y] : s.points) {
        x_max = std::max(x_max, x);
        xs.insert(x);
      }
    }
  }
  x_max = std::max(x_max, 1.0);
  const double plot_width = kWidth - kLeft - kRight;
  const double plot_height = kPanelHeight - kPlotTop - kPlotBottom;
  for (size_t p = 0; p < panels.size(); ++p) {
    const PlotPanel& panel = panels[p];
    const double top = kTop + p * kPanelHeight + kPlotTop;
    const double bottom = top + plot_height;
    double y_max = 0;
    for (const PlotSeries& s : panel.series) {
      for (const auto& [x, y] : s.points) y_max = std::max(y_max, y);
    }
    const double step = TickStep(y_max * 1.05);
    y_max = std::max(step, std::ceil(y_max * 1.05 / step) * step);
    auto px = [&](double x) { return kLeft + x / x_max * plot_width; };
    auto py = [&](double y) { return bottom - y / y_max * plot_height; };
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.0f\" y=\"%.0f\" font-weight=\"bold\">%s</text>\n",
                          kLeft, top - 10, Escape(panel.title));
    absl::StrAppendFormat(&svg,
                          "<path d=\"M%.1f %.1f V%.1f H%.1f\" stroke=\"black\" fill=\"none\"/>\n",
                          kLeft, top, bottom, kLeft + plot_width);
    for (double y = 0; y <= y_max + step / 2; y += step) {
      absl::StrAppendFormat(
          &svg,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
          kLeft, py(y), kLeft + plot_width, py(y), kLeft - 6, py(y) + 4, y);
    }
    for (double x : xs) {
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                            px(x), bottom + 16, x);
    }
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                          kLeft + plot_width / 2, bottom + 32, Escape(x_label));
    for (size_t s = 0; s < panel.series.size(); ++s) {
      const PlotSeries& series = panel.series[s];
      const char* colour = kColours[s % 4];
      std::string points;
      for (const auto& [x, y] : series.points) {
        absl::StrAppendFormat(&points, "%.1f,%.1f ", px(x), py(y));
        absl::StrAppendFormat(&svg,
                              "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                              px(x), py(y), colour);
      }
      absl::StrAppendFormat(&svg,
                            "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                            "stroke-width=\"2\"%s/>\n",
                            points, colour, s == 1 ? " stroke-dasharray=\"6 4\"" : "");
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n",
                            kLeft + 10, top + 14 + 14 * s, colour, Escape(series.name));
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace havengate::bench
