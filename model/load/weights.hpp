// ModelWeights — fp32 views of every tensor the forward pass reads, plus what keeps them alive.
// Owns: the layout-neutral description of a checkpoint's parameters. F32 tensors point straight
// into the read-only memory map (ranks on a node share the pages); F16/BF16 tensors are converted
// into owned fp32 buffers. GPT-2 stores Linear weights as Conv1D [in, out]; GPT-Neo as nn.Linear
// [out, in]; a Linear view records which, so the GEMMs read either without a copy. A block's
// views are the architecture's own (model/arch/architecture.hpp, map_weights): named Linear and
// norm views in the order it adds them, read back by index in its block and by name elsewhere.
// Example:
//   Model m = load_model("checkpoints/gpt2");          // model/load/checkpoint.hpp
//   const Linear& fc = m.weights.blocks[3].linear("fc");   // y[N, F] = x[N, D] * W + b
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace neurolens::model {

// y[N, out] = x[N, in] * W + bias.
// out_in == false: W is row-major [in, out] with leading dimension ld (>= out)   (Conv1D)
// out_in == true:  W is row-major [out, in] with leading dimension ld (>= in)    (nn.Linear)
// A view into a fused matrix (GPT-2 c_attn [D, 3D] split into q, k, v) uses ld = 3D and an
// offset data pointer.
struct Linear {
  const float* weight = nullptr;
  const float* bias = nullptr;  // [out] or nullptr (GPT-Neo q/k/v have none)
  int in = 0;
  int out = 0;
  int ld = 0;
  bool out_in = false;
};

// LayerNorm (gamma, beta) or RMSNorm (gamma only, beta null) over the last dimension.
struct LayerNormWeights {
  const float* gamma = nullptr;  // [D]
  const float* beta = nullptr;   // [D] or nullptr
};

struct NamedLinear {
  std::string name;  // the architecture's role name: "q", "attn_out", "fc", ...
  Linear w;
};
struct NamedNorm {
  std::string name;  // "ln_1", "ln_2", ...
  LayerNormWeights w;
};

// One block's views, as its architecture's map_weights lays them out.
struct BlockWeights {
  std::vector<NamedLinear> linears;
  std::vector<NamedNorm> norms;

  // The view called `name`; throws neurolens::Error when the block has none.
  const Linear& linear(std::string_view name) const;
  const LayerNormWeights& norm(std::string_view name) const;
};

struct ModelWeights {
  const float* wte = nullptr;        // [V, D]
  const float* wpe = nullptr;        // [n_positions, D]
  std::vector<BlockWeights> blocks;  // [L]
  LayerNormWeights ln_f;             // the final norm
  // The unembedding [V, D] when it is not tied to wte (GPT-NeoX embed_out, untied lm_head),
  // else nullptr (wte is the unembedding).
  const float* unembed = nullptr;
};

}  // namespace neurolens::model
