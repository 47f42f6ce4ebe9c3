// Mistral (model_type "mistral"): Llama's config.json fields and block (no biases, hidden_act
// silu, untied lm_head by default) plus sliding_window: when set, every layer attends within
// the window. HF's mask (masking_utils.sliding_window_overlay, and before it
// _prepare_4d_causal_attention_mask's tril(diagonal=-sliding_window)) keeps key > query -
// sliding_window: the query and the sliding_window - 1 keys before it, exactly
// attention_head's window. An absent sliding_window is MistralConfig's default, 4096; null
// means full causal attention.
#include "model/arch/llama_block.hpp"

namespace neurolens::model {
namespace {

class MistralArchitecture : public LlamaBlockArchitecture {
 public:
  MistralArchitecture() : LlamaBlockArchitecture({}) {}
  const char* model_type() const override { return "mistral"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    parse_common(r, c, /*tie_default=*/false);
    c.activation = gated_activation_name(r, "hidden_act", "silu");
    int window = 4096;  // MistralConfig's default when the key is absent
    if (r.has("sliding_window")) {
      window = r.positive_int("sliding_window", "the attention window, or null for none");
    } else if (r.present("sliding_window")) {
      window = 0;  // null: no window
    }
    if (window > 0) {
      c.window_size = window;
      c.attention_kinds.assign(static_cast<std::size_t>(c.n_layers), AttentionKind::Local);
    }
  }
};

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(mistral, MistralArchitecture)
