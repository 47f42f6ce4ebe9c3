// SiteIndex — the index page of `neurolens site` and the files every page shares.
// Owns: the table data of every neuron (site, layer, neuron, max activation, density =
// frac_positive, the distinct max tokens of its top windows, best first) kept compact as one
// JavaScript array with a shared token table (assets/index-data.js), index.html, the stylesheet
// (assets/site.css) and the script (assets/site.js: the index's sorting, search and paging
// driven by the URL hash, e.g. index.html#sort=max&dir=asc&q=the&page=2; on neuron pages the
// random-neuron link and arrow-key navigation), and where a neuron's page lives.
// Example:
//   SiteIndex index;
//   index.add(0, n.layer, n.neuron, n.max_activation, n.frac_positive, {" the", " a"});
//   write(dir / "assets/index-data.js", index.data_js());
//   site_neuron_path("mlp.hook_post", 3, 17) == "n/mlp.hook_post/3/17.html";
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runner/report/site_text.hpp"
#include "runner/results/examples_reader.hpp"

namespace neurolens::runner {

// A site's folder name: the site name with every character outside [A-Za-z0-9._-] as '_'.
std::string site_dir_name(std::string_view site);

// A neuron page's path relative to the site's top directory.
std::string site_neuron_path(std::string_view site_dir, int64_t layer, int64_t neuron);

class SiteIndex {
 public:
  // One neuron's row; `max_tokens` are the display texts of its top windows' max tokens, best
  // window first (repeats are dropped).
  void add(int64_t site, int64_t layer, int64_t neuron, float max_activation, double density,
           const std::vector<std::string>& max_tokens);
  int64_t rows() const { return rows_; }
  // window.NL_INDEX = {tokens: [...], rows: [[site, layer, neuron, max, density, [token...]]]}.
  std::string data_js() const;

 private:
  int64_t rows_ = 0;
  PageText rows_js_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> token_ids_;
};

// index.html: the run's summary, the search box and the (script-filled) table, and a <noscript>
// list of every layer's first page.
std::string site_index_html(const ExamplesFile& file, const std::string& results_path,
                            const std::vector<std::string>& site_dirs);

// assets/site.js: window.NL_SITES (every site's name, folder, layers and width) and the code.
std::string site_js(const std::vector<ExamplesSite>& sites,
                    const std::vector<std::string>& site_dirs);

// assets/site.css.
std::string site_css();

}  // namespace neurolens::runner
