// ForwardPass — the fp32 GPT-2 / GPT-Neo forward pass (no LM head) with hook capture.
// Owns: a workspace allocated once for [max_batch, max_seq_len] and reused by every run; the
// order of the computation; copying out exactly the requested hook points (and positions) and
// stopping after the last requested one. Whole-batch OpenBLAS sgemm (B*T rows per call), tiled
// causal / local attention, fused bias + gelu_new; c_fc writes straight into a
// blocks.L.mlp.hook_pre capture buffer when all positions are captured.
// Legend: B batch, T tokens, D d_model, F d_mlp, L layers; P captured positions per sequence.
// Example:
//   Model m = load_model(dir);
//   ForwardPass fwd(m, 16, 512);
//   std::vector<float> pre(16 * 512 * m.config.d_mlp);
//   CaptureRequest req{parse_hook_name("blocks.3.mlp.hook_pre", m.config), pre.data()};
//   fwd.run(tokens, 16, 512, std::span(&req, 1));        // pre: [B, T, F]; stops after block 3
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/checkpoint.hpp"
#include "model/hooks.hpp"

namespace neurolens::model {

struct CaptureRequest {
  HookPoint point;
  float* out = nullptr;  // [B, P, hook_width(point)], P = positions.empty() ? T : positions.size()
};

class ForwardPass {
 public:
  // The model must outlive the pass. Throws neurolens::Error on sizes the model cannot run.
  ForwardPass(const Model& model, int max_batch, int max_seq_len);

  // tokens: [B, T] row-major ids. positions: the positions copied out of every sequence, in the
  // order given (empty = all T). Runs blocks only as far as the last requested hook point.
  // Throws neurolens::Error on ids outside the vocabulary, T beyond the position table or the
  // workspace, positions outside [0, T), hook points outside the model, null outputs.
  void run(std::span<const int32_t> tokens, int batch, int seq_len,
           std::span<const CaptureRequest> captures, std::span<const int> positions = {});

  // GEMM FLOPs of a run through blocks 0..up_to_layer (all of each block), attention counted
  // as the sgemm tiles actually issued (for roofline reports).
  double gemm_flops(int batch, int seq_len, int up_to_layer) const;
  // GEMM FLOPs of a run capturing exactly these points (it may stop inside the last block).
  double gemm_flops(int batch, int seq_len, std::span<const HookPoint> points) const;

  const Model& model() const { return model_; }
  int max_batch() const { return max_batch_; }
  int max_seq_len() const { return max_seq_len_; }

 private:
  struct FreeDeleter {
    void operator()(float* p) const;
  };
  struct Plan;

  const Model& model_;
  int max_batch_;
  int max_seq_len_;
  bool fused_qkv_ = false;
  std::unique_ptr<float[], FreeDeleter> workspace_;
  // Views into workspace_ (sizes for max_batch * max_seq_len rows).
  float* resid_ = nullptr;    // [N, D]
  float* ln_ = nullptr;       // [N, D]
  float* qkv_ = nullptr;      // [N, 3D]  q | k | v, heads concatenated in each
  float* z_ = nullptr;        // [N, D]
  float* tmp_ = nullptr;      // [N, D]   attn_out / mlp_out
  float* mlp_ = nullptr;      // [N, F]
  float* scores_ = nullptr;   // [kAttentionBlock, T]
  std::size_t scores_size_ = 0;
};

}  // namespace neurolens::model
