// Block steps — the pieces of run_block (and its sizes) that the GPT block, the Llama block and
// the GPT-NeoX block share, each computing exactly what the blocks computed inline.
// Owns: weight views as spans (bias_span, weight_vector), a layer's attention window, the
// separate q / k / v projections into one q | k | v row, attention of every head over q | k | v
// rows (grouped-query when Hkv < H), the rotary cos / sin tables cached in a workspace view
// across the blocks of a run, the MLP's input projection + activation with its hook_pre /
// hook_post captures (GPT-2 / GPT-NeoX), packing a block's linears for bf16, FLOPs by stage.
// Architectures: model/arch/gpt_block.cpp, model/arch/llama_block.cpp, model/arch/gpt_neox.cpp.
// Legend: N = B*T rows, D d_model, F d_mlp, H heads, Hkv key-value heads, dh head_dim.
// Example:
//   attention_heads(qkv, 3 * d, z, batch, t, h, h, dh, scale, window_of(cfg, l), scratch);
//   double f = staged_flops(last_slot, {{kAttnQ, 2.0 * n * 3 * d * d}, {kAttnZ, attn}});
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include "model/arch/architecture.hpp"
#include "model/ops/bias.hpp"

namespace neurolens::model {

// A Linear's bias [out], empty when it has none.
std::span<const float> bias_span(const Linear& w);
// d floats at p (a norm's gamma or beta).
std::span<const float> weight_vector(const float* p, int d);

// The attention window of `layer`: cfg.window_size for a local layer, 0 (global) otherwise.
int window_of(const ModelConfig& cfg, int layer);

// Without bf16 (where the caller has run the packed q | k | v GEMM already), q, k and v's own
// fp32 GEMMs of x[N, ldx] into qkv[N, ldq] at columns 0, q_width and q_width + kv_width; then
// each part's bias, where it has one.
void project_qkv_parts(BlockRun& run, const Linear& q, const Linear& k, const Linear& v,
                       const float* x, int ldx, float* qkv, int ldq, int q_width, int kv_width);

// z[N, H dh] = attention of every query head over rows qkv[N, ldq] holding q (H heads) | k
// (Hkv heads) | v (Hkv heads); query head h reads key-value head h / (H / Hkv). window and
// softcap as attention_head's; scratch: attention_scratch_size(seq_len, head_dim) floats.
void attention_heads(const float* qkv, int ldq, float* z, int batch, int seq_len, int n_heads,
                     int n_kv_heads, int head_dim, float scale, int window,
                     std::span<float> scratch, float softcap = 0.0f);

// Floats of the rotary workspace view: a stamp (the seq_len the tables were made for), then cos
// and sin [T, rotary_dim / 2] each.
std::size_t rope_workspace_size(int max_seq_len, int rotary_dim);
// The cos / sin tables of cfg.rotary_dim for seq_len positions in the view `rope`: computed by
// the first block of a run (which every run starts with) or when the stamp differs, reused by
// the later blocks.
std::pair<std::span<const float>, std::span<const float>> rope_tables(std::span<float> rope,
                                                                      const ModelConfig& cfg,
                                                                      int seq_len,
                                                                      bool first_block);

// The MLP's input projection and activation of a GPT-2 / GPT-NeoX block: pre[N, F] = x fc
// (GEMM `gemm`) + bias, emitted at pre_slot; post[N, F] = act(pre), emitted at post_slot.
// fc writes straight into a full capture of pre_slot when there is one; otherwise pre and post
// share `mlp` [N, F] (act in place). bias_act(pre, post, bias) adds the bias (when non-empty)
// and applies the activation (bias_gelu, bias_activation). Returns post's buffer, or nullptr
// when nothing after pre_slot is needed.
template <class BiasAct>
float* mlp_in_activation(BlockRun& run, int gemm, const Linear& fc, const float* x, int ldx,
                         float* mlp, int pre_slot, int post_slot, BiasAct&& bias_act) {
  const int f = run.config().d_mlp, nn = run.rows();
  const std::size_t n = static_cast<std::size_t>(nn);
  float* pre_buf = run.full_buffer(pre_slot);
  if (!pre_buf) pre_buf = mlp;
  run.linear(gemm, fc, x, ldx, pre_buf, f);
  const std::span<float> pre(pre_buf, n * f);
  const bool post_needed = run.needed(post_slot);
  float* post_buf = post_needed ? run.full_buffer(post_slot) : nullptr;
  if (!post_buf) post_buf = mlp;
  if (pre_buf == mlp && run.wanted(pre_slot)) {
    // Partial positions: pre must be copied out before the activation overwrites it in place.
    add_bias(pre, bias_span(fc), nn, f);
    run.emit(pre_slot, pre_buf, f);
    if (!post_needed) return nullptr;
    bias_act(pre, std::span<float>(post_buf, n * f), std::span<const float>());
  } else {
    if (!post_needed) {
      add_bias(pre, bias_span(fc), nn, f);
      run.emit(pre_slot, pre_buf, f, pre_buf);
      return nullptr;
    }
    bias_act(pre, std::span<float>(post_buf, n * f), bias_span(fc));
    run.emit(pre_slot, pre_buf, f, pre_buf);
  }
  run.emit(post_slot, post_buf, f, post_buf == mlp ? nullptr : post_buf);
  return post_buf;
}

// pack_block's matrices: linears q, k and v packed as one q | k | v matrix, then each of
// `rest` alone.
std::vector<PackedBf16Matrix> pack_qkv_and(const BlockWeights& b, int q, int k, int v,
                                           std::initializer_list<int> rest);
// Each of `linears` packed alone.
std::vector<PackedBf16Matrix> pack_linears(const BlockWeights& b,
                                           std::initializer_list<int> linears);

// GEMM FLOPs of attention over all heads of a batch (attention_head_flops per sequence and head).
double attention_flops(const ModelConfig& cfg, int batch, int seq_len, int window);
// The FLOPs of a block run until last_slot: the sum, in order, of the stages {slot, FLOPs} whose
// slot is at most last_slot (a stage counts once the block produces its slot).
double staged_flops(int last_slot, std::initializer_list<std::pair<int, double>> stages);

// y[N, D] = LayerNorm(x) with ln_f's gamma and beta (GPT-2, GPT-Neo, GPT-NeoX final_norm).
void final_layer_norm(const ModelWeights& w, const ModelConfig& cfg, std::span<const float> x,
                      std::span<float> y, int rows);

}  // namespace neurolens::model
