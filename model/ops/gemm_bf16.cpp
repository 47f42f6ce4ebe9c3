#include "model/ops/gemm_bf16.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "io/error.hpp"
#include "model/ops/half.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NEUROLENS_BF16_X86 1
#include <immintrin.h>
// Compiled for AVX512_BF16 whatever -march says; called only after bf16_compute_supported().
#define NEUROLENS_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

namespace neurolens::model {
namespace {

constexpr int kMr = 12;              // rows per microkernel (12 x 2 zmm accumulators)
constexpr int kNr = kBf16PanelCols;  // columns per microkernel / packed panel
// Measured on Zen 5 (one core): 96 x 1024 is within noise of the best of MC 48..192, KC
// 512..1024 on the GPT-2 shapes; the x block (96 x 1024 bf16 = 192 KiB) stays in L2.
constexpr int kMc = 96;    // rows per cache block
constexpr int kKc = 1024;  // most k per cache block (K is split into equal blocks)
static_assert(kMc % kMr == 0 && kKc % 2 == 0);
constexpr std::size_t kAlignElems = 32;  // 64 bytes of uint16_t

// K split into equal blocks of at most kKc (even, so blocks start on a k-pair).
int k_block(int k) {
  const int blocks = (k + kKc - 1) / kKc;
  return ((k + blocks - 1) / blocks + 1) / 2 * 2;
}

void require_support(const std::string& context) {
  if (!bf16_compute_supported()) {
    throw Error(context,
                "this CPU has no AVX512_BF16 (bf16 compute needs avx512f, avx512bw, avx512vl "
                "and avx512_bf16)",
                "use compute = fp32");
  }
}

void check_linear(const Linear& w, const std::string& context) {
  if (!w.weight || w.in < 1 || w.out < 1 || w.ld < (w.out_in ? w.in : w.out)) {
    throw Error(context,
                "inconsistent Linear view (in " + std::to_string(w.in) + ", out " +
                    std::to_string(w.out) + ", ld " + std::to_string(w.ld) +
                    (w.weight ? "" : ", null weight") + ")",
                "pack weights of a model loaded with load_model");
  }
}

#ifdef NEUROLENS_BF16_X86

// dst: kp x kMr dwords, k-pair p of row i at dst[p * kMr + i] (rows >= mr are left unwritten:
// the microkernel for mr rows never reads them). Columns beyond kc are zero.
NEUROLENS_BF16_TARGET void pack_x(const float* x, int ldx, int mr, int kc, std::uint32_t* dst) {
  const int kp = (kc + 1) / 2;
  alignas(64) std::uint32_t tmp[16];
  for (int i = 0; i < mr; ++i) {
    const float* row = x + static_cast<std::size_t>(i) * ldx;
    for (int k = 0; k < kc; k += 32) {
      const int n = std::min(32, kc - k);
      const __mmask16 lo = n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
      const __mmask16 hi = n >= 32  ? 0xffff
                           : n > 16 ? static_cast<__mmask16>((1u << (n - 16)) - 1)
                                    : 0;
      const __m512 a = _mm512_maskz_loadu_ps(lo, row + k);
      const __m512 b = _mm512_maskz_loadu_ps(hi, row + k + 16);
      _mm512_store_si512(tmp, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a)));
      const int np = std::min(16, kp - k / 2);
      std::uint32_t* d = dst + static_cast<std::size_t>(k / 2) * kMr + i;
      for (int p = 0; p < np; ++p) d[p * kMr] = tmp[p];
    }
  }
}

// c[MR, 32] (=|+=) a[MR, 2 kp] * b[2 kp, 32]; a packed by pack_x, b a panel slice; m0 / m1 mask
// the valid columns of the two halves.
template <int MR>
NEUROLENS_BF16_TARGET void micro_kernel(int kp, const std::uint32_t* a, const std::uint16_t* b,
                                        float* c, int ldc, __mmask16 m0, __mmask16 m1,
                                        bool accumulate) {
  // Fetch the C tile now: its lines (often not cached: y is [N, out]) arrive during the loop
  // instead of stalling the stores at the end (370 -> 435 GFLOP/s on a [2048, 3072] output).
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
  for (int p = 0; p < kp; ++p) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + 32));
    b += 64;
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512bh ai = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[i])));
      c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
      c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
    }
    a += kMr;
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    float* ci = c + static_cast<std::size_t>(i) * ldc;
    if (accumulate) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, ci));
      c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, ci + 16));
    }
    _mm512_mask_storeu_ps(ci, m0, c0[i]);
    _mm512_mask_storeu_ps(ci + 16, m1, c1[i]);
  }
}

using MicroKernel = void (*)(int, const std::uint32_t*, const std::uint16_t*, float*, int,
                             __mmask16, __mmask16, bool);
constexpr MicroKernel kKernels[kMr + 1] = {
    nullptr,          micro_kernel<1>,  micro_kernel<2>, micro_kernel<3>, micro_kernel<4>,
    micro_kernel<5>,  micro_kernel<6>,  micro_kernel<7>, micro_kernel<8>, micro_kernel<9>,
    micro_kernel<10>, micro_kernel<11>, micro_kernel<12>};

// Loop order (GotoBLAS): row blocks of kMc, k blocks of kKc (x block converted once into
// scratch, stays in L2), column panels (the panel's k slice stays in L1 across the row block),
// microkernel rows.
NEUROLENS_BF16_TARGET void gemm_impl(const PackedBf16Matrix& w, const float* x, int ldx, int rows,
                                     float* y, int ldy, std::uint32_t* xpack) {
  const int k_total = w.in(), n_total = w.out(), panels = w.panels();
  const int kc_block = k_block(k_total);
  for (int i0 = 0; i0 < rows; i0 += kMc) {
    const int mc = std::min(kMc, rows - i0);
    for (int k0 = 0; k0 < k_total; k0 += kc_block) {
      const int kc = std::min(kc_block, k_total - k0);
      const int kp = (kc + 1) / 2;
      for (int ir = 0; ir < mc; ir += kMr) {
        pack_x(x + static_cast<std::size_t>(i0 + ir) * ldx + k0, ldx, std::min(kMr, mc - ir), kc,
               xpack + static_cast<std::size_t>(ir / kMr) * kp * kMr);
      }
      const bool accumulate = k0 > 0;
      for (int jp = 0; jp < panels; ++jp) {
        const std::uint16_t* b = w.panel(jp) + static_cast<std::size_t>(k0 / 2) * 2 * kNr;
        const int cols = std::min(kNr, n_total - jp * kNr);
        const __mmask16 m0 = cols >= 16 ? 0xffff : static_cast<__mmask16>((1u << cols) - 1);
        const __mmask16 m1 = cols >= 32  ? 0xffff
                             : cols > 16 ? static_cast<__mmask16>((1u << (cols - 16)) - 1)
                                         : 0;
        for (int ir = 0; ir < mc; ir += kMr) {
          const int mr = std::min(kMr, mc - ir);
          float* c = y + static_cast<std::size_t>(i0 + ir) * ldy + jp * kNr;
          kKernels[mr](kp, xpack + static_cast<std::size_t>(ir / kMr) * kp * kMr, b, c, ldy, m0, m1,
                       accumulate);
        }
      }
    }
  }
}

NEUROLENS_BF16_TARGET void convert_impl(const float* x, std::size_t n, std::uint16_t* y) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i),
                        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i))));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256i v =
        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i)));
    _mm256_mask_storeu_epi16(y + i, m, v);
  }
}

#endif  // NEUROLENS_BF16_X86

}  // namespace

bool bf16_compute_supported() {
#ifdef NEUROLENS_BF16_X86
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  }();
  return supported;
#else
  return false;
#endif
}

void PackedBf16Matrix::FreeDeleter::operator()(std::uint16_t* p) const {
  ::operator delete[](p, std::align_val_t{64});
}

PackedBf16Matrix::PackedBf16Matrix(const Linear& w) : PackedBf16Matrix(std::span(&w, 1)) {}

PackedBf16Matrix::PackedBf16Matrix(std::span<const Linear> parts) {
  const std::string context = "bf16 weight packing";
  require_support(context);
  if (parts.empty()) throw Error(context, "no weights to pack");
  in_ = parts[0].in;
  for (const Linear& p : parts) {
    check_linear(p, context);
    if (p.in != in_) {
      throw Error(context,
                  "parts with different input widths (" + std::to_string(in_) + " and " +
                      std::to_string(p.in) + ")",
                  "pack only weights that read the same input");
    }
    out_ += p.out;
  }
  const std::size_t panel_size = static_cast<std::size_t>(pairs()) * 2 * kNr;
  size_ = panel_size * panels();
  data_.reset(static_cast<std::uint16_t*>(
      ::operator new[](size_ * sizeof(std::uint16_t), std::align_val_t{64})));
  std::memset(data_.get(), 0, bytes());
  // Value (k, c) goes to panel c / 32, k-pair k / 2, slot 2 (c % 32) + k % 2. Each layout is
  // read along its rows (Conv1D: k outer; nn.Linear: output column outer).
  auto slot = [&](int k, int c) {
    return data_.get() + (c / kNr) * panel_size + static_cast<std::size_t>(k / 2) * 2 * kNr +
           2 * (c % kNr) + (k & 1);
  };
  int col = 0;  // first output column of the part
  for (const Linear& p : parts) {
    for (int a = 0; a < (p.out_in ? p.out : p.in); ++a) {
      const float* row = p.weight + static_cast<std::size_t>(a) * p.ld;
      for (int b = 0; b < (p.out_in ? p.in : p.out); ++b) {
        *(p.out_in ? slot(b, col + a) : slot(a, col + b)) = f32_to_bf16(row[b]);
      }
    }
    col += p.out;
  }
}

std::size_t PackedBf16Matrix::bytes_for(int in, int out) {
  if (in < 1 || out < 1) return 0;
  const std::size_t pairs = (static_cast<std::size_t>(in) + 1) / 2;
  const std::size_t panels = (static_cast<std::size_t>(out) + kNr - 1) / kNr;
  return pairs * 2 * kNr * panels * sizeof(std::uint16_t);
}

std::size_t gemm_bf16_scratch_size(const PackedBf16Matrix& w, int rows) {
  return gemm_bf16_scratch_size(w.in(), rows);
}

std::size_t gemm_bf16_scratch_size(int in, int rows) {
  const std::size_t mc = (static_cast<std::size_t>(std::clamp(rows, 1, kMc)) + kMr - 1) / kMr * kMr;
  const std::size_t kp = (static_cast<std::size_t>(k_block(std::max(in, 1))) + 1) / 2;
  return mc * kp * 2 + kAlignElems;
}

void gemm_bf16(const PackedBf16Matrix& w, const float* x, int ldx, int rows, float* y, int ldy,
               std::span<std::uint16_t> scratch) {
  const std::string context = "gemm_bf16";
  require_support(context);
  if (w.empty()) throw Error(context, "the packed weight is empty");
  if (rows < 0 || ldx < w.in() || ldy < w.out() || (rows > 0 && (!x || !y))) {
    throw Error(context, "bad arguments (rows " + std::to_string(rows) + ", ldx " +
                             std::to_string(ldx) + " for in " + std::to_string(w.in()) + ", ldy " +
                             std::to_string(ldy) + " for out " + std::to_string(w.out()) + ")");
  }
  if (rows == 0) return;
  const std::size_t need = gemm_bf16_scratch_size(w, rows);
  if (scratch.size() < need) {
    throw Error(
        context,
        "scratch of " + std::to_string(scratch.size()) + " values, needs " + std::to_string(need),
        "size it with gemm_bf16_scratch_size");
  }
#ifdef NEUROLENS_BF16_X86
  // 64-byte align the converted block inside the scratch (the size includes the slack).
  const auto addr = reinterpret_cast<std::uintptr_t>(scratch.data());
  auto* xpack = reinterpret_cast<std::uint32_t*>((addr + 63) & ~std::uintptr_t{63});
  gemm_impl(w, x, ldx, rows, y, ldy, xpack);
#endif
}

void convert_to_bf16(std::span<const float> x, std::span<std::uint16_t> y) {
  require_support("convert_to_bf16");
  if (y.size() < x.size()) {
    throw Error("convert_to_bf16", "output of " + std::to_string(y.size()) + " values for " +
                                       std::to_string(x.size()) + " inputs");
  }
#ifdef NEUROLENS_BF16_X86
  convert_impl(x.data(), x.size(), y.data());
#endif
}

}  // namespace neurolens::model
