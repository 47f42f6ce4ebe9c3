// gemm_f32 — the fp32 GEMM of the forward pass (weight layers and attention tiles).
// Owns: y = alpha * x * B (+ y), x row-major, B either [K, N] row-major ("Conv1D" layout) or
// [N, K] row-major (transposed: nn.Linear weights, attention keys). On CPUs with AVX-512F it is
// our own kernel: B packed per call into 32-column panels of a K block (or once, for several
// calls: gemm_f32_pack_rhs / gemm_f32_packed), x into 12-row slivers (read in place when there
// are at most two panels), a 12 x 32 register-blocked FMA microkernel (GotoBLAS loop order), all
// in caller scratch; it uses the full 512-bit width that an OpenBLAS pinned to an AVX2 core type
// leaves idle. Elsewhere it calls cblas_sgemm. Results match sgemm to fp32 rounding (summation
// order differs); a row's result never depends on the other rows.
// Legend: N rows of x and y (B*T), K = inner size, M = columns of y.
// Example:
//   std::vector<float> scratch(gemm_f32_scratch_size({n, f, d}));
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

// Most inner size (rows of B) of a right-hand side packed once with gemm_f32_pack_rhs.
inline constexpr int kGemmPackedMaxInner = 384;

// True when gemm_f32_pack_rhs / gemm_f32_packed run for this inner size (AVX-512F CPU and
// inner <= kGemmPackedMaxInner); otherwise use gemm_f32.
bool gemm_f32_packed_supported(int inner);

// Floats of B[inner, cols] packed in panels of 32 columns (the last panel zero padded), plus
// slack: the packed matrix starts at the span's first 64-byte boundary.
std::size_t gemm_f32_packed_rhs_size(int inner, int cols);

// Packs B[inner, cols] once for several gemm_f32_packed calls (attention: one head's keys,
// reused by every query tile). dst: at least gemm_f32_packed_rhs_size floats, any alignment;
// pass the same span to gemm_f32_packed.
// Throws neurolens::Error unless gemm_f32_packed_supported(inner), or on bad sizes.
void gemm_f32_pack_rhs(int inner, int cols, GemmRhs b, std::span<float> dst);

// y[rows, cols] = alpha * x[rows, inner] * B[:, col0 : col0 + cols] (+ y), B packed by
// gemm_f32_pack_rhs(inner, packed_cols, ...); col0 a multiple of 32, col0 + cols <= packed_cols;
// scratch as for gemm_f32 of the same shape. Same results as gemm_f32 on the unpacked B.
void gemm_f32_packed(GemmShape shape, const float* x, int ldx, std::span<const float> packed,
                     int packed_cols, int col0, float* y, int ldy, std::span<float> scratch,
                     float alpha = 1.0f, bool accumulate = false);

// The same product always through cblas_sgemm (the reference the kernel is tested against).
void gemm_f32_blas(GemmShape shape, const float* x, int ldx, GemmRhs b, float* y, int ldy,
                   float alpha = 1.0f, bool accumulate = false);

}  // namespace neurolens::model
