// GptBlockArchitecture — the block GPT-2 and GPT-Neo share: pre-LayerNorm, multi-head attention
// on q | k | v (causal, or local within a window), attention out projection, pre-LayerNorm,
// c_fc + gelu_new, c_proj, each added to the residual stream (sequential residual).
// Owns: that block's hook-site table, workspace, weight GEMMs, FLOPs and computation; the
// architectures built on it (model/arch/gpt2.cpp, model/arch/gpt_neo.cpp) add their config.json
// fields and tensor names. Their BlockWeights hold the views in GptLinear / GptNorm order.
// Legend: N = B*T rows, D d_model, F d_mlp, H heads, dh head_dim.
// Example:
//   class Gpt2Architecture : public GptBlockArchitecture { ... map_weights, parse_config ... };
//   b.linears[GptLinear::kFc].w   // c_fc: [D] -> [F]
#pragma once

#include <span>

#include "model/arch/architecture.hpp"

namespace neurolens::model {

// BlockWeights::linears order of GPT-2 / GPT-Neo blocks.
struct GptLinear {
  static constexpr int kQ = 0, kK = 1, kV = 2;  // [D] -> [D] each (heads concatenated)
  static constexpr int kAttnOut = 3;            // [D] -> [D]
  static constexpr int kFc = 4;                 // [D] -> [F]
  static constexpr int kProj = 5;               // [F] -> [D]
  static constexpr const char* kNames[] = {"q", "k", "v", "attn_out", "fc", "proj"};
};
// BlockWeights::norms order.
struct GptNorm {
  static constexpr int kLn1 = 0, kLn2 = 1;
  static constexpr const char* kNames[] = {"ln_1", "ln_2"};
};

class GptBlockArchitecture : public ModelArchitecture {
 public:
  std::vector<std::string> key_prefixes() const override { return {"", "transformer."}; }
  std::string embedding_tensor() const override { return "wte.weight"; }
  std::string block_tensor_prefix() const override { return "h."; }
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
  // The LayerNorm at `key`: key.weight and key.bias, [D] each (d = d_model).
  static LayerNormWeights layer_norm_weights(TensorSource& t, const std::string& key,
                                             std::int64_t d);
  // A block's weights: `linears` in GptLinear order, ln_1 and ln_2, named as GptLinear /
  // GptNorm name them.
  static BlockWeights block_weights(const Linear (&linears)[6], const LayerNormWeights& ln_1,
                                    const LayerNormWeights& ln_2);
};

}  // namespace neurolens::model
