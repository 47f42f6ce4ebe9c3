// ResultsReader — a `neurolens run` results file (docs/results.md) read back into plain structs,
// for `neurolens report` and `neurolens inspect`.
// Owns: the root attributes (job, model, ranks, tokens, timing, correction), every hook-site group
// (a root group holding `layer` and `neuron` datasets) with all its [L, W] per-neuron datasets as
// doubles, the study extras that exist in the file (length histograms, sampling top tokens and
// contexts, /heatmap, /out_of_sample, the attributes of every other root group: the study's own
// /<study> and any group it adds, read generically), the planted neurons of the model (planted.json
// beside the model's config.json, when the model directory named by the root attribute `model`
// still has one), and ranking the neurons. Every part is optional: what a study did not write is
// simply empty. Example:
//   Results r = read_results("negation.h5");
//   for (const NeuronRef& n : top_neurons(r, 10)) std::printf("%s\n", r.describe(n).c_str());
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/format.hpp"  // format_number
#include "model/synth/plant.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace neurolens::runner {

// Root attributes; absent strings are "", absent numbers NaN (or -1 for counts).
struct RunInfo {
  std::string study, test, model, model_type, job, job_file, version, created, correction;
  int64_t n_ranks = -1, tokens_processed = -1, corpus_tokens = -1, n_windows = -1, n_samples = -1,
          family_size = -1;
  double wall_time, time_load, time_plan, time_forward, time_reduce, time_write, alpha, threshold;
  std::vector<double> peak_rss_bytes;  // /run/peak_rss_bytes, per rank
};

// One hook site (/<site>): every per-neuron dataset of shape [L, W], flattened row-major.
struct SiteResults {
  std::string name;             // "mlp.hook_pre"
  std::vector<int64_t> layers;  // the `layer` scale: row i is layer layers[i]
  int64_t width = 0;
  std::map<std::string, std::vector<double>> columns;  // "t", "p", "significant", ...
  std::map<std::string, double> attributes;            // numeric group attributes (n_a, ...)

  // Length study: /<site>/histogram [L, groups, bins] and histogram_edges [L, bins + 1].
  std::vector<int64_t> histogram;
  std::vector<double> histogram_edges;
  int64_t histogram_groups = 0, histogram_bins = 0;
  std::vector<std::string> histogram_group_names;  // "longer", "shorter", "equal"

  // Sampling study: top_token / top_token_count [L, W, top_k], distinct_tokens [L, W],
  // context_text / context_value [L, W, n_contexts].
  int64_t top_k = 0, n_contexts = 0;
  std::vector<int32_t> top_token;
  std::vector<int64_t> top_count;
  std::vector<std::string> context_text;
  std::vector<double> context_value;

  int64_t neurons() const { return static_cast<int64_t>(layers.size()) * width; }
  bool has(const std::string& column) const { return columns.count(column) > 0; }
  // Value of a column at a flat neuron index; NaN when the column is absent.
  double value(const std::string& column, int64_t flat) const;
  int64_t layer_of(int64_t flat) const { return layers[static_cast<size_t>(flat / width)]; }
  int64_t neuron_of(int64_t flat) const { return flat % width; }
};

// /heatmap: R rows (neurons) x n tokens.
struct HeatmapRow {
  std::string site, role;
  int64_t layer = 0, neuron = 0;
  double statistic = 0;
};
struct Heatmap {
  std::string source;
  std::vector<std::string> tokens;  // [n] text of each token
  std::vector<int64_t> sequence;    // [n]
  std::vector<HeatmapRow> rows;     // [R]
  std::vector<float> activation;    // [R, n]
};

// /out_of_sample (logistic study): neurons chosen on batch 1, measured on batch 2.
struct OutOfSample {
  std::vector<std::string> site;
  std::vector<int64_t> layer, neuron;
  std::map<std::string, std::vector<double>> columns;  // auc, auc_p, accuracy, beta_batch1, ...
  std::vector<int64_t> label;                          // [N2]
  std::vector<float> activation;                       // [top, N2]
};

// A neuron of the file: site index and flat index into that site's [L, W].
struct NeuronRef {
  size_t site = 0;
  int64_t flat = 0;
};

// One attribute value as text (strings as they are, numbers formatted).
using AttributeList = std::vector<std::pair<std::string, std::string>>;

// A study group's 1-D datasets by name: strings as they are, numbers as doubles.
struct StudyData {
  std::map<std::string, std::vector<std::string>> strings;
  std::map<std::string, std::vector<double>> numbers;
  // The named dataset, or an empty one.
  const std::vector<std::string>& strings_of(const std::string& name) const;
  const std::vector<double>& numbers_of(const std::string& name) const;
};

struct Results {
  std::filesystem::path path;
  RunInfo run;
  std::vector<SiteResults> sites;
  std::optional<Heatmap> heatmap;
  std::optional<OutOfSample> out_of_sample;
  // Attributes of every study group present (root groups other than sites, /run, /samples,
  // /heatmap), by group name.
  std::map<std::string, AttributeList> study_attributes;
  // The 1-D datasets of the same study groups, by group: e.g.
  // study_data["contrast"].strings["word"], study_data["contrast"].numbers["count"]
  // (/contrast/word, /contrast/count).
  std::map<std::string, StudyData> study_data;
  std::vector<model::PlantedNeuron> planted;
  std::string planted_warning;  // why planted.json could not be read, if it could not
  std::shared_ptr<const model::Tokenizer> tokenizer;  // the model's, when its files are there

  // "t" (two-group, paired), "beta" (logistic) or "" (sampling: no test).
  std::string statistic() const;
  // The x of the volcano plot: "cohens_d", else "beta", else "t"; "" without a test.
  std::string effect() const;
  // The planted concept of a neuron, or "".
  std::string planted_at(const NeuronRef& n) const;
  // Printable token text (" before"), or "#id" without a tokenizer.
  std::string token_text(int32_t id) const;
};

// Reads a results file. Throws neurolens::Error naming the file when it is missing, is not HDF5,
// or is not a neurolens results file (no `study` attribute).
Results read_results(const std::filesystem::path& path);

// The most interesting neurons over all sites: with a test, by p ascending then |statistic|
// descending (NaN last); sampling, by the winning token's share of repetitions; examples
// (docs/examples.md), by max_activation descending (NaN last). At most n.
std::vector<NeuronRef> top_neurons(const Results& r, size_t n);

// Examples study: one of a neuron's best texts, the display tokens (examples_reader.hpp) of a top
// window around its max.
struct ExampleText {
  std::vector<std::string> tokens;  // at most `context` tokens either side of the max
  std::vector<float> activations;   // of `tokens` (NaN at special tokens)
  size_t marked = 0;      // index in `tokens` of the max token (of a character split over tokens:
                          // the token that shows it, the one with its last byte)
  float value = 0;        // the window's max
  int64_t document = -1;  // the window's document
  int64_t token = 0;      // the max token's offset in that document
};
struct ExampleNeuron {
  NeuronRef ref;
  std::vector<ExampleText> texts;  // best first
};
// The top_neurons(r, n) of an examples result (empty for other studies) with the texts of their
// first `texts` top windows. Reads the file again (ExamplesFile), one layer row per layer used.
std::vector<ExampleNeuron> top_example_neurons(const Results& r, size_t n, size_t texts = 3,
                                               size_t context = 8);

}  // namespace neurolens::runner
