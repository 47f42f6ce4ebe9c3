// ExamplesReader — an examples study's results file (docs/examples.md) read back layer by layer,
// for `neurolens site`, `neurolens export`, `report` and `inspect`.
// Owns: the /examples attributes and vocabulary (token bytes), per site and layer every neuron's
// windows (top, bottom, quantile reservoirs, random sample) with tokens and activations, summary
// statistics, histogram and logit effects; and the display text of a window's tokens, with a
// multi-byte UTF-8 character split over several tokens shown whole at the token that completes it.
// Reads serially (plain HDF5), one [W, ...] layer block per dataset at a time, so a site of
// 36,864 neurons streams without holding the whole file.
// Legend: L layers, W width, T seq_len.
// Example:
//   ExamplesFile f("examples.h5");
//   for (size_t s = 0; s < f.sites().size(); ++s)
//     for (size_t l = 0; l < f.sites()[s].layers.size(); ++l)
//       for (const NeuronExamples& n : f.read_layer(s, l)) use(n.top[0].value);
//   std::vector<std::string> text = f.display_tokens(n.top[0].tokens);
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neurolens::runner {

// One window of one neuron. Empty slots are not returned.
struct ExampleWindow {
  int64_t window = -1;             // global window id (corpus order)
  int64_t document = -1;           // document index in the corpus
  int64_t start = 0;               // first token's offset in the document
  float value = 0;                 // the neuron's max in the window (bottom: its min)
  int32_t position = 0;            // index of that token in the window
  std::vector<int32_t> tokens;     // [T] (trailing -1 dropped)
  std::vector<float> activations;  // [T] (NaN at special tokens)
};

struct LogitEffect {
  int32_t token = -1;
  float value = 0;
};

struct NeuronExamples {
  int64_t layer = 0;   // model layer (the site's `layer` scale)
  int64_t neuron = 0;  // index within the layer
  double mean = 0, variance = 0, skewness = 0, kurtosis = 0, frac_positive = 0;
  float max_activation = 0, min_activation = 0;
  std::vector<float> hist_edges;               // [bins + 1]
  std::vector<int64_t> hist_counts;            // [bins + 2] underflow, bins, overflow
  std::array<float, 5> quantile_boundaries{};  // levels 0, .5, .9, .99, .999
  std::array<int64_t, 5> quantile_count{};     // buckets 0..3 and the top bucket
  std::vector<ExampleWindow> top, bottom;      // best first
  std::array<std::vector<ExampleWindow>, 4>
      quantiles;                                     // buckets [0,.5) [.5,.9) [.9,.99) [.99,.999)
  std::vector<ExampleWindow> random;                 // the uniform sample (same windows for all)
  std::vector<LogitEffect> logit_top, logit_bottom;  // empty for non-MLP sites
};

struct ExamplesSite {
  std::string name;             // "mlp.hook_post"
  std::vector<int64_t> layers;  // model layer of each row
  int64_t width = 0;
};

struct ExamplesInfo {
  int64_t seq_len = 0, top_k = 0, bottom_k = 0, per_quantile = 0, random_sample = 0, bins = 0,
          logit_tokens = 0, pilot_windows = 0, n_windows = 0, n_tokens = 0, seed = 0;
  std::string model, model_type, tokenizer;  // root attributes
};

class ExamplesFile {
 public:
  // Throws neurolens::Error naming the file when it is not an examples results file.
  explicit ExamplesFile(const std::string& path);
  ~ExamplesFile();
  ExamplesFile(const ExamplesFile&) = delete;
  ExamplesFile& operator=(const ExamplesFile&) = delete;

  const ExamplesInfo& info() const;
  const std::vector<ExamplesSite>& sites() const;
  // Every neuron of row `layer_index` of site `site_index`, in neuron order.
  std::vector<NeuronExamples> read_layer(size_t site_index, size_t layer_index) const;

  int64_t vocab_size() const;
  // The raw bytes of a token id ("" for ids out of range).
  std::string_view token_bytes(int32_t id) const;
  bool is_special(int32_t id) const;
  // Display text of each token of a window (same length as `tokens`, -1 ids give ""): valid
  // UTF-8; a character whose bytes span several tokens is shown at the token holding its last
  // byte (the earlier tokens show ""), bytes that never form a character show as U+FFFD.
  std::vector<std::string> display_tokens(std::span<const int32_t> tokens) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace neurolens::runner
