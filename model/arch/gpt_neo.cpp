// GPT-Neo (model_type "gpt_neo"): config.json hidden_size / num_layers / num_heads /
// max_position_embeddings / intermediate_size / window_size and the per-layer attention kinds
// (attention_types, attention_layers); nn.Linear [out, in] weights, q / k / v without bias,
// keys under "transformer."; the block is GptBlockArchitecture's (scores not scaled, local
// layers attend within the window).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/arch/gpt_block.hpp"

namespace neurolens::model {
namespace {

using nlohmann::json;

AttentionKind parse_kind(const ConfigReader& r, const std::string& key, const json& v) {
  if (v.is_string() && v.get<std::string>() == "global") return AttentionKind::Global;
  if (v.is_string() && v.get<std::string>() == "local") return AttentionKind::Local;
  throw Error(r.ctx(key), v.dump() + " is not an attention kind", "use \"global\" or \"local\"");
}

class GptNeoArchitecture : public GptBlockArchitecture {
 public:
  const char* model_type() const override { return "gpt_neo"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    c.d_model = r.positive_int("hidden_size", "the hidden size (768 for gpt-neo-125M)");
    c.n_layers = r.layer_count("num_layers", "the number of blocks");
    c.n_heads = r.positive_int("num_heads", "the number of attention heads");
    c.n_kv_heads = c.n_heads;
    c.n_positions = r.positive_int("max_position_embeddings", "the context length (2048)");
    c.n_vocab = r.positive_int("vocab_size", "the vocabulary size (50257)");
    c.d_mlp =
        r.has("intermediate_size")
            ? r.positive_int("intermediate_size", "the MLP width, or null for 4 * hidden_size")
            : r.four_times("hidden_size", c.d_model);
    c.layer_norm_eps = r.epsilon("layer_norm_epsilon");
    c.activation = r.activation("activation_function");
    c.window_size =
        r.has("window_size") ? r.positive_int("window_size", "the local window (256)") : 256;
    c.scale_attention_scores = false;
    r.check_heads_divide("num_heads", c.n_heads, "hidden_size", c.d_model);
    c.attention_kinds = attention_kinds(r, c.n_layers);
  }

  // HF's attention-mask buffers and the tied lm_head.
  bool ignored_tensor(const std::string& name) const override {
    return name == "lm_head.weight" || name.ends_with(".attn.bias") ||
           name.ends_with(".attn.masked_bias") || name.ends_with(".attention.bias") ||
           name.ends_with(".attention.masked_bias");
  }

  ModelWeights map_weights(TensorSource& t, const ModelConfig& cfg) const override {
    const std::int64_t d = cfg.d_model, f = cfg.d_mlp;
    const int D = cfg.d_model, F = cfg.d_mlp;
    const auto norm = [&](const std::string& key) { return layer_norm_weights(t, key, d); };
    ModelWeights w;
    w.wte = t.get("wte.weight", {cfg.n_vocab, d}, "[vocab_size, hidden_size]");
    w.wpe = t.get("wpe.weight", {cfg.n_positions, d}, "[max_position_embeddings, hidden_size]");
    for (int l = 0; l < cfg.n_layers; ++l) {
      const std::string b = "h." + std::to_string(l) + ".";
      const std::string a = b + "attn.attention.";
      const LayerNormWeights ln_1 = norm(b + "ln_1");
      const Linear q{
          t.get(a + "q_proj.weight", {d, d}, "[hidden_size, hidden_size]"), nullptr, D, D, D, true};
      const Linear k{
          t.get(a + "k_proj.weight", {d, d}, "[hidden_size, hidden_size]"), nullptr, D, D, D, true};
      const Linear v{
          t.get(a + "v_proj.weight", {d, d}, "[hidden_size, hidden_size]"), nullptr, D, D, D, true};
      const Linear attn_out{t.get(a + "out_proj.weight", {d, d}, "[hidden_size, hidden_size]"),
                            t.get(a + "out_proj.bias", {d}, "[hidden_size]"),
                            D,
                            D,
                            D,
                            true};
      const LayerNormWeights ln_2 = norm(b + "ln_2");
      const Linear fc{t.get(b + "mlp.c_fc.weight", {f, d}, "[intermediate_size, hidden_size]"),
                      t.get(b + "mlp.c_fc.bias", {f}, "[intermediate_size]"),
                      D,
                      F,
                      D,
                      true};
      const Linear proj{t.get(b + "mlp.c_proj.weight", {d, f}, "[hidden_size, intermediate_size]"),
                        t.get(b + "mlp.c_proj.bias", {d}, "[hidden_size]"),
                        F,
                        D,
                        F,
                        true};
      const Linear views[] = {q, k, v, attn_out, fc, proj};
      w.blocks.push_back(block_weights(views, ln_1, ln_2));
    }
    w.ln_f = norm("ln_f");
    return w;
  }

  MlpTensorNames mlp_tensor_names(int layer) const override {
    const std::string b = "h." + std::to_string(layer) + ".mlp.";
    return {b + "c_fc.weight", b + "c_fc.bias", b + "c_proj.weight", true};
  }

 private:
  // One kind per layer from attention_types ([[kinds...], repeat], ...) and / or
  // attention_layers (the expansion), which must agree.
  static std::vector<AttentionKind> attention_kinds(const ConfigReader& r, int n_layers) {
    const std::string hint_types =
        "write attention_types as [[[\"global\", \"local\"], repeat], ...] covering num_layers";
    const auto layers_n = static_cast<std::size_t>(n_layers);
    std::vector<AttentionKind> kinds;
    if (r.has("attention_types")) {
      const json& types = r.at("attention_types");
      if (!types.is_array()) throw Error(r.ctx("attention_types"), "is not a list", hint_types);
      for (std::size_t i = 0; i < types.size(); ++i) {
        const std::string key = "attention_types[" + std::to_string(i) + "]";
        const json& entry = types[i];
        if (!entry.is_array() || entry.size() != 2 || !entry[0].is_array() || entry[0].empty() ||
            !entry[1].is_number_integer() || entry[1].get<std::int64_t>() < 0 ||
            entry[1].get<std::int64_t>() > 100000) {
          throw Error(r.ctx(key), entry.dump() + " is not [[kinds...], repeat]", hint_types);
        }
        std::vector<AttentionKind> pattern;
        for (const auto& k : entry[0]) pattern.push_back(parse_kind(r, key, k));
        for (std::int64_t rep = 0; rep < entry[1].get<std::int64_t>(); ++rep) {
          kinds.insert(kinds.end(), pattern.begin(), pattern.end());
          if (kinds.size() > layers_n) break;  // bounded: refused below
        }
        if (kinds.size() > layers_n) break;
      }
      if (kinds.size() != layers_n) {
        throw Error(r.ctx("attention_types"),
                    "expands to " +
                        (kinds.size() > layers_n ? std::string("more than ") : std::string()) +
                        std::to_string(std::min(kinds.size(), layers_n)) +
                        " layers but num_layers is " + std::to_string(n_layers),
                    hint_types);
      }
    }
    if (r.has("attention_layers")) {
      const json& layers = r.at("attention_layers");
      if (!layers.is_array()) {
        throw Error(r.ctx("attention_layers"), "is not a list", "list one kind per layer");
      }
      std::vector<AttentionKind> listed;
      for (const auto& k : layers) listed.push_back(parse_kind(r, "attention_layers", k));
      if (listed.size() != layers_n) {
        throw Error(r.ctx("attention_layers"),
                    "has " + std::to_string(listed.size()) + " entries but num_layers is " +
                        std::to_string(n_layers),
                    "list one kind per layer");
      }
      if (kinds.empty()) {
        kinds = listed;
      } else if (kinds != listed) {
        throw Error(r.ctx("attention_layers"), "disagrees with attention_types",
                    "make attention_layers the expansion of attention_types (or remove it)");
      }
    }
    if (kinds.empty()) throw Error(r.ctx("attention_types"), "missing", hint_types);
    return kinds;
  }
};

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(gpt_neo, GptNeoArchitecture)
