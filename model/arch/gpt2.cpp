// GPT-2 (model_type "gpt2"): config.json n_embd / n_layer / n_head / n_positions / n_inner,
// Conv1D [in, out] weights with q, k, v fused in attn.c_attn [D, 3D], keys with or without the
// "transformer." prefix; the block is GptBlockArchitecture's (scores scaled by 1/sqrt(dh), all
// attention global).
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/arch/gpt_block.hpp"

namespace neurolens::model {
namespace {

class Gpt2Architecture : public GptBlockArchitecture {
 public:
  const char* model_type() const override { return "gpt2"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    c.d_model = r.positive_int("n_embd", "the hidden size (768 for gpt2)");
    c.n_layers = r.layer_count("n_layer", "the number of blocks (12 for gpt2)");
    c.n_heads = r.positive_int("n_head", "the number of attention heads (12 for gpt2)");
    c.n_kv_heads = c.n_heads;
    if (r.has("n_positions")) {
      c.n_positions = r.positive_int("n_positions", "the context length (1024 for gpt2)");
    } else {
      c.n_positions = r.positive_int("n_ctx", "the context length (1024 for gpt2)");
    }
    c.n_vocab = r.positive_int("vocab_size", "the vocabulary size (50257 for gpt2)");
    c.d_mlp = r.has("n_inner") ? r.positive_int("n_inner", "the MLP width, or null for 4 * n_embd")
                               : r.four_times("n_embd", c.d_model);
    c.layer_norm_eps = r.epsilon("layer_norm_epsilon");
    c.activation = r.activation("activation_function");
    c.attention_kinds.assign(static_cast<std::size_t>(c.n_layers), AttentionKind::Global);
    c.window_size = 0;
    c.scale_attention_scores = true;
    r.check_heads_divide("n_head", c.n_heads, "n_embd", c.d_model);
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
    w.wte = t.get("wte.weight", {cfg.n_vocab, d}, "[vocab_size, n_embd]");
    w.wpe = t.get("wpe.weight", {cfg.n_positions, d}, "[n_positions, n_embd]");
    for (int l = 0; l < cfg.n_layers; ++l) {
      const std::string b = "h." + std::to_string(l) + ".";
      const LayerNormWeights ln_1 = norm(b + "ln_1");
      const float* qkv = t.get(b + "attn.c_attn.weight", {d, 3 * d}, "[n_embd, 3 * n_embd]");
      const float* qkv_b = t.get(b + "attn.c_attn.bias", {3 * d}, "[3 * n_embd]");
      const Linear attn_out{t.get(b + "attn.c_proj.weight", {d, d}, "[n_embd, n_embd]"),
                            t.get(b + "attn.c_proj.bias", {d}, "[n_embd]"),
                            D,
                            D,
                            D,
                            false};
      const LayerNormWeights ln_2 = norm(b + "ln_2");
      const Linear fc{t.get(b + "mlp.c_fc.weight", {d, f}, "[n_embd, n_inner]"),
                      t.get(b + "mlp.c_fc.bias", {f}, "[n_inner]"),
                      D,
                      F,
                      F,
                      false};
      const Linear proj{t.get(b + "mlp.c_proj.weight", {f, d}, "[n_inner, n_embd]"),
                        t.get(b + "mlp.c_proj.bias", {d}, "[n_embd]"),
                        F,
                        D,
                        D,
                        false};
      const Linear views[] = {{qkv, qkv_b, D, D, 3 * D, false},
                              {qkv + D, qkv_b + D, D, D, 3 * D, false},
                              {qkv + 2 * D, qkv_b + 2 * D, D, D, 3 * D, false},
                              attn_out,
                              fc,
                              proj};
      w.blocks.push_back(block_weights(views, ln_1, ln_2));
    }
    w.ln_f = norm("ln_f");
    return w;
  }

  MlpTensorNames mlp_tensor_names(int layer) const override {
    const std::string b = "h." + std::to_string(layer) + ".mlp.";
    return {b + "c_fc.weight", b + "c_fc.bias", b + "c_proj.weight", false};
  }
};

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(gpt2, Gpt2Architecture)
