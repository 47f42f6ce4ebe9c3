#include "model/ops/gemm_f32.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "io/error.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NEUROLENS_F32_X86 1
#include <immintrin.h>
// Compiled for AVX-512F whatever -march says; called only after f32_avx512_supported().
#define NEUROLENS_F32_TARGET __attribute__((target("avx512f")))
#endif

namespace neurolens::model {
namespace {

constexpr int kMr = 12;  // rows per microkernel (12 x 2 zmm accumulators)
constexpr int kNr = 32;  // columns per microkernel / packed panel
// Measured on Zen 5 (one core, GPT-2 shapes): see bench/gemm_bench.cpp.
constexpr int kMc = 96;    // rows of x per packed block (96 x 384 floats = 144 KiB, in L2)
constexpr int kKc = 384;   // most k per block (a panel slice: 384 x 32 floats = 48 KiB)
constexpr int kNc = 4096;  // most columns of B per packed block (4 MiB, in L3)
static_assert(kMc % kMr == 0 && kNc % kNr == 0 && kKc == kGemmPackedMaxInner);
constexpr std::size_t kAlign = 16;  // floats (64 bytes)

std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

// K split into equal blocks of at most kKc.
int k_block(int k) {
  const int blocks = (k + kKc - 1) / kKc;
  return (k + blocks - 1) / blocks;
}

// Sizes use min(inner, kKc) >= k_block(inner), so they grow monotonically with the shape.
std::size_t b_pack_floats(GemmShape s) {
  return round_up(static_cast<std::size_t>(std::min(s.inner, kKc)) *
                      round_up(static_cast<std::size_t>(std::min(s.cols, kNc)), kNr),
                  kAlign);
}

#ifdef NEUROLENS_F32_X86

__mmask16 column_mask(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff)
         : n > 0 ? static_cast<__mmask16>((1u << n) - 1)
                 : static_cast<__mmask16>(0);
}

// dst: kc x kMr floats, value (row i, k p) at dst[p * kMr + i]; rows >= mr are left unwritten
// (the microkernel for mr rows never reads them).
void pack_x(const float* x, int ldx, int mr, int kc, float* dst) {
  for (int i = 0; i < mr; ++i) {
    const float* row = x + static_cast<std::size_t>(i) * ldx;
    float* d = dst + i;
    for (int p = 0; p < kc; ++p) d[static_cast<std::size_t>(p) * kMr] = row[p];
  }
}

// Packs B[k0:k0 + kc, c0:c0 + nc] into panels of kc x 32 floats (panel j at dst + j * kc * 32,
// row p at + p * 32); columns past nc are zero.
NEUROLENS_F32_TARGET void pack_b(GemmRhs b, int k0, int kc, int c0, int nc, float* dst) {
  const int panels = (nc + kNr - 1) / kNr;
  if (!b.transposed) {
    for (int j = 0; j < panels; ++j) {
      const int cols = std::min(kNr, nc - j * kNr);
      const __mmask16 m0 = column_mask(cols), m1 = column_mask(cols - 16);
      const float* src = b.data + static_cast<std::size_t>(k0) * b.ld + c0 + j * kNr;
      float* d = dst + static_cast<std::size_t>(j) * kc * kNr;
      for (int p = 0; p < kc; ++p) {
        const float* r = src + static_cast<std::size_t>(p) * b.ld;
        _mm512_store_ps(d + p * kNr, _mm512_maskz_loadu_ps(m0, r));
        _mm512_store_ps(d + p * kNr + 16, _mm512_maskz_loadu_ps(m1, r + 16));
      }
    }
    return;
  }
  // Transposed: column c of B is row c of data; 16 x 16 tiles go through a small buffer.
  alignas(64) float tile[16 * 16];
  for (int j = 0; j < panels; ++j) {
    float* d = dst + static_cast<std::size_t>(j) * kc * kNr;
    for (int half = 0; half < 2; ++half) {
      const int cbase = j * kNr + half * 16;
      const int cols = std::clamp(nc - cbase, 0, 16);
      for (int p0 = 0; p0 < kc; p0 += 16) {
        const int pn = std::min(16, kc - p0);
        const __mmask16 pm = column_mask(pn);
        for (int c = 0; c < 16; ++c) {
          const __m512 v =
              c < cols ? _mm512_maskz_loadu_ps(
                             pm, b.data + static_cast<std::size_t>(c0 + cbase + c) * b.ld + k0 + p0)
                       : _mm512_setzero_ps();
          _mm512_store_ps(tile + c * 16, v);
        }
        for (int p = 0; p < pn; ++p) {
          float* out = d + static_cast<std::size_t>(p0 + p) * kNr + half * 16;
          for (int c = 0; c < 16; ++c) out[c] = tile[c * 16 + p];
        }
      }
    }
  }
}

// c[MR, 32] = alpha * a[MR, kc] * b[kc, 32] (+ c); b one packed panel; a packed by pack_x
// (PackedA: value (i, p) at a[p * kMr + i]) or x itself (value (i, p) at a[i * lda + p]);
// m0 / m1 mask the valid columns of the two halves.
template <int MR, bool PackedA>
NEUROLENS_F32_TARGET void micro_kernel(int kc, const float* a, int lda, const float* b, float* c,
                                       int ldc, __mmask16 m0, __mmask16 m1, float alpha,
                                       bool accumulate) {
  // Fetch the C tile now so its lines arrive during the loop (see gemm_bf16.cpp).
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    const float* ci = c + static_cast<std::size_t>(i) * ldc;
    __builtin_prefetch(ci, 1, 3);
    __builtin_prefetch(ci + 16, 1, 3);
    __builtin_prefetch(ci + 31, 1, 3);
  }
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
    b += kNr;
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(PackedA ? a[i] : a[static_cast<std::size_t>(i) * lda]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += PackedA ? kMr : 1;
  }
  const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    float* ci = c + static_cast<std::size_t>(i) * ldc;
    if (accumulate) {
      c0[i] = _mm512_fmadd_ps(va, c0[i], _mm512_maskz_loadu_ps(m0, ci));
      c1[i] = _mm512_fmadd_ps(va, c1[i], _mm512_maskz_loadu_ps(m1, ci + 16));
    } else {
      c0[i] = _mm512_mul_ps(va, c0[i]);
      c1[i] = _mm512_mul_ps(va, c1[i]);
    }
    _mm512_mask_storeu_ps(ci, m0, c0[i]);
    _mm512_mask_storeu_ps(ci + 16, m1, c1[i]);
  }
}

using MicroKernel = void (*)(int, const float*, int, const float*, float*, int, __mmask16,
                             __mmask16, float, bool);
template <bool PackedA>
constexpr MicroKernel kKernels[kMr + 1] = {nullptr,
                                           micro_kernel<1, PackedA>,
                                           micro_kernel<2, PackedA>,
                                           micro_kernel<3, PackedA>,
                                           micro_kernel<4, PackedA>,
                                           micro_kernel<5, PackedA>,
                                           micro_kernel<6, PackedA>,
                                           micro_kernel<7, PackedA>,
                                           micro_kernel<8, PackedA>,
                                           micro_kernel<9, PackedA>,
                                           micro_kernel<10, PackedA>,
                                           micro_kernel<11, PackedA>,
                                           micro_kernel<12, PackedA>};

// y[rows, nc] (=|+=) alpha * x[rows, kc] * B, B one packed K block of nc columns (panels of
// kc x 32). Row blocks of kMc, column panels (the panel's k slice stays in L1 across the row
// block), microkernel rows. x is packed into 12-row slivers when there are more than two
// panels to reuse it; otherwise (P x V in attention: 1-2 panels) the microkernel reads x in
// place, since packing would cost about as much as the product.
NEUROLENS_F32_TARGET void multiply_block(int rows, int nc, int kc, const float* x, int ldx,
                                         const float* bpack, float* y, int ldy, float* xpack,
                                         float alpha, bool accumulate) {
  const int panels = (nc + kNr - 1) / kNr;
  const bool pack_a = panels > 2;
  for (int i0 = 0; i0 < rows; i0 += kMc) {
    const int mc = std::min(kMc, rows - i0);
    if (pack_a) {
      for (int ir = 0; ir < mc; ir += kMr) {
        pack_x(x + static_cast<std::size_t>(i0 + ir) * ldx, ldx, std::min(kMr, mc - ir), kc,
               xpack + static_cast<std::size_t>(ir / kMr) * kc * kMr);
      }
    }
    for (int jp = 0; jp < panels; ++jp) {
      const int cols = std::min(kNr, nc - jp * kNr);
      const __mmask16 m0 = column_mask(cols), m1 = column_mask(cols - 16);
      const float* bp = bpack + static_cast<std::size_t>(jp) * kc * kNr;
      for (int ir = 0; ir < mc; ir += kMr) {
        const int mr = std::min(kMr, mc - ir);
        float* c = y + static_cast<std::size_t>(i0 + ir) * ldy + jp * kNr;
        if (pack_a) {
          kKernels<true>[mr](kc, xpack + static_cast<std::size_t>(ir / kMr) * kc * kMr, kMr, bp, c,
                             ldy, m0, m1, alpha, accumulate);
        } else {
          kKernels<false>[mr](kc, x + static_cast<std::size_t>(i0 + ir) * ldx, ldx, bp, c, ldy, m0,
                              m1, alpha, accumulate);
        }
      }
    }
  }
}

// Loop order (GotoBLAS): column blocks of kNc, k blocks (B block packed once, in L3), then
// multiply_block (x block packed, in L2).
NEUROLENS_F32_TARGET void gemm_impl(GemmShape s, const float* x, int ldx, GemmRhs b, float* y,
                                    int ldy, float* bpack, float* xpack, float alpha,
                                    bool accumulate) {
  const int kc_block = k_block(s.inner);
  for (int c0 = 0; c0 < s.cols; c0 += kNc) {
    const int nc = std::min(kNc, s.cols - c0);
    for (int k0 = 0; k0 < s.inner; k0 += kc_block) {
      const int kc = std::min(kc_block, s.inner - k0);
      pack_b(b, k0, kc, c0, nc, bpack);
      multiply_block(s.rows, nc, kc, x + k0, ldx, bpack, y + c0, ldy, xpack, alpha,
                     accumulate || k0 > 0);
    }
  }
}

#endif  // NEUROLENS_F32_X86

void check_args(const char* context, GemmShape s, const float* x, int ldx, GemmRhs b,
                const float* y, int ldy) {
  const int b_min_ld = b.transposed ? s.inner : s.cols;
  if (s.rows < 0 || s.cols < 0 || s.inner < 0 || ldx < s.inner || ldy < s.cols || b.ld < b_min_ld ||
      (s.rows > 0 && s.cols > 0 && (!y || (s.inner > 0 && (!x || !b.data))))) {
    throw Error(context, "bad arguments (rows " + std::to_string(s.rows) + ", cols " +
                             std::to_string(s.cols) + ", inner " + std::to_string(s.inner) +
                             ", ldx " + std::to_string(ldx) + ", ldb " + std::to_string(b.ld) +
                             ", ldy " + std::to_string(ldy) + ")");
  }
}

// The first 64-byte boundary at or after p (caller buffers carry kAlign floats of slack for it).
template <typename T>
T* align64(T* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<T*>((addr + 63) & ~std::uintptr_t{63});
}

#ifdef NEUROLENS_F32_X86
// The 64-byte aligned start of caller scratch, checked to hold gemm_f32_scratch_size(s) floats.
float* aligned_scratch(const char* context, GemmShape s, std::span<float> scratch) {
  const std::size_t need = gemm_f32_scratch_size(s);
  if (scratch.size() < need) {
    throw Error(
        context,
        "scratch of " + std::to_string(scratch.size()) + " floats, needs " + std::to_string(need),
        "size it with gemm_f32_scratch_size");
  }
  return align64(scratch.data());
}
#endif

}  // namespace

bool f32_avx512_supported() {
#ifdef NEUROLENS_F32_X86
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return supported;
#else
  return false;
#endif
}

std::size_t gemm_f32_scratch_size(GemmShape s) {
  if (s.rows <= 0 || s.cols <= 0 || s.inner <= 0) return 0;
  const std::size_t x_floats =
      round_up(static_cast<std::size_t>(std::min(s.rows, kMc)), kMr) * std::min(s.inner, kKc);
  return b_pack_floats(s) + x_floats + kAlign;
}

bool gemm_f32_packed_supported(int inner) {
  return f32_avx512_supported() && inner >= 1 && inner <= kGemmPackedMaxInner;
}

std::size_t gemm_f32_packed_rhs_size(int inner, int cols) {
  if (inner <= 0 || cols <= 0) return 0;
  return static_cast<std::size_t>(inner) * round_up(static_cast<std::size_t>(cols), kNr) + kAlign;
}

void gemm_f32_pack_rhs(int inner, int cols, GemmRhs b, std::span<float> dst) {
  const char* context = "gemm_f32_pack_rhs";
  if (!gemm_f32_packed_supported(inner)) {
    throw Error(context,
                "inner size " + std::to_string(inner) + " on this CPU (needs AVX-512F and 1.." +
                    std::to_string(kGemmPackedMaxInner) + ")",
                "check gemm_f32_packed_supported and use gemm_f32 otherwise");
  }
  check_args(context, {1, cols, inner}, b.data, inner, b, dst.data(), cols);
  if (dst.size() < gemm_f32_packed_rhs_size(inner, cols)) {
    throw Error(context, "destination too small", "size it with gemm_f32_packed_rhs_size");
  }
#ifdef NEUROLENS_F32_X86
  pack_b(b, 0, inner, 0, cols, align64(dst.data()));
#endif
}

void gemm_f32_packed(GemmShape s, const float* x, int ldx, std::span<const float> packed,
                     int packed_cols, int col0, float* y, int ldy, std::span<float> scratch,
                     float alpha, bool accumulate) {
  const char* context = "gemm_f32_packed";
  if (!gemm_f32_packed_supported(s.inner)) {
    throw Error(context, "inner size " + std::to_string(s.inner) + " on this CPU",
                "check gemm_f32_packed_supported and use gemm_f32 otherwise");
  }
  if (col0 < 0 || col0 % kNr != 0 || s.cols < 0 || col0 + s.cols > packed_cols ||
      packed.size() < gemm_f32_packed_rhs_size(s.inner, packed_cols)) {
    throw Error(context,
                "columns " + std::to_string(col0) + ".." + std::to_string(col0 + s.cols) +
                    " of a packed matrix of " + std::to_string(packed_cols) + " columns",
                "start at a multiple of 32 inside the packed columns");
  }
  check_args(context, s, x, ldx, {packed.data(), s.cols, false}, y, ldy);
  if (s.rows == 0 || s.cols == 0) return;
#ifdef NEUROLENS_F32_X86
  float* xpack = aligned_scratch(context, s, scratch);
  multiply_block(s.rows, s.cols, s.inner, x, ldx,
                 align64(packed.data()) + static_cast<std::size_t>(col0) * s.inner, y, ldy, xpack,
                 alpha, accumulate);
#endif
}

void gemm_f32_blas(GemmShape s, const float* x, int ldx, GemmRhs b, float* y, int ldy, float alpha,
                   bool accumulate) {
  check_args("gemm_f32_blas", s, x, ldx, b, y, ldy);
  if (s.rows == 0 || s.cols == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, b.transposed ? CblasTrans : CblasNoTrans, s.rows, s.cols,
              s.inner, alpha, x, ldx, b.data, b.ld, accumulate ? 1.0f : 0.0f, y, ldy);
}

void gemm_f32(GemmShape s, const float* x, int ldx, GemmRhs b, float* y, int ldy,
              std::span<float> scratch, float alpha, bool accumulate) {
  const char* context = "gemm_f32";
  check_args(context, s, x, ldx, b, y, ldy);
  if (s.rows == 0 || s.cols == 0) return;
#ifdef NEUROLENS_F32_X86
  if (f32_avx512_supported() && s.inner > 0) {
    float* bpack = aligned_scratch(context, s, scratch);
    gemm_impl(s, x, ldx, b, y, ldy, bpack, bpack + b_pack_floats(s), alpha, accumulate);
    return;
  }
#endif
  gemm_f32_blas(s, x, ldx, b, y, ldy, alpha, accumulate);
}

}  // namespace neurolens::model
