// Report HTML — the builders of `neurolens report`: one self-contained HTML page (inline CSS and
// SVG, no JavaScript, no network) from a results file read by results_reader.hpp.
// Owns: HTML escaping, the SVG charts (volcano plot with a density grid for the mass of neurons
// and points only for the top ones, bar charts, per-layer box plots, histograms), text heatmaps
// (tokens as <span>s coloured by activation on a diverging scale, the value on hover), tables,
// and the page: one section per part of the file, each skipped when its datasets are absent.
// Section ids: summary, volcano, significant-per-layer, distribution, top-neurons, planted,
// contrast, length-histograms, sampling-top-tokens, sampling-contexts, heatmap, out-of-sample.
// Example:
//   const Results r = read_results("negation.h5");
//   std::string page = render_report(r);            // < 2 MB even for 300,000 neurons
//   html_escape("<b> & \"x\"") == "&lt;b&gt; &amp; &quot;x&quot;";
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runner/results_reader.hpp"

namespace neurolens::runner {

// Escapes & < > " ' for text and attribute values; invalid UTF-8 bytes become U+FFFD.
std::string html_escape(std::string_view text);

// Colour of v on a diverging blue-white-red scale, v clamped to [-1, 1]: "#rrggbb".
std::string diverging_color(double v);

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

// Tokens as <span>s coloured by value / max|value| of the row, title = the value; a sequence
// change starts a new paragraph. At most max_tokens tokens.
std::string text_heatmap_html(const std::vector<std::string>& tokens,
                              const std::vector<float>& values,
                              const std::vector<int64_t>& sequence, size_t max_tokens);

// The whole page.
std::string render_report(const Results& results);

}  // namespace neurolens::runner
