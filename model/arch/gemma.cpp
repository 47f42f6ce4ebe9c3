// Gemma (model_type "gemma"): Llama's config.json fields and block with head_dim from config.json
// (default 256, not hidden_size / heads), the embedding multiplied by sqrt(hidden_size)
// (ModelConfig::embedding_scale; HF rounds it to the hidden dtype, fp32 here), RMSNorm as
// (1 + w), GeGLU, attention_bias (default false), tied embeddings (default true).
// The MLP activation: hidden_activation when set, else gelu_pytorch_tanh. HF 4.38-4.47 did
// exactly this and ignored hidden_act (the Gemma 1.0 configs say "gelu" but the model is
// trained with the tanh approximation; TransformerLens uses gelu_pytorch_tanh too). HF since
// late 2024 reads hidden_act instead, which only differs for those 1.0 configs.
#include <cmath>

#include "model/arch/llama_block.hpp"

namespace neurolens::model {
namespace {

class GemmaArchitecture : public LlamaBlockArchitecture {
 public:
  GemmaArchitecture() : LlamaBlockArchitecture({.norm_offset = 1.0f, .sandwich_norms = false}) {}
  const char* model_type() const override { return "gemma"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    parse_common(r, c, /*tie_default=*/true, /*default_head_dim=*/256);
    c.activation = gated_activation_name(r, "hidden_activation", "gelu_pytorch_tanh");
    c.qkv_bias = c.out_bias = r.boolean("attention_bias", false);
    c.embedding_scale = static_cast<float>(std::sqrt(static_cast<double>(c.d_model)));
  }
};

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(gemma, GemmaArchitecture)
