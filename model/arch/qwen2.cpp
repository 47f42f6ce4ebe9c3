// Qwen2 (model_type "qwen2"): Llama's config.json fields and block with q, k and v biases (o_proj
// and the MLP have none), rms_norm_eps (1e-6 in the released models), tie_word_embeddings
// (default false; true in the small models). use_sliding_window is refused when true: every
// released Qwen2 / Qwen2.5 model sets it false, and HF's meaning of max_window_layers has
// changed between versions (which layers slide; the eager path long ignored the window), so no
// single behaviour could be matched exactly.
#include "io/error.hpp"
#include "model/arch/llama_block.hpp"

namespace neurolens::model {
namespace {

class Qwen2Architecture : public LlamaBlockArchitecture {
 public:
  Qwen2Architecture() : LlamaBlockArchitecture({}) {}
  const char* model_type() const override { return "qwen2"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    parse_common(r, c, /*tie_default=*/false);
    c.activation = gated_activation_name(r, "hidden_act", "silu");
    c.qkv_bias = true;
    if (r.boolean("use_sliding_window", false)) {
      throw Error(r.ctx("use_sliding_window"),
                  "sliding-window Qwen2 attention (max_window_layers) is not implemented",
                  "use a checkpoint with use_sliding_window false (every released Qwen2)");
    }
  }
};

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(qwen2, Qwen2Architecture)
