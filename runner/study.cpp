#include "runner/study.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "io/error.hpp"

namespace neurolens::runner {

std::unique_ptr<Study> make_contrast_study();

std::unique_ptr<Study> make_study(StudyKind kind) {
  switch (kind) {
    case StudyKind::Contrast: return make_contrast_study();
    default: break;
  }
  throw Error("study", "'" + study_name(kind) + "' is not available in this build yet",
              "use study = contrast");
}

std::vector<int32_t> word_tokens(const model::Tokenizer& tokenizer, const std::string& word) {
  std::vector<int32_t> ids = tokenizer.encode(" " + word);
  if (ids.empty()) throw Error("word '" + word + "'", "has no tokens", "remove empty words");
  return ids;
}

std::vector<std::string> top_neuron_lines(const std::vector<SiteSpace>& sites,
                                          const std::vector<GroupStatistics::SiteSummary>& summaries,
                                          size_t top) {
  std::vector<std::string> lines;
  for (size_t s = 0; s < sites.size(); ++s) {
    const auto& sum = summaries[s];
    std::vector<size_t> order(sum.values.size());
    std::iota(order.begin(), order.end(), 0);
    auto key = [&](size_t k) { return std::isfinite(sum.values[k]) ? std::fabs(sum.values[k]) : -1.0; };
    const size_t n = std::min(top, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(n), order.end(),
                      [&](size_t a, size_t b) { return key(a) != key(b) ? key(a) > key(b) : a < b; });
    char line[256];
    std::snprintf(line, sizeof line, "%s: %lld of %zu neurons significant", sites[s].site.c_str(),
                  static_cast<long long>(sum.n_significant), sum.values.size());
    lines.push_back(line);
    for (size_t r = 0; r < n; ++r) {
      const size_t k = order[r];
      const int layer = sites[s].layers[k / static_cast<size_t>(sites[s].width)];
      const size_t neuron = k % static_cast<size_t>(sites[s].width);
      std::snprintf(line, sizeof line, "  #%zu layer %d neuron %zu: %s = %+.3f, p = %.3g%s", r + 1,
                    layer, neuron, sum.statistic.c_str(), sum.values[k], sum.p[k],
                    sum.significant[k] ? " (significant)" : "");
      lines.push_back(line);
    }
  }
  return lines;
}

}  // namespace neurolens::runner
