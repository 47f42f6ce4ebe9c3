// Llama 2 and 3 (model_type "llama"): config.json hidden_size / num_hidden_layers /
// num_attention_heads / num_key_value_heads / intermediate_size / head_dim / rope_theta /
// rope_scaling (linear, llama3) / rms_norm_eps, hidden_act (silu), attention_bias (q, k, v and
// o biases), mlp_bias (gate, up, down biases), tie_word_embeddings (default false: untied
// lm_head.weight); the block is LlamaBlockArchitecture's (HF modeling_llama.py).
#include "model/arch/llama_block.hpp"

namespace neurolens::model {
namespace {

class LlamaArchitecture : public LlamaBlockArchitecture {
 public:
  LlamaArchitecture() : LlamaBlockArchitecture({}) {}
  const char* model_type() const override { return "llama"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    parse_common(r, c, /*tie_default=*/false);
    c.activation = gated_activation_name(r, "hidden_act", "silu");
    c.qkv_bias = c.out_bias = r.boolean("attention_bias", false);
    c.mlp_bias = r.boolean("mlp_bias", false);
  }
};

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(llama, LlamaArchitecture)
