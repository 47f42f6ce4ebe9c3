// Report SVG — the charts of `neurolens report` as inline SVG (no script, no network), and the
// markup primitives they share with the page (report_html.hpp).
// Owns: HTML escaping (text and attribute values, the same in SVG as in HTML), the short number
// text of the pictures, the chart frame (nice ticks, axes, labels, the palette) and the charts:
// the volcano plot (a density grid for the mass of neurons, points only for the marked ones),
// bar charts, per-layer box plots, step histograms and the time-per-phase bar of the run.
// Example:
//   html_escape("<b> & \"x\"") == "&lt;b&gt; &amp; &quot;x&quot;";
//   trimmed_number(2.50, 2) == "2.5";
//   std::string svg = bar_chart_svg({"0", "1"}, {3, 5}, "significant neurons");
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/format.hpp"  // trimmed_number: the coordinates and short values

namespace neurolens::runner {

// Escapes & < > " ' for text and attribute values; invalid UTF-8 bytes become U+FFFD.
std::string html_escape(std::string_view text);

// Counts of points in a cols x rows grid over [x0, x1] x [y0, y1]; points outside are clamped
// into the edge cells. Cell (c, r): c from the left, r from the bottom.
struct DensityGrid {
  DensityGrid(int cols, int rows, double x0, double x1, double y0, double y1);
  void add(double x, double y);
  int64_t at(int c, int r) const { return counts[static_cast<size_t>(r) * cols + c]; }
  int cols, rows;
  double x0, x1, y0, y1;
  std::vector<int64_t> counts;
};

// Neurons drawn individually on the volcano plot.
struct VolcanoMark {
  size_t index = 0;      // into VolcanoData::x / p
  std::string label;     // hover text
  bool planted = false;  // drawn with a ring and its concept name
  std::string concept_name;
};

struct VolcanoData {
  std::string x_label;       // "Cohen's d", "beta", ...
  std::vector<double> x, p;  // one per neuron
  double threshold = 0;      // p threshold of the correction (the horizontal line)
  std::string threshold_label;
  std::vector<VolcanoMark> marks;
};

// The volcano SVG: every unmarked neuron in a 190 x 110 density grid (one <path> per shade),
// marked neurons as <circle>s with a <title>, the threshold line at -log10(threshold); p = 0
// (underflow) is drawn in a band above the axis labelled as such. NaN values are not drawn.
std::string volcano_svg(const VolcanoData& data);

// Vertical bars with a value on top; labels under the bars.
std::string bar_chart_svg(const std::vector<std::string>& labels, const std::vector<double>& values,
                          const std::string& y_label);

// Five-number summaries per layer (whiskers at the 1st and 99th percentiles, dots at min / max).
struct BoxStats {
  double min = 0, p01 = 0, q1 = 0, median = 0, q3 = 0, p99 = 0, max = 0;
  int64_t n = 0;  // finite values
};
BoxStats box_stats(std::vector<double> values);  // NaNs dropped
std::string box_plot_svg(const std::vector<std::string>& labels, const std::vector<BoxStats>& boxes,
                         const std::string& y_label);

// Step histograms sharing bin edges: one polyline per series (normalized to fractions).
struct Series {
  std::string name;
  std::vector<double> values;  // one per bin
};
std::string histogram_svg(const std::vector<double>& edges, const std::vector<Series>& series,
                          const std::string& title, int width, int height);

// One 760 x 46 bar split into the phases' shares of their total (seconds; NaN counts as 0), each
// segment with its name and time on hover, labelled below when wide enough; "" when the total is
// not positive.
std::string phase_time_svg(const std::vector<std::pair<std::string, double>>& phases);

}  // namespace neurolens::runner
