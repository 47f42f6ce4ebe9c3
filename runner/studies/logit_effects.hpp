// Logit effects — the direct effect of MLP neurons on the logits, as Neuroscope and Neuronpedia
// show it: a neuron's output weights (its row of GPT-2 c_proj, column of down_proj /
// dense_4h_to_h) projected through the unembedding, W_U w_out (no final norm), and the tokens it
// raises and lowers most. Pure compute: GEMMs of up to 96 neurons against W_U [V, D].
// Legend: D d_model, V vocabulary, n tokens kept per side.
// Example:
//   LogitEffects e = mlp_logit_effects(model, site, {0, 3072}, 50257, 10);
//   e.top_token[j * 10 + 0]   // the token neuron j raises most
#pragma once

#include <cstdint>
#include <vector>

#include "model/load/checkpoint.hpp"
#include "runner/parallel/sharding.hpp"
#include "runner/results/sites.hpp"

namespace neurolens::runner {

struct LogitEffects {
  // [neurons, n] each, best first: top by larger value, bottom by smaller value, ties the smaller
  // token id; -1 / NaN padded (also for a model without MLP output weights).
  std::vector<int32_t> top_token, bottom_token;
  std::vector<float> top_value, bottom_value;
};

// The output vectors [b - a, D] of MLP neurons [a, b) of model layer `layer` (empty when the
// block has no "proj" / "down" weights).
std::vector<float> mlp_output_vectors(const model::Model& model, int layer, int64_t a, int64_t b);

// For the flat neurons `slice` of `site` (layer-major over site.layers): the top and bottom `n`
// tokens of W_U w_out over token ids [0, vocab).
LogitEffects mlp_logit_effects(const model::Model& model, const SiteSpace& site, Block slice,
                               size_t vocab, size_t n);

}  // namespace neurolens::runner
