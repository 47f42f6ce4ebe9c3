// Attention — causal or local (windowed) attention of one sequence and head.
// Owns: the key range a query tile sees, the masked softmax of a score tile, and per-(sequence,
// head) attention on strided Q/K/V views through gemm_f32 (tiles of kAttentionBlock queries,
// visible keys only), its scratch size and FLOPs. Legend: T tokens, dh head_dim.
// Example:
//   std::vector<float> scratch(attention_scratch_size(t, dh));
//   attention_head(q, k, v, 3 * d, z, d, t, dh, 1 / sqrt(dh), 0, scratch);   // z[T, dh]
#pragma once

#include <cstddef>
#include <span>
#include <utility>

namespace neurolens::model {

// Keys visible to queries [q0, q1): [first, q1). window <= 0 means global (first = 0); a local
// window admits key > query - window.
std::pair<int, int> attention_key_range(int q0, int q1, int window);

// In-place masked softmax of a score tile: row i is query q0 + i, column j is key k0 + j,
// cols = number of keys in the tile. Keys after the query (and, for window > 0, keys
// <= query - window) get probability 0.
void masked_softmax(std::span<float> scores, int rows, int cols, int ld, int q0, int k0,
                    int window);

// Query rows per attention tile.
inline constexpr int kAttentionBlock = 128;

// Floats of scratch attention_head needs: one score tile [kAttentionBlock, T] plus the
// gemm_f32 scratch of its two products.
std::size_t attention_scratch_size(int seq_len, int head_dim);

// Causal (window <= 0) or local attention of one sequence and head on strided views:
// q, k, v: [T, dh] with leading dimension ld_qkv; z: [T, dh] with leading dimension ld_z.
// z = softmax(scale * q k^T + mask) v, computed tile by tile with gemm_f32 on the visible keys
// only. scratch: at least attention_scratch_size(seq_len, head_dim) floats. softcap > 0: the
// scaled scores are soft-capped before the mask, s = tanh(s / softcap) * softcap (Gemma 2's
// attn_logit_softcapping); 0 leaves them as they are.
void attention_head(const float* q, const float* k, const float* v, int ld_qkv, float* z, int ld_z,
                    int seq_len, int head_dim, float scale, int window, std::span<float> scratch,
                    float softcap = 0.0f);

// GEMM FLOPs attention_head issues for one sequence and head (2 products per tile).
double attention_head_flops(int seq_len, int head_dim, int window);

}  // namespace neurolens::model
