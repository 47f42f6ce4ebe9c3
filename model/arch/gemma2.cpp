// Gemma 2 (model_type "gemma2"): Gemma's config.json fields and block (head_dim default 256,
// embedding * sqrt(hidden_size), RMSNorm as (1 + w), GeGLU with hidden_activation, default
// gelu_pytorch_tanh; tied embeddings) plus
//   - sandwich norms: input_layernorm -> attention -> post_attention_layernorm -> residual add;
//     pre_feedforward_layernorm -> MLP -> post_feedforward_layernorm -> residual add
//     (hook_attn_out / hook_mlp_out after the post norms, as TransformerLens hooks them);
//   - query_pre_attn_scalar (default 256): scores scaled by query_pre_attn_scalar^-1/2;
//   - attn_logit_softcapping (default 50, null = none): scores = tanh(scores / cap) * cap after
//     the scaling, before the mask;
//   - sliding_window (default 4096) on alternating layers: layer_types ("sliding_attention" /
//     "full_attention") when config.json lists them, else HF's rule: even layers (0, 2, ...)
//     slide (Gemma2Attention: sliding when not layer_idx % 2), keys > query - sliding_window.
// final_logit_softcapping only changes the logits, which neurolens does not compute.
#include <cmath>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/arch/llama_block.hpp"

namespace neurolens::model {
namespace {

class Gemma2Architecture : public LlamaBlockArchitecture {
 public:
  Gemma2Architecture() : LlamaBlockArchitecture({.norm_offset = 1.0f, .sandwich_norms = true}) {}
  const char* model_type() const override { return "gemma2"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    parse_common(r, c, /*tie_default=*/true, /*default_head_dim=*/256);
    c.activation = gated_activation_name(r, "hidden_activation", "gelu_pytorch_tanh");
    c.qkv_bias = c.out_bias = r.boolean("attention_bias", false);
    c.embedding_scale = static_cast<float>(std::sqrt(static_cast<double>(c.d_model)));
    const double scalar =
        r.number("query_pre_attn_scalar", 256.0, "the attention score divisor squared (256)");
    if (!(scalar > 0.0)) {
      throw Error(r.ctx("query_pre_attn_scalar"), std::to_string(scalar) + " is not positive",
                  "set query_pre_attn_scalar to e.g. 256 (scores are scaled by its ^-1/2)");
    }
    c.attention_scale = static_cast<float>(std::pow(scalar, -0.5));
    const double cap = r.present("attn_logit_softcapping") && !r.has("attn_logit_softcapping")
                           ? 0.0
                           : r.number("attn_logit_softcapping", 50.0, "the score cap (50) or null");
    if (cap < 0.0) {
      throw Error(r.ctx("attn_logit_softcapping"), std::to_string(cap) + " is negative",
                  "set attn_logit_softcapping to a positive cap (50) or null");
    }
    c.attention_softcap = static_cast<float>(cap);
    c.window_size = r.has("sliding_window")
                        ? r.positive_int("sliding_window", "the local attention window (4096)")
                        : 4096;
    for (int l = 0; l < c.n_layers; ++l) {
      c.attention_kinds[static_cast<std::size_t>(l)] =
          l % 2 == 0 ? AttentionKind::Local : AttentionKind::Global;
    }
    if (r.has("layer_types")) {
      const nlohmann::json& types = r.at("layer_types");
      const std::string hint = "list \"sliding_attention\" or \"full_attention\" per layer";
      if (!types.is_array() || types.size() != static_cast<std::size_t>(c.n_layers)) {
        throw Error(
            r.ctx("layer_types"),
            "is not a list of num_hidden_layers (" + std::to_string(c.n_layers) + ") layer types",
            hint);
      }
      for (std::size_t l = 0; l < types.size(); ++l) {
        const std::string t = types[l].is_string() ? types[l].get<std::string>() : "";
        if (t == "sliding_attention") {
          c.attention_kinds[l] = AttentionKind::Local;
        } else if (t == "full_attention") {
          c.attention_kinds[l] = AttentionKind::Global;
        } else {
          throw Error(r.ctx("layer_types[" + std::to_string(l) + "]"),
                      types[l].dump() + " is not a layer type", hint);
        }
      }
    }
  }
};

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(gemma2, Gemma2Architecture)
