#include "model/ops/kernels.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "model/ops/gemm_f32.hpp"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// GCC 12 reports its own _mm512_undefined_ps() (used inside avx512fintrin.h) as
// maybe-uninitialized once inlined; the warning is a known false positive (GCC PR 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace neurolens::model {
namespace {

// ---- One lane type per instruction set; every kernel is written once against these ops.
struct ScalarOps {
  using V = float;
  static constexpr int kWidth = 1;
  static V load(const float* p) { return *p; }
  static void store(float* p, V a) { *p = a; }
  static V set1(float a) { return a; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V fmadd(V a, V b, V c) { return std::fma(a, b, c); }
  static V max(V a, V b) { return a > b ? a : b; }
  static V min(V a, V b) { return a < b ? a : b; }
  static V round(V a) { return std::nearbyint(a); }
  // 2^n for integral-valued n in [-126, 127].
  static V pow2(V n) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127)
                                << 23);
  }
  static float hsum(V a) { return a; }
  static float hmax(V a) { return a; }
};

#if defined(__AVX512F__)
struct SimdOps {
  using V = __m512;
  static constexpr int kWidth = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V a) { _mm512_storeu_ps(p, a); }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V round(V a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static V pow2(V n) {
    __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(i, 23));
  }
  static float hsum(V a) { return _mm512_reduce_add_ps(a); }
  static float hmax(V a) { return _mm512_reduce_max_ps(a); }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct SimdOps {
  using V = __m256;
  static constexpr int kWidth = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V a) { _mm256_storeu_ps(p, a); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {
    __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(i, 23));
  }
  static float hsum(V a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(V a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
#else
using SimdOps = ScalarOps;
#endif

// exp(x): x = n ln2 + r, |r| <= ln2/2, degree-6 (Cephes expf) polynomial, times 2^n.
template <class O>
inline typename O::V exp_v(typename O::V x) {
  using V = typename O::V;
  x = O::min(O::max(x, O::set1(-87.0f)), O::set1(88.0f));
  const V n = O::round(O::mul(x, O::set1(1.44269504088896341f)));
  V r = O::fmadd(n, O::set1(-0.693359375f), x);
  r = O::fmadd(n, O::set1(2.12194440e-4f), r);
  V p = O::set1(1.9875691500e-4f);
  p = O::fmadd(p, r, O::set1(1.3981999507e-3f));
  p = O::fmadd(p, r, O::set1(8.3334519073e-3f));
  p = O::fmadd(p, r, O::set1(4.1665795894e-2f));
  p = O::fmadd(p, r, O::set1(1.6666665459e-1f));
  p = O::fmadd(p, r, O::set1(5.0000001201e-1f));
  p = O::fmadd(p, O::mul(r, r), O::add(r, O::set1(1.0f)));
  return O::mul(p, O::pow2(n));
}

// gelu_new(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u)),
// u = sqrt(2/pi) (x + 0.044715 x^3). No cancellation for small |x|; exact limits at both ends.
template <class O>
inline typename O::V gelu_v(typename O::V x) {
  using V = typename O::V;
  const V x2 = O::mul(x, x);
  const V inner = O::mul(x, O::fmadd(x2, O::set1(0.044715f), O::set1(1.0f)));
  const V e = exp_v<O>(O::mul(inner, O::set1(-2.0f * 0.7978845608028654f)));
  return O::div(x, O::add(O::set1(1.0f), e));
}

template <class O>
void layer_norm_row(const float* x, float* y, const float* gamma, const float* beta, int dim,
                    float eps) {
  using V = typename O::V;
  constexpr int W = O::kWidth;
  int i = 0;
  V acc = O::set1(0.0f);
  for (; i + W <= dim; i += W) acc = O::add(acc, O::load(x + i));
  float sum = O::hsum(acc);
  for (; i < dim; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(dim);
  const V vmean = O::set1(mean);
  acc = O::set1(0.0f);
  i = 0;
  for (; i + W <= dim; i += W) {
    const V d = O::sub(O::load(x + i), vmean);
    acc = O::fmadd(d, d, acc);
  }
  float sq = O::hsum(acc);
  for (; i < dim; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(dim) + eps);
  const V vr = O::set1(rstd);
  i = 0;
  for (; i + W <= dim; i += W) {
    const V d = O::mul(O::sub(O::load(x + i), vmean), vr);
    O::store(y + i, O::fmadd(d, O::load(gamma + i), O::load(beta + i)));
  }
  for (; i < dim; ++i) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
}

template <class O>
void bias_gelu_row(float* pre, float* post, const float* bias, int cols) {
  constexpr int W = O::kWidth;
  int i = 0;
  if (bias) {
    for (; i + W <= cols; i += W) {
      const auto x = O::add(O::load(pre + i), O::load(bias + i));
      O::store(pre + i, x);
      O::store(post + i, gelu_v<O>(x));
    }
    for (; i < cols; ++i) {
      const float x = pre[i] + bias[i];
      pre[i] = x;
      post[i] = gelu_v<ScalarOps>(x);
    }
  } else {
    for (; i + W <= cols; i += W) O::store(post + i, gelu_v<O>(O::load(pre + i)));
    for (; i < cols; ++i) post[i] = gelu_v<ScalarOps>(pre[i]);
  }
}

// Softmax over row[lo, hi) in place; entries outside are set to 0 by the caller.
template <class O>
void softmax_span(float* row, int n) {
  using V = typename O::V;
  constexpr int W = O::kWidth;
  int i = 0;
  V vmax = O::set1(-INFINITY);
  for (; i + W <= n; i += W) vmax = O::max(vmax, O::load(row + i));
  float mx = O::hmax(vmax);
  for (; i < n; ++i) mx = std::max(mx, row[i]);
  const V vm = O::set1(mx);
  V acc = O::set1(0.0f);
  i = 0;
  for (; i + W <= n; i += W) {
    const V e = exp_v<O>(O::sub(O::load(row + i), vm));
    O::store(row + i, e);
    acc = O::add(acc, e);
  }
  float sum = O::hsum(acc);
  for (; i < n; ++i) {
    row[i] = exp_v<ScalarOps>(row[i] - mx);
    sum += row[i];
  }
  const float inv = 1.0f / sum;
  const V vi = O::set1(inv);
  i = 0;
  for (; i + W <= n; i += W) O::store(row + i, O::mul(O::load(row + i), vi));
  for (; i < n; ++i) row[i] *= inv;
}

}  // namespace

double gelu_new_reference(double x) {
  return 0.5 * x *
         (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

float gelu_new(float x) {
  return gelu_v<ScalarOps>(x);
}

float fast_exp(float x) {
  return exp_v<ScalarOps>(x);
}

void layer_norm(std::span<const float> x, std::span<float> y, std::span<const float> gamma,
                std::span<const float> beta, int rows, int dim, float eps) {
  assert(x.size() >= static_cast<std::size_t>(rows) * dim && y.size() >= x.size());
  assert(gamma.size() >= static_cast<std::size_t>(dim) && beta.size() >= gamma.size());
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * dim;
    layer_norm_row<SimdOps>(x.data() + off, y.data() + off, gamma.data(), beta.data(), dim, eps);
  }
}

void bias_gelu(std::span<float> pre, std::span<float> post, std::span<const float> bias, int rows,
               int cols) {
  assert(pre.size() >= static_cast<std::size_t>(rows) * cols && post.size() >= pre.size());
  const float* b = bias.empty() ? nullptr : bias.data();
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * cols;
    bias_gelu_row<SimdOps>(pre.data() + off, post.data() + off, b, cols);
  }
}

void add_bias(std::span<float> y, std::span<const float> bias, int rows, int cols, int ld) {
  using O = SimdOps;
  constexpr int W = O::kWidth;
  if (ld == 0) ld = cols;
  assert(y.size() >= static_cast<std::size_t>(rows - 1) * ld + cols);
  for (int r = 0; r < rows; ++r) {
    float* row = y.data() + static_cast<std::size_t>(r) * ld;
    int i = 0;
    for (; i + W <= cols; i += W) O::store(row + i, O::add(O::load(row + i), O::load(&bias[i])));
    for (; i < cols; ++i) row[i] += bias[i];
  }
}

void add_bias_residual(std::span<float> resid, std::span<float> y, std::span<const float> bias,
                       int rows, int cols) {
  using O = SimdOps;
  constexpr int W = O::kWidth;
  const bool has_bias = !bias.empty();
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * cols;
    float* yr = y.data() + off;
    float* rr = resid.data() + off;
    int i = 0;
    if (has_bias) {
      for (; i + W <= cols; i += W) {
        const auto v = O::add(O::load(yr + i), O::load(&bias[i]));
        O::store(yr + i, v);
        O::store(rr + i, O::add(O::load(rr + i), v));
      }
      for (; i < cols; ++i) {
        yr[i] += bias[i];
        rr[i] += yr[i];
      }
    } else {
      for (; i + W <= cols; i += W) O::store(rr + i, O::add(O::load(rr + i), O::load(yr + i)));
      for (; i < cols; ++i) rr[i] += yr[i];
    }
  }
}

std::pair<int, int> attention_key_range(int q0, int q1, int window) {
  const int first = window > 0 ? std::max(0, q0 - window + 1) : 0;
  return {first, q1};
}

void masked_softmax(std::span<float> scores, int rows, int cols, int ld, int q0, int k0,
                    int window) {
  for (int i = 0; i < rows; ++i) {
    float* row = scores.data() + static_cast<std::size_t>(i) * ld;
    const int query = q0 + i;
    // Visible keys: [lo, query], clipped to the tile [k0, k0 + cols).
    const int lo = std::max(k0, window > 0 ? query - window + 1 : 0);
    const int hi = std::min(k0 + cols, query + 1);
    const int a = lo - k0, b = hi - k0;
    std::fill(row, row + std::max(a, 0), 0.0f);
    if (b > a) softmax_span<SimdOps>(row + a, b - a);
    std::fill(row + std::max(b, 0), row + cols, 0.0f);
  }
}

namespace {

std::size_t round_up16(std::size_t n) {
  return (n + 15) / 16 * 16;
}

// The keys of a head packed once (gemm_f32_pack_rhs): dh x T rounded to 32 columns.
std::size_t packed_keys_size(int seq_len, int head_dim) {
  return gemm_f32_packed_supported(head_dim)
             ? round_up16(gemm_f32_packed_rhs_size(head_dim, seq_len))
             : 0;
}

}  // namespace

std::size_t attention_scratch_size(int seq_len, int head_dim) {
  const int rows = std::min(seq_len, kAttentionBlock);
  const std::size_t tile = static_cast<std::size_t>(kAttentionBlock) * seq_len;
  const std::size_t gemm = std::max(gemm_f32_scratch_size({rows, seq_len, head_dim}),
                                    gemm_f32_scratch_size({rows, head_dim, seq_len}));
  return round_up16(tile) + packed_keys_size(seq_len, head_dim) + gemm;
}

void attention_head(const float* q, const float* k, const float* v, int ld_qkv, float* z, int ld_z,
                    int seq_len, int head_dim, float scale, int window, std::span<float> scratch) {
  assert(scratch.size() >= attention_scratch_size(seq_len, head_dim));
  float* s = scratch.data();
  std::span<float> rest =
      scratch.subspan(round_up16(static_cast<std::size_t>(kAttentionBlock) * seq_len));
  // With the AVX-512 kernel the head's keys are packed once for all query tiles, and each tile
  // starts at a multiple of 32 keys (local windows: the extra keys get probability 0).
  const bool packed_keys = gemm_f32_packed_supported(head_dim);
  std::span<float> keys;
  if (packed_keys) {
    keys = rest.first(packed_keys_size(seq_len, head_dim));
    rest = rest.subspan(keys.size());
    gemm_f32_pack_rhs(head_dim, seq_len, {k, ld_qkv, true}, keys);
  }
  for (int q0 = 0; q0 < seq_len; q0 += kAttentionBlock) {
    const int q1 = std::min(seq_len, q0 + kAttentionBlock);
    const int rows = q1 - q0;
    auto [k0, k1] = attention_key_range(q0, q1, window);
    if (packed_keys) k0 = k0 / 32 * 32;
    const int nk = k1 - k0;
    // S[rows, nk] = scale * Q[q0:q1] K[k0:k1]^T
    const float* q_tile = q + static_cast<std::size_t>(q0) * ld_qkv;
    if (packed_keys) {
      gemm_f32_packed({rows, nk, head_dim}, q_tile, ld_qkv, keys, seq_len, k0, s, nk, rest, scale);
    } else {
      gemm_f32({rows, nk, head_dim}, q_tile, ld_qkv,
               {k + static_cast<std::size_t>(k0) * ld_qkv, ld_qkv, true}, s, nk, rest, scale);
    }
    masked_softmax(scratch, rows, nk, nk, q0, k0, window);
    // Z[q0:q1] = P V[k0:k1]
    gemm_f32({rows, head_dim, nk}, s, nk, {v + static_cast<std::size_t>(k0) * ld_qkv, ld_qkv},
             z + static_cast<std::size_t>(q0) * ld_z, ld_z, rest);
  }
}

double attention_head_flops(int seq_len, int head_dim, int window) {
  double flops = 0.0;
  for (int q0 = 0; q0 < seq_len; q0 += kAttentionBlock) {
    const int q1 = std::min(seq_len, q0 + kAttentionBlock);
    const auto [k0, k1] = attention_key_range(q0, q1, window);
    flops += 2.0 * 2.0 * (q1 - q0) * static_cast<double>(k1 - k0) * head_dim;
  }
  return flops;
}

}  // namespace neurolens::model
