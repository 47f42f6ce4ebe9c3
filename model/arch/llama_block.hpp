// LlamaBlockArchitecture — the block Llama, Mistral, Qwen2, Gemma and Gemma 2 share: RMSNorm,
// q / k / v projections (nn.Linear [out, in], optional biases), rotary embeddings on q and k in
// HF's rotate_half convention, causal (or sliding-window) grouped-query attention, o_proj, each
// added to the residual stream; RMSNorm, down(act(gate) * up) (SwiGLU / GeGLU), added to the
// residual stream. Gemma: RMSNorm as (1 + w); Gemma 2: sandwich norms (the attention and MLP
// outputs normalised again before the residual add) and attention logit soft-capping.
// Owns: that block's hook-site table, workspace, weight GEMMs (fp32 and packed bf16), FLOPs and
// computation; the HF tensor names under "model." (embed_tokens, layers.L.*, norm) and the
// untied lm_head.weight; the config.json fields every Llama-family model has. The model_type
// files (model/arch/llama.cpp, mistral.cpp, qwen2.cpp, gemma.cpp, gemma2.cpp) add their own
// fields and defaults. Their BlockWeights hold the views in LlamaLinear / LlamaNorm order.
// Legend: N = B*T rows, D d_model, F d_mlp, H heads, Hkv key-value heads, dh head_dim.
// Example:
//   class MistralArchitecture : public LlamaBlockArchitecture { ... parse_config ... };
//   b.linears[LlamaLinear::kGate].w   // gate_proj: [D] -> [F]
#pragma once

#include <span>

#include "model/arch/architecture.hpp"

namespace neurolens::model {

// BlockWeights::linears order of Llama-family blocks.
struct LlamaLinear {
  static constexpr int kQ = 0;              // [D] -> [H dh]
  static constexpr int kK = 1, kV = 2;      // [D] -> [Hkv dh]
  static constexpr int kAttnOut = 3;        // o_proj: [H dh] -> [D]
  static constexpr int kGate = 4, kUp = 5;  // [D] -> [F]
  static constexpr int kDown = 6;           // [F] -> [D]
  static constexpr const char* kNames[] = {"q", "k", "v", "attn_out", "gate", "up", "down"};
};
// BlockWeights::norms order: ln_1 = input_layernorm; ln_2 = the norm before the MLP (Llama's
// post_attention_layernorm, Gemma 2's pre_feedforward_layernorm); with sandwich norms also
// ln_1_post (Gemma 2's post_attention_layernorm, on the attention output) and ln_2_post
// (post_feedforward_layernorm, on the MLP output).
struct LlamaNorm {
  static constexpr int kLn1 = 0, kLn2 = 1, kLn1Post = 2, kLn2Post = 3;
  static constexpr const char* kNames[] = {"ln_1", "ln_2", "ln_1_post", "ln_2_post"};
};

// What differs between the model_types' blocks beyond their config.json values.
struct LlamaBlockOptions {
  float norm_offset = 0.0f;     // RMSNorm scales by (norm_offset + w): Gemma 1
  bool sandwich_norms = false;  // Gemma 2's four norms per block
};

class LlamaBlockArchitecture : public ModelArchitecture {
 public:
  explicit LlamaBlockArchitecture(LlamaBlockOptions options) : options_(options) {}

  // HF names the tensors in full ("model.layers.0.mlp.up_proj.weight", "lm_head.weight").
  std::vector<std::string> key_prefixes() const override { return {""}; }
  std::string embedding_tensor() const override { return "model.embed_tokens.weight"; }
  std::string block_tensor_prefix() const override { return "model.layers."; }
  ModelWeights map_weights(TensorSource& tensors, const ModelConfig& config) const override;
  // rotary_emb.inv_freq buffers; lm_head.weight when tie_word_embeddings (an untied one is read).
  bool ignored_tensor(const std::string& name) const override;
  MlpTensorNames mlp_tensor_names(int layer) const override;

  std::span<const BlockSite> block_sites(const ModelConfig& config) const override;
  std::vector<std::size_t> workspace_sizes(const ModelConfig& config, std::size_t rows,
                                           int max_seq_len) const override;
  std::vector<BlockGemm> block_gemms(const ModelConfig& config) const override;
  std::vector<PackedBf16Matrix> pack_block(const BlockWeights& block) const override;
  double block_flops(const ModelConfig& config, int layer, int batch, int seq_len,
                     int last_slot) const override;
  bool run_block(BlockRun& run, int layer) const override;
  void final_norm(const ModelWeights& weights, const ModelConfig& config, std::span<const float> x,
                  std::span<float> y, int rows) const override;

 protected:
  // The fields every Llama-family config.json has: hidden_size, num_hidden_layers,
  // num_attention_heads, num_key_value_heads (default: the heads; must divide them),
  // intermediate_size, head_dim (default hidden_size / heads, or `default_head_dim` > 0),
  // max_position_embeddings, vocab_size, rms_norm_eps (default 1e-6), rope_theta (default
  // 10000), rope_scaling (none / linear / llama3), tie_word_embeddings (default
  // `tie_default`). All layers global; no biases; no learned position embeddings.
  static void parse_common(const ConfigReader& r, ModelConfig& c, bool tie_default,
                           int default_head_dim = 0);
  // `key` names an implemented gated-MLP activation (silu, gelu, gelu_pytorch_tanh, ...), or
  // `fallback` when absent.
  static std::string gated_activation_name(const ConfigReader& r, const std::string& key,
                                           const std::string& fallback);

 private:
  LlamaBlockOptions options_;
};

}  // namespace neurolens::model
