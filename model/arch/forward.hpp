// ForwardPass — the forward pass (no LM head) of any registered architecture, with hook capture.
// Owns: a workspace allocated once for [max_batch, max_seq_len] and reused by every run (sized
// by the architecture); the embeddings, the loop over blocks (each run by its architecture,
// model/arch/architecture.hpp, run_block) and the final norm; copying out exactly the requested
// hook points (and positions), by slot of the architecture's site table, and stopping after the
// last requested one. Whole-batch fp32 GEMMs (model/ops/gemm_f32.hpp, B*T rows per call).
// Precision::Fp32 (default): everything fp32. Precision::Bf16 (AVX512_BF16 CPUs only): the
// weight GEMMs (the architecture's block_gemms: GPT-2 / GPT-Neo q/k/v, attn out, c_fc, mlp
// c_proj) round inputs and weights to bf16 and accumulate in fp32 (model/ops/gemm_bf16.hpp);
// attention, norms, softmax, activations, biases and embeddings stay fp32. Bf16 packs every
// block's weights once in the constructor into private memory, about half the fp32 weight bytes
// (packed_bytes()), on top of the shared model pages.
// Legend: B batch, T tokens, D d_model, F d_mlp, L layers; P captured positions per sequence.
// Example:
//   Model m = load_model(dir);
//   ForwardPass fwd(m, 16, 512);
//   std::vector<float> pre(16 * 512 * m.config.d_mlp);
//   CaptureRequest req{parse_hook_name("blocks.3.mlp.hook_pre", m.config), pre.data()};
//   fwd.run(tokens, 16, 512, std::span(&req, 1));        // pre: [B, T, F]; stops after block 3
//   ForwardPass fast(m, 16, 512, Precision::Bf16);         // throws without AVX512_BF16
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/arch/architecture.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"
#include "model/ops/gemm_bf16.hpp"

namespace neurolens::model {

// Arithmetic of the weight GEMMs (see the header comment).
enum class Precision { Fp32, Bf16 };

// "fp32" / "bf16".
const char* precision_name(Precision p);

struct CaptureRequest {
  HookPoint point;
  float* out = nullptr;  // [B, P, hook_width(point)], P = positions.empty() ? T : positions.size()
};

class ForwardPass {
 public:
  // The model must outlive the pass. Throws neurolens::Error on sizes the model cannot run, and
  // for Precision::Bf16 on a CPU without AVX512_BF16 (bf16_compute_supported()).
  ForwardPass(const Model& model, int max_batch, int max_seq_len,
              Precision precision = Precision::Fp32);

  // tokens: [B, T] row-major ids. positions: the positions copied out of every sequence, in the
  // order given (empty = all T). Runs blocks only as far as the last requested hook point.
  // Throws neurolens::Error on ids outside the vocabulary, T beyond the position table or the
  // workspace, positions outside [0, T), hook points outside the model, null outputs.
  void run(std::span<const int32_t> tokens, int batch, int seq_len,
           std::span<const CaptureRequest> captures, std::span<const int> positions = {});

  // GEMM FLOPs of a run through blocks 0..up_to_layer (all of each block), attention counted
  // as the GEMM tiles actually issued (for roofline reports).
  double gemm_flops(int batch, int seq_len, int up_to_layer) const;
  // GEMM FLOPs of a run capturing exactly these points (it may stop inside the last block).
  double gemm_flops(int batch, int seq_len, std::span<const HookPoint> points) const;

  const Model& model() const { return model_; }
  int max_batch() const { return max_batch_; }
  int max_seq_len() const { return max_seq_len_; }
  Precision precision() const { return precision_; }
  // Bytes of the bf16 packed weights this pass owns (0 for Fp32).
  std::size_t packed_bytes() const;
  // Without constructing a pass (e.g. for --dry-run estimates): the packed_bytes() and the
  // private bytes (workspace, GEMM scratch and packed weights) a pass of this size allocates.
  static std::size_t packed_bytes_for(const ModelConfig& cfg, Precision precision);
  static std::size_t private_bytes_for(const ModelConfig& cfg, int max_batch, int max_seq_len,
                                       Precision precision);

 private:
  struct FreeDeleter {
    void operator()(float* p) const;
  };
  struct Plan;
  class Block;

  const Model& model_;
  const ModelArchitecture& arch_;
  int max_batch_;
  int max_seq_len_;
  Precision precision_;
  std::vector<std::vector<PackedBf16Matrix>> packed_;  // [L][block_gemms], Bf16 only
  std::vector<std::uint16_t> bf16_scratch_;            // gemm_bf16 scratch, Bf16 only
  std::vector<float> gemm_scratch_;  // gemm_f32 scratch of the weight layers, Fp32 only
  std::unique_ptr<float[], FreeDeleter> workspace_;
  // Views into workspace_ (sizes for max_batch * max_seq_len rows): the residual stream [N, D],
  // then the architecture's workspace_sizes views (the first, [N, D] at least, also takes the
  // final norm).
  float* resid_ = nullptr;
  std::vector<std::span<float>> views_;
};

}  // namespace neurolens::model
