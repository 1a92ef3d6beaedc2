// A small SVG line-chart writer for the benchmarks' own figures (no
// plotting library on the build machine): panels stacked vertically, each
// with its series as polylines over a shared x axis, a legend and ticks.
#ifndef HAVENGATE_TESTS_BENCH_SCALE_PLOT_H_
#define HAVENGATE_TESTS_BENCH_SCALE_PLOT_H_

#include <string>
#include <utility>
#include <vector>

namespace havengate::bench {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
};

struct PlotPanel {
  std::string title;
  std::vector<PlotSeries> series;
};

// The SVG document (axes from 0; text escaped).
std::string SvgPlots(const std::string& title, const std::string& x_label,
                     const std::vector<PlotPanel>& panels);

}  // namespace havengate::bench

#endif  // HAVENGATE_TESTS_BENCH_SCALE_PLOT_H_
