// Report HTML — the page of `neurolens report`: one self-contained HTML page (inline CSS and
// SVG, no JavaScript, no network) from a results file read by results_reader.hpp.
// Owns: the page (style, navigation, footer) with one section per part of the file, each skipped
// when its datasets are absent; the tables (run, top neurons, planted neurons, sampling top
// tokens and contexts, out of sample, study parameters) and text heatmaps (tokens as <span>s
// coloured by activation on a diverging scale, the value on hover). The charts and html_escape
// are report_svg.hpp's (included here).
// Section ids: summary, volcano, significant-per-layer, distribution, top-neurons, examples,
// planted, length-histograms, sampling-top-tokens, sampling-contexts, heatmap, out-of-sample,
// study. Example:
//   const Results r = read_results("negation.h5");
//   std::string page = render_report(r);            // < 2 MB even for 300,000 neurons
//   diverging_color(1) == "#d62728";
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runner/report/report_svg.hpp"
#include "runner/results/reader.hpp"

namespace neurolens::runner {

// Colour of v on a diverging blue-white-red scale, v clamped to [-1, 1]: "#rrggbb".
std::string diverging_color(double v);

// Tokens as <span>s coloured by value / max|value| of the row, title = the value; a sequence
// change starts a new paragraph. At most max_tokens tokens.
std::string text_heatmap_html(const std::vector<std::string>& tokens,
                              const std::vector<float>& values,
                              const std::vector<int64_t>& sequence, size_t max_tokens);

// The whole page.
std::string render_report(const Results& results);

}  // namespace neurolens::runner
