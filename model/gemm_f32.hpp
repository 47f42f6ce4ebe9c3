// gemm_f32 — the fp32 GEMM of the forward pass (weight layers and attention tiles).
// Owns: y = alpha * x * B (+ y), x row-major, B either [K, N] row-major ("Conv1D" layout) or
// [N, K] row-major (transposed: nn.Linear weights, attention keys). On CPUs with AVX-512F it is
// our own kernel: B packed per call into 32-column panels of a K block, x into 12-row slivers,
// a 12 x 32 register-blocked FMA microkernel (GotoBLAS loop order), all in caller scratch; it
// uses the full 512-bit width that an OpenBLAS pinned to an AVX2 core type leaves idle.
// Elsewhere it calls cblas_sgemm. Results match sgemm to fp32 rounding (summation order differs).
// Legend: N rows of x and y (B*T), K = inner size, M = columns of y.
// Example:
//   std::vector<float> scratch(gemm_f32_scratch_size(n, f, d));
//   gemm_f32({n, f, d}, x, d, {w_fc, f, false}, y, f, scratch);   // y[N, F] = x[N, D] W[D, F]
#pragma once

#include <cstddef>
#include <span>

namespace neurolens::model {

// True when this CPU (and OS) runs AVX-512F: gemm_f32 then uses its own kernel.
bool f32_avx512_supported();

// Sizes of one product: y[rows, cols] = x[rows, inner] * B[inner, cols].
struct GemmShape {
  int rows = 0;
  int cols = 0;
  int inner = 0;
};

// The right-hand matrix: element (k, c) is data[k * ld + c], or data[c * ld + k] when transposed.
struct GemmRhs {
  const float* data = nullptr;
  int ld = 0;
  bool transposed = false;
};

// Floats of scratch one gemm_f32 call of this shape needs: one packed K block of B (at most
// 384 x 4096) plus one packed block of x (at most 96 x 384), about 6.4 MB at most. It never
// shrinks when a size grows, so the size for the largest shape covers every smaller one.
std::size_t gemm_f32_scratch_size(GemmShape shape);

// y[rows, cols] = alpha * x[rows, inner] * B, added to y when accumulate is true. x rows are ldx
// floats apart, y rows ldy apart. Throws neurolens::Error on bad sizes or too little scratch.
void gemm_f32(GemmShape shape, const float* x, int ldx, GemmRhs b, float* y, int ldy,
              std::span<float> scratch, float alpha = 1.0f, bool accumulate = false);

// The same product always through cblas_sgemm (the reference the kernel is tested against).
void gemm_f32_blas(GemmShape shape, const float* x, int ldx, GemmRhs b, float* y, int ldy,
                   float alpha = 1.0f, bool accumulate = false);

}  // namespace neurolens::model
