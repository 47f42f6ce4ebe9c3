// Heatmap — per-token activations of a few chosen neurons on a piece of text, for the text
// heatmaps of the paired and logistic studies (tokens coloured by a neuron's activation).
// Owns: reading the heatmap text (a file read as a corpus: plain text, JSON Lines or Brown, the
// documents in order, cut into sequences of at most the model's positions, each run as its own
// sequence from position 0), the forward pass over it (every rank computes the same values, so no
// communication), the /heatmap layout of the results file and a summary line per neuron.
// Results layout (R rows = neurons, n tokens):
//   /heatmap/token_id [n] i64, /heatmap/token_text [n] strings (the token's bytes of the text),
//   /heatmap/sequence [n] i64 (which sequence a token is in; the context restarts at each),
//   /heatmap/activation [R, n] f32, /heatmap/site [R] strings, /heatmap/layer [R] i64,
//   /heatmap/neuron [R] i64, /heatmap/role [R] strings ("max_t", "min_t", "top", ...),
//   /heatmap/statistic [R] f64 (the row's t or score); attributes source, rows ("max_t,min_t").
// Example:
//   HeatmapText text = read_heatmap_text("randomness.txt", tok, 1024, 2048, "paired.heatmap_text");
//   std::vector<HeatmapNeuron> rows = {{0, 2, 436, "max_t", 12.5}};
//   std::vector<float> acts = heatmap_activations(model, sites, rows, text);   // [R, n]
//   write_heatmap(out, sites, rows, text, acts);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/arch/forward.hpp"
#include "model/load/checkpoint.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/results/sites.hpp"
#include "runner/results/writer.hpp"

namespace neurolens::runner {

struct HeatmapText {
  std::string source;                           // file, or "batch 2" for held-out windows
  std::vector<std::vector<int32_t>> sequences;  // each at most n_positions tokens
  std::vector<std::string> pieces;              // [n] text of every token, in order
  size_t n_tokens() const { return pieces.size(); }
};

struct HeatmapNeuron {
  size_t site = 0;         // index into the run's sites
  size_t layer_index = 0;  // index into sites[site].layers
  int neuron = 0;          // within the layer
  std::string role;        // "max_t", "min_t", "top", ...
  double statistic = 0;    // the value it was chosen by
};

// Reads `path` as a corpus (any format neurolens reads), tokenizes its documents in order and
// keeps the first `max_tokens` tokens, cut into sequences of at most `max_sequence` tokens.
// With a tokenizer that adds a BOS (document_bos), each document starts with it (piece "<s>").
// Throws neurolens::Error naming `key` when the file is missing, unreadable or has no tokens.
HeatmapText read_heatmap_text(const std::string& path, const model::Tokenizer& tokenizer,
                              int max_sequence, int64_t max_tokens, const std::string& key);

// Heatmap text from token sequences (e.g. held-out windows); pieces are the tokens' bytes
// (invalid UTF-8 replaced by U+FFFD).
HeatmapText heatmap_from_tokens(std::vector<std::vector<int32_t>> sequences,
                                const model::Tokenizer& tokenizer, const std::string& source);

// [R, n] activations of the rows' neurons at every token (pure: same result on every rank).
std::vector<float> heatmap_activations(const model::Model& model,
                                       const std::vector<SiteSpace>& sites,
                                       const std::vector<HeatmapNeuron>& rows,
                                       const HeatmapText& text,
                                       model::Precision precision = model::Precision::Fp32);

// Writes /heatmap (collective; every rank passes the same data).
void write_heatmap(ResultsWriter& out, const std::vector<SiteSpace>& sites,
                   const std::vector<HeatmapNeuron>& rows, const HeatmapText& text,
                   const std::vector<float>& activations);

// One line per row: the neuron and the tokens that activate it most, e.g.
// "heatmap max_t blocks.2.mlp.hook_pre #436: ' entropy' 9.1, ' information' 8.7, ...".
std::vector<std::string> heatmap_lines(const model::Model& model,
                                       const std::vector<SiteSpace>& sites,
                                       const std::vector<HeatmapNeuron>& rows,
                                       const HeatmapText& text,
                                       const std::vector<float>& activations, size_t top);

}  // namespace neurolens::runner
