// gemm_bf16 — the optional bf16 GEMM of the forward pass's weight layers (AVX512_BF16 CPUs).
// Owns: the runtime check for AVX512_BF16; PackedBf16Matrix, an fp32 Linear weight (Conv1D
// [in, out] or nn.Linear [out, in]) rounded once to bf16 (nearest, ties to even) and packed into
// 32-column panels of k-pairs for vdpbf16ps; gemm_bf16, y = bf16(x) * bf16(W) with fp32
// accumulation (x converted into caller scratch, 12 x 32 register-blocked microkernel, cache
// blocked). The kernels are compiled for avx512f/bw/vl/bf16 whatever the build targets and run
// only after the runtime check; elsewhere the API links and pack / gemm throw neurolens::Error.
// Packed weights are private memory: about half the bytes of the fp32 weights they come from.
// Legend: N rows (B*T), K = in, M = out; bf16 values are uint16_t bit patterns.
// Example:
//   if (bf16_compute_supported()) {
//     PackedBf16Matrix w(m.weights.blocks[0].fc);                    // [D] -> [F]
//     std::vector<uint16_t> scratch(gemm_bf16_scratch_size(w, n));
//     gemm_bf16(w, x, d, n, y, f, scratch);                          // y[N, F] = x[N, D] W
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "model/load/weights.hpp"

namespace neurolens::model {

// True when this CPU (and OS) runs AVX-512 F/BW/VL and AVX512_BF16 instructions.
bool bf16_compute_supported();

// Output columns per packed panel (two zmm registers of fp32 accumulators).
inline constexpr int kBf16PanelCols = 32;

// An [in, out] weight as bf16, packed once. Panel j holds columns [32 j, 32 j + 32); inside it,
// k-pair p (rows 2p, 2p + 1) is 64 values, column c at 2c (row 2p) and 2c + 1 (row 2p + 1).
// Odd `in` and a partial last panel are zero padded. Subnormal weights are kept here; the
// vdpbf16ps instruction treats them as zero.
class PackedBf16Matrix {
 public:
  PackedBf16Matrix() = default;
  // Throws neurolens::Error on an unsupported CPU or an inconsistent Linear view.
  explicit PackedBf16Matrix(const Linear& w);
  // The parts' outputs concatenated along `out` (e.g. GPT-Neo's q, k, v into one [D, 3D]
  // matrix); every part must have the same `in`, each may have either layout.
  explicit PackedBf16Matrix(std::span<const Linear> parts);

  bool empty() const { return size_ == 0; }
  int in() const { return in_; }
  int out() const { return out_; }
  int panels() const { return (out_ + kBf16PanelCols - 1) / kBf16PanelCols; }
  int pairs() const { return (in_ + 1) / 2; }  // k-pairs per panel
  std::size_t bytes() const { return size_ * sizeof(std::uint16_t); }
  // bytes() of a matrix packed from an [in, out] weight (panels padded), without packing it.
  static std::size_t bytes_for(int in, int out);
  // Panel j: pairs() * 64 values, 64-byte aligned.
  const std::uint16_t* panel(int j) const {
    return data_.get() + static_cast<std::size_t>(j) * pairs() * 2 * kBf16PanelCols;
  }

 private:
  struct FreeDeleter {
    void operator()(std::uint16_t* p) const;
  };
  std::unique_ptr<std::uint16_t[], FreeDeleter> data_;
  std::size_t size_ = 0;
  int in_ = 0;
  int out_ = 0;
};

// uint16_t elements of scratch one gemm_bf16(w, ..., rows, ...) call needs: one converted block
// of x (at most 96 rows x 1024 columns, about 192 KiB) plus alignment slack; the same for any
// rows >= 96.
std::size_t gemm_bf16_scratch_size(const PackedBf16Matrix& w, int rows);
// The same for a packed weight with `in` inputs (before packing it).
std::size_t gemm_bf16_scratch_size(int in, int rows);

// y[rows, out] = bf16(x)[rows, in] * W with fp32 accumulation; no bias (the caller adds it).
// x rows are ldx floats apart (ldx >= in), y rows ldy floats apart (ldy >= out); y is
// overwritten. x is rounded to bf16 (nearest, ties to even; subnormals become signed zero) into
// scratch. Throws neurolens::Error on an unsupported CPU, bad sizes or too little scratch.
void gemm_bf16(const PackedBf16Matrix& w, const float* x, int ldx, int rows, float* y, int ldy,
               std::span<std::uint16_t> scratch);

// y[i] = bf16(x[i]) exactly as gemm_bf16 rounds its input (the vcvtne2ps2bf16 instruction:
// nearest, ties to even, subnormal inputs to signed zero, NaN stays NaN). y.size() >= x.size().
// Throws neurolens::Error on an unsupported CPU.
void convert_to_bf16(std::span<const float> x, std::span<std::uint16_t> y);

}  // namespace neurolens::model
