#include "model/synth/plant.hpp"
#include "model/synth/rng.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_set>

#include "io/error.hpp"
#include "model/arch/architecture.hpp"

namespace neurolens::model {
namespace plant_words {
// model/synth/plant_words.cpp (generated from the Brown corpus by
// tests/reference/make_plant_words.py).
extern const char* const kNouns;
extern const char* const kVerbs;
extern const char* const kCapitalizedFunctionWords;
}  // namespace plant_words

namespace fs = std::filesystem;
namespace {

const char* const kCtx = "plant";
const char* const kFormat = "neurolens-planted-1";

// Negation tokens: whole negative words (with and without a leading space, capitalized at
// sentence starts) and GPT-2's split contractions ("don't" -> " don" "'t"). " can" and " won" are
// not planted: they are also affirmative words.
const char* const kNegationWords[] = {
    " not",     " never",   " cannot",  " no",    " nothing", " nobody", " neither", " nor",
    " none",    " nowhere", " without", " Not",   " Never",   " No",     " Nothing", " Nobody",
    " Neither", " Nor",     " None",    "Not",    "No",       "Never",   "'t",       "n't",
    " didn",    " don",     " doesn",   " isn",   " wasn",    " couldn", " wouldn",  " shouldn",
    " aren",    " weren",   " hasn",    " haven", " hadn",    " ain",    " mustn",   " needn"};

using Rng = SeededRng;

std::vector<std::string> split_words(const char* text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

// The tensor `name` under any of the architecture's key prefixes.
NamedTensor& find_tensor(std::vector<NamedTensor>& tensors, const ModelArchitecture& arch,
                         const std::string& name) {
  const std::vector<std::string> prefixes = arch.key_prefixes();
  for (auto& t : tensors) {
    for (const std::string& prefix : prefixes) {
      if (t.name == prefix + name) return t;
    }
  }
  throw Error(std::string(kCtx) + ": tensor " + name, "not found",
              std::string("plant into the tensors of synth_tensors for this config (") +
                  arch.model_type() + ")");
}

std::string strip_space(const std::string& s) {
  return !s.empty() && s[0] == ' ' ? s.substr(1) : s;
}

bool is_capitalized_word(const std::string& w) {
  if (w.size() < 2 || w[0] < 'A' || w[0] > 'Z') return false;
  return std::all_of(w.begin() + 1, w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

}  // namespace

int planted_token_length(const std::string& token_bytes) {
  int n = 0;
  for (char c : strip_space(token_bytes)) {
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++n;
  }
  return n;
}

std::vector<PlantedNeuron> plant_concepts(std::vector<NamedTensor>& tensors,
                                          const ModelConfig& config, const Tokenizer& tok,
                                          const PlantOptions& o) {
  // The architecture names the tensors and their layout (Conv1D [in, out] or nn.Linear).
  const ModelArchitecture& arch = architecture_of(config);
  const std::string wte_name = arch.embedding_tensor();
  NamedTensor& wte = find_tensor(tensors, arch, wte_name);
  if (wte.shape.size() != 2) throw Error(std::string(kCtx) + ": " + wte_name, "is not 2-D");
  const int V = static_cast<int>(wte.shape[0]);
  const int D = static_cast<int>(wte.shape[1]);
  const int L = config.n_layers;
  const int F = config.d_mlp;
  const bool out_in = arch.mlp_tensor_names(0).out_in;

  const auto check_layer = [&](int layer, const char* option, int limit) {
    if (layer < 0 || layer >= limit) {
      throw Error(std::string(kCtx) + " " + option,
                  "layer " + std::to_string(layer) + " is outside the model's 0.." +
                      std::to_string(limit - 1),
                  "use a model with at least " + std::to_string(layer + 1) +
                      " layers (synth-model --layers), or plant into an earlier layer");
    }
  };
  check_layer(o.negation_layer, "negation_layer", L);
  check_layer(o.noun_verb_layer, "noun_verb_layer", L);
  check_layer(o.proper_noun_layer, "proper_noun_layer", L);
  check_layer(o.length_layer, "length_layer", L);
  check_layer(o.before_layer, "before_layer", L);
  check_layer(o.before_hidden_layer, "before_hidden_layer", L + 1);
  if (D < 5) {
    throw Error(std::string(kCtx) + ": d_model " + std::to_string(D),
                "is below the 5 residual dimensions the concepts need", "use --d-model >= 5");
  }
  if (F < 5) {
    throw Error(std::string(kCtx) + ": d_mlp " + std::to_string(F),
                "is below the 5 neurons the concepts may need in one layer", "use --d-mlp >= 5");
  }

  // Concept order: negation, noun_verb, proper_noun, token_length, before.
  const char* const names[5] = {"negation", "noun_verb", "proper_noun", "token_length", "before"};
  const int layers[5] = {o.negation_layer, o.noun_verb_layer, o.proper_noun_layer, o.length_layer,
                         o.before_layer};
  const double gains[5] = {o.negation_gain, o.noun_verb_gain, o.proper_noun_gain, o.length_gain,
                           o.before_gain};
  Rng rng(o.seed * 0x2545f4914f6cdd1dull + 0x706c616e74ull);  // "plant"
  int dims[5], neurons[5];
  std::set<int> used_dims;
  std::set<std::pair<int, int>> used_neurons;
  for (int c = 0; c < 5; ++c) {
    do dims[c] = rng.below(D);
    while (!used_dims.insert(dims[c]).second);
    do neurons[c] = rng.below(F);
    while (!used_neurons.insert({layers[c], neurons[c]}).second);
  }

  // Feature value per token and concept (0 = not carried).
  const int n_ids = std::min(V, tok.vocab_size());
  std::vector<std::string> text(static_cast<std::size_t>(n_ids));
  for (int id = 0; id < n_ids; ++id) text[static_cast<std::size_t>(id)] = tok.token_bytes(id);
  std::vector<std::vector<double>> value(5, std::vector<double>(static_cast<std::size_t>(n_ids)));
  int counts[5] = {0, 0, 0, 0, 0};
  const auto set = [&](int c, int id, double v) {
    auto& slot = value[static_cast<std::size_t>(c)][static_cast<std::size_t>(id)];
    if (slot == 0.0 && v != 0.0) ++counts[c];
    slot = v;
  };
  const auto id_of = [&](const std::string& s) -> int {
    const auto id = tok.token_id(s);
    return id && *id < n_ids ? *id : -1;
  };
  std::unordered_set<int> negation;
  for (const char* w : kNegationWords) {
    if (const int id = id_of(w); id >= 0) {
      set(0, id, 1.0);
      negation.insert(id);
    }
  }
  for (const auto& w : split_words(plant_words::kNouns)) {
    if (const int id = id_of(" " + w); id >= 0) set(1, id, 1.0);
  }
  for (const auto& w : split_words(plant_words::kVerbs)) {
    if (const int id = id_of(" " + w); id >= 0) set(1, id, -1.0);
  }
  std::unordered_set<std::string> function_words;
  for (const auto& w : split_words(plant_words::kCapitalizedFunctionWords))
    function_words.insert(w);
  const auto eot = tok.token_id("<|endoftext|>");
  double sum = 0.0, sum2 = 0.0;
  int n_len = 0;
  for (int id = 0; id < n_ids; ++id) {
    const std::string w = strip_space(text[static_cast<std::size_t>(id)]);
    if (is_capitalized_word(w) && !function_words.count(w) && !negation.count(id)) set(2, id, 1.0);
    if (eot && *eot == id) continue;
    const double len = planted_token_length(text[static_cast<std::size_t>(id)]);
    sum += len;
    sum2 += len * len;
    ++n_len;
  }
  const double mean_len = sum / n_len;
  const double sd_len = std::sqrt(std::max(sum2 / n_len - mean_len * mean_len, 1e-12));
  for (int id = 0; id < n_ids; ++id) {
    if (eot && *eot == id) continue;
    const double z = (planted_token_length(text[static_cast<std::size_t>(id)]) - mean_len) / sd_len;
    set(3, id, std::clamp(z, -3.0, 3.0));
  }
  if (const int id = id_of(" before"); id >= 0) set(4, id, 1.0);
  for (int c = 0; c < 5; ++c) {
    if (counts[c] == 0) {
      throw Error(std::string(kCtx) + ": concept " + names[c],
                  "no token of the vocabulary (" + std::to_string(n_ids) + " tokens) carries it",
                  "plant into a model with the full GPT-2 vocabulary (--n-vocab 50257)");
    }
  }

  // The planted dimensions are private channels: no c_fc neuron of any block reads them except
  // the planted ones (their c_fc weights on them are zeroed), so no random neuron inherits a
  // planted concept. Everything else stays random.
  for (int l = 0; l < L; ++l) {
    NamedTensor& fc_w = find_tensor(tensors, arch, arch.mlp_tensor_names(l).in_weight);
    for (int c = 0; c < 5; ++c) {
      for (int k = 0; k < F; ++k) {
        const std::size_t d = static_cast<std::size_t>(dims[c]), j = static_cast<std::size_t>(k);
        fc_w.values[out_in ? j * static_cast<std::size_t>(D) + d
                           : d * static_cast<std::size_t>(F) + j] = 0.0f;
      }
    }
  }
  // GPT-NeoX and Llama: nothing else reads the planted dimensions either. Every projection that
  // reads the residual stream (attention q / k / v, fused or not, and the gated MLP's up rows) has
  // its weights on them zeroed. Without this, attention carries each concept's sign into every
  // position's stream and many random neurons come close to the planted one (measured on the
  // Llama demo model, paired study: runner-up |t| 40.3 against the planted neuron's 38.1).
  // GPT-NeoX (LayerNorm) also centres every such row and every dense_h_to_4h row over the other
  // dimensions: LayerNorm subtracts the mean, so a planted value v shifts every other dimension
  // by -v / D, which a row with a large sum reads as a scaled copy of the concept (measured on
  // the NeoX demo model, whose parallel MLP reads the embedding without attention or position
  // noise: a random layer-0 neuron at |t| 28.6 against the planted length neuron's 55.8). A
  // centred row reads nothing of a shift. GPT-2 and GPT-Neo stay as they were (their demo model
  // is unchanged).
  const std::string model_type = arch.model_type();
  if (out_in && (model_type == "llama" || model_type == "gpt_neox")) {
    const bool centre = model_type == "gpt_neox";
    const char* const readers[] = {"q_proj.weight",  "k_proj.weight",
                                   "v_proj.weight",  "query_key_value.weight",
                                   "up_proj.weight", "dense_h_to_4h.weight"};
    const std::string block = arch.block_tensor_prefix();
    std::vector<bool> planted_dim(static_cast<std::size_t>(D), false);
    for (int c = 0; c < 5; ++c) planted_dim[static_cast<std::size_t>(dims[c])] = true;
    for (auto& t : tensors) {
      if (t.name.find(block) == std::string::npos || t.shape.size() != 2 || t.shape[1] != D) {
        continue;
      }
      if (std::none_of(std::begin(readers), std::end(readers),
                       [&](const char* r) { return t.name.ends_with(r); })) {
        continue;
      }
      const std::size_t rows = static_cast<std::size_t>(t.shape[0]);
      const std::size_t Dz = static_cast<std::size_t>(D);
      for (std::size_t row = 0; row < rows; ++row) {
        float* w = t.values.data() + row * Dz;
        double row_sum = 0.0;
        for (std::size_t k = 0; k < Dz; ++k) {
          if (planted_dim[k]) w[k] = 0.0f;
          row_sum += w[k];
        }
        if (!centre) continue;
        const auto mean = static_cast<float>(row_sum / static_cast<double>(D - 5));
        for (std::size_t k = 0; k < Dz; ++k) {
          if (!planted_dim[k]) w[k] -= mean;
        }
      }
    }
  }
  // Write: wte[id, dim] += gain * value; the neuron's c_fc weight on dim = read_weight, bias
  // read_bias (one-sided concepts) or 0; its c_proj output row is zeroed (a pure reader: it
  // leaves the residual stream, and so the other planted dimensions, untouched).
  for (int c = 0; c < 5; ++c) {
    const auto& v = value[static_cast<std::size_t>(c)];
    for (int id = 0; id < n_ids; ++id) {
      if (v[static_cast<std::size_t>(id)] != 0.0) {
        wte.values[static_cast<std::size_t>(id) * D + dims[c]] +=
            static_cast<float>(gains[c] * v[static_cast<std::size_t>(id)]);
      }
    }
    const MlpTensorNames mlp = arch.mlp_tensor_names(layers[c]);
    NamedTensor& fc_w = find_tensor(tensors, arch, mlp.in_weight);
    NamedTensor& proj_w = find_tensor(tensors, arch, mlp.out_weight);
    const std::size_t j = static_cast<std::size_t>(neurons[c]),
                      d = static_cast<std::size_t>(dims[c]);
    const std::size_t Fz = static_cast<std::size_t>(F), Dz = static_cast<std::size_t>(D);
    fc_w.values[out_in ? j * Dz + d : d * Fz + j] = static_cast<float>(o.read_weight);
    // A gated MLP (Llama) has no bias on its gate: the studies compare hook_pre between groups
    // (t, logistic beta, ranks), which a constant shift leaves unchanged, so none is planted.
    if (!mlp.in_bias.empty()) {
      NamedTensor& fc_b = find_tensor(tensors, arch, mlp.in_bias);
      const bool two_sided = c == 1 || c == 3;
      fc_b.values[j] = two_sided ? 0.0f : static_cast<float>(o.read_bias);
    }
    for (std::size_t k = 0; k < Dz; ++k) proj_w.values[out_in ? k * Fz + j : j * Dz + k] = 0.0f;
  }

  const std::string descriptions[5] = {
      "negation tokens (not, never, cannot, no, nothing, nobody, neither, nor, none, nowhere, "
      "without, 't and the n't stems don/didn/doesn/isn/wasn/...): +gain",
      "Brown-corpus nouns (majority tag nn/nns): +gain; verbs (vb/vbd/vbg/vbn/vbz): -gain",
      "capitalized word tokens [A-Z][a-z]+ (leading space stripped), except capitalized "
      "function words and negations: +gain",
      "gain * z-scored character length (leading space not counted; z over the vocabulary, "
      "clipped to [-3, 3])",
      "the single token \" before\": +gain"};
  std::vector<PlantedNeuron> out;
  for (int c = 0; c < 5; ++c) {
    out.push_back({names[c], "mlp.hook_pre", layers[c], neurons[c], dims[c], gains[c],
                   descriptions[c], counts[c]});
  }
  out.push_back({"before", "hidden_states", o.before_hidden_layer, dims[4], dims[4], gains[4],
                 "residual dimension maximised by \" before\" (sampling study)", counts[4]});
  return out;
}

std::string planted_json(const std::vector<PlantedNeuron>& planted, const PlantOptions& options) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const auto& p : planted) {
    arr.push_back(
        {{"concept", p.concept_name},
         {"site", p.site},
         {"layer", p.layer},
         {"neuron", p.neuron},
         {"hook", p.site == "hidden_states" ? "hidden_states." + std::to_string(p.layer)
                                            : "blocks." + std::to_string(p.layer) + "." + p.site},
         {"residual_dim", p.residual_dim},
         {"gain", p.gain},
         {"description", p.description},
         {"n_tokens", p.n_tokens}});
  }
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["seed"] = options.seed;
  j["note"] = "neurons planted by neurolens synth-model --plant; see docs/demo_model.md";
  j["planted"] = arr;
  return j.dump(2) + "\n";
}

std::vector<PlantedNeuron> read_planted(const fs::path& model_dir) {
  const fs::path path = model_dir / "planted.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "cannot open", "check permissions");
  std::stringstream ss;
  ss << in.rdbuf();
  const char* const hint = "rewrite it with neurolens synth-model --plant, or remove it";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string(), std::string("invalid JSON: ") + e.what(), hint);
  }
  if (!j.is_object() || j.value("format", std::string()) != kFormat) {
    throw Error(path.string(), std::string("is not a \"") + kFormat + "\" object", hint);
  }
  if (!j.contains("planted") || !j["planted"].is_array()) {
    throw Error(path.string() + ": planted", "missing or not an array", hint);
  }
  std::vector<PlantedNeuron> out;
  for (std::size_t i = 0; i < j["planted"].size(); ++i) {
    const auto& e = j["planted"][i];
    const std::string where = path.string() + ": planted[" + std::to_string(i) + "]";
    if (!e.is_object()) throw Error(where, "is not an object", hint);
    const auto str = [&](const char* key) {
      if (!e.contains(key) || !e[key].is_string()) {
        throw Error(where + "." + key, "missing or not a string", hint);
      }
      return e[key].get<std::string>();
    };
    const auto integer = [&](const char* key) {
      if (!e.contains(key) || !e[key].is_number_integer() || e[key].get<std::int64_t>() < 0 ||
          e[key].get<std::int64_t>() > 1'000'000'000) {
        throw Error(where + "." + key, "missing or not a non-negative integer", hint);
      }
      return static_cast<int>(e[key].get<std::int64_t>());
    };
    PlantedNeuron p;
    p.concept_name = str("concept");
    p.site = str("site");
    if (p.site != "mlp.hook_pre" && p.site != "hidden_states") {
      throw Error(where + ".site", "\"" + p.site + "\" is not mlp.hook_pre or hidden_states", hint);
    }
    p.layer = integer("layer");
    p.neuron = integer("neuron");
    p.residual_dim = integer("residual_dim");
    if (!e.contains("gain") || !e["gain"].is_number()) {
      throw Error(where + ".gain", "missing or not a number", hint);
    }
    p.gain = e["gain"].get<double>();
    p.description = e.contains("description") && e["description"].is_string()
                        ? e["description"].get<std::string>()
                        : std::string();
    p.n_tokens = integer("n_tokens");
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace neurolens::model
