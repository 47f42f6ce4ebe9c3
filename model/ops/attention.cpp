#include "model/ops/attention.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "model/ops/gemm_f32.hpp"
#include "model/ops/simd.hpp"

namespace neurolens::model {
namespace {

using ops_detail::exp_v;
using ops_detail::ScalarOps;
using ops_detail::SimdOps;

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
                    int seq_len, int head_dim, float scale, int window, std::span<float> scratch,
                    float softcap) {
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
    if (softcap > 0.0f) {
      for (std::size_t i = 0, e = static_cast<std::size_t>(rows) * nk; i < e; ++i) {
        s[i] = std::tanh(s[i] / softcap) * softcap;
      }
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
