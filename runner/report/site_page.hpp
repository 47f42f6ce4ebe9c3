// SitePage — one neuron's page of `neurolens site` (docs/examples.md, "The site"): its windows
// painted token by token, summary statistics, histogram, quantile buckets and logit effects.
// Owns: TokenPainter (every token's HTML computed once per vocabulary id; a window whose tokens
// split a multi-byte character goes through ExamplesFile::display_tokens; activation values as
// text cached per half-float bit pattern), the colour classes (p1..p10 positive, n1..n10
// negative, relative to the neuron's largest |activation|; class m on the max token), the collapsed
// window view (10 tokens before and 4 after the max; a checkbox shows the whole window without
// painting it twice: the hidden tokens are compact data that assets/site.js paints on demand),
// the histogram SVG and render_neuron_page.
// Example:
//   ExamplesFile f("examples.h5");
//   TokenPainter painter(f);
//   NeuronLinks links{"../../../", "0.html", "2.html", 1, 36864};
//   PageText page;
//   for (const NeuronExamples& n : f.read_layer(0, 0)) {
//     page.clear();
//     render_neuron_page(page, painter, f.info(), f.sites()[0], n, links);
//   }
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runner/report/site_text.hpp"
#include "runner/results/examples_reader.hpp"

namespace neurolens::runner {

// Where a neuron page sits among the others (hrefs relative to the page).
struct NeuronLinks {
  std::string root;      // the site's top directory: "../../../"
  std::string previous;  // previous neuron's page (the last one's for the first: a ring)
  std::string next;
  int64_t flat = 0;   // this neuron's number over all sites and layers
  int64_t total = 0;  // neurons in the site
};

// The collapsed view of a window: tokens [position - before, position + after].
struct WindowView {
  int before = 10;
  int after = 4;
};

class TokenPainter {
 public:
  explicit TokenPainter(const ExamplesFile& file);

  // Appends the window: a <div class="w"> of <i> tokens, background class by activation
  // (positive / pos_scale, negative / neg_scale), the value as title, the token at
  // `window.position` marked. Tokens outside the view go to `hidden` as this window's entry of
  // window.NL_PAGE.windows (`id` = its index; 0 when nothing is hidden):
  // [[before ids], [before values], [after ids], [after values]], an id of assets/vocab.js or
  // the display string where a character is split; site.js paints them into the empty
  // <span class="x b"> / <span class="x a"> when the checkbox w<id> is first checked.
  void paint(PageText& out, PageText& hidden, const ExampleWindow& window, double pos_scale,
             double neg_scale, WindowView view, int64_t id);

  // The display text of the token at `position` (a multi-byte character split over tokens: the
  // token that completes it; "" when none does).
  std::string token_at(std::span<const int32_t> tokens, size_t position);
  // One token on its own, as visible HTML (logit tables).
  std::string token_html(int32_t id) const;
  // assets/vocab.js: window.NL_VOCAB, every id's display text (null when not whole UTF-8 alone).
  std::string vocab_js() const;

 private:
  void value_text(PageText& out, float v);
  bool whole(int32_t id) const;
  void display_runs(std::span<const int32_t> tokens);  // display_ of the non-whole tokens

  const ExamplesFile& file_;
  std::vector<std::string> html_;     // per id: visible HTML when the token is whole UTF-8
  std::vector<uint8_t> whole_;        // 1 when the token's bytes are complete UTF-8 alone
  std::vector<std::string> half_;     // per half-float bit pattern: the value's text
  std::vector<uint8_t> half_ready_;   // 1 when half_[bits] is filled
  std::vector<std::string> display_;  // scratch: one window's display tokens
};

// The whole neuron page into `out` (appended).
void render_neuron_page(PageText& out, TokenPainter& painter, const ExamplesInfo& info,
                        const ExamplesSite& site, const NeuronExamples& neuron,
                        const NeuronLinks& links, WindowView view = {});

// The histogram of hist_edges / hist_counts as an inline SVG (bar heights log(1 + count), the
// bin and count on hover; underflow and overflow counts written under the axis).
void histogram_svg(PageText& out, const std::vector<float>& edges,
                   const std::vector<int64_t>& counts);

// The CSS classes of the activation colours (p1..p10, n1..n10), for the site's stylesheet.
std::string activation_css();

}  // namespace neurolens::runner
