// ModelWeights — fp32 views of every tensor the forward pass reads, plus what keeps them alive.
// Owns: the layout-neutral description of a checkpoint's parameters. F32 tensors point straight
// into the read-only memory map (ranks on a node share the pages); F16/BF16 tensors are converted
// into owned fp32 buffers. GPT-2 stores Linear weights as Conv1D [in, out]; GPT-Neo as nn.Linear
// [out, in]; a Linear view records which, so the GEMMs read either without a copy.
// Example:
//   Model m = load_model("checkpoints/gpt2");          // model/load/checkpoint.hpp
//   const Linear& fc = m.weights.blocks[3].fc;          // y[N, F] = x[N, D] * W + b
#pragma once

#include <memory>
#include <vector>

#include "model/load/config.hpp"

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

struct LayerNormWeights {
  const float* gamma = nullptr;  // [D]
  const float* beta = nullptr;   // [D]
};

struct BlockWeights {
  LayerNormWeights ln_1;
  Linear q, k, v;    // [D] -> [D] each (heads concatenated)
  Linear attn_out;   // c_proj / out_proj: [D] -> [D]
  LayerNormWeights ln_2;
  Linear fc;         // c_fc: [D] -> [F]
  Linear proj;       // mlp c_proj: [F] -> [D]
};

struct ModelWeights {
  const float* wte = nullptr;  // [V, D]
  const float* wpe = nullptr;  // [n_positions, D]
  std::vector<BlockWeights> blocks;  // [L]
  LayerNormWeights ln_f;
};

}  // namespace neurolens::model
