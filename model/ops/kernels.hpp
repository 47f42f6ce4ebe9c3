// Forward-pass kernels — pure compute on caller buffers (llm.c style): no allocation, no logging.
// Owns: LayerNorm, bias + gelu_new, bias + residual add, the causal / local masked softmax, and
// per-(sequence, head) attention on strided Q/K/V views through gemm_f32. Vectorised with
// AVX-512 or AVX2+FMA when the build targets them (scalar fallback otherwise); the same
// polynomial exp is used on every path.
// Legend: N = B*T rows, D d_model, F d_mlp, T tokens, dh head_dim.
// Example:
//   layer_norm(x, y, gamma, beta, n, d, 1e-5f);          // y[N, D] = LN(x[N, D])
//   bias_gelu(pre, post, bias, n, f);                    // pre += bias; post = gelu_new(pre)
#pragma once

#include <cstddef>
#include <span>
#include <utility>

namespace neurolens::model {

// Reference gelu_new in double: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
double gelu_new_reference(double x);
// The kernels' fp32 gelu_new (x * sigmoid(2u), identical to the tanh form), one value.
float gelu_new(float x);
// The kernels' fp32 exp (max ~2 ulp on [-87, 88]; clamps outside), one value.
float fast_exp(float x);

// y[rows, dim] = (x - mean) / sqrt(var + eps) * gamma + beta, per row (two-pass mean / var).
// x and y may be the same buffer.
void layer_norm(std::span<const float> x, std::span<float> y, std::span<const float> gamma,
                std::span<const float> beta, int rows, int dim, float eps);

// pre[rows, cols] += bias (when bias is non-empty); post = gelu_new(pre). post may alias pre.
void bias_gelu(std::span<float> pre, std::span<float> post, std::span<const float> bias, int rows,
               int cols);

// y[rows, cols] += bias (row broadcast); rows of y are ld floats apart (0: ld = cols).
void add_bias(std::span<float> y, std::span<const float> bias, int rows, int cols, int ld = 0);

// y[rows, cols] += bias (when non-empty); resid += y.
void add_bias_residual(std::span<float> resid, std::span<float> y, std::span<const float> bias,
                       int rows, int cols);

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
// only. scratch: at least attention_scratch_size(seq_len, head_dim) floats.
void attention_head(const float* q, const float* k, const float* v, int ld_qkv, float* z, int ld_z,
                    int seq_len, int head_dim, float scale, int window, std::span<float> scratch);

// GEMM FLOPs attention_head issues for one sequence and head (2 products per tile).
double attention_head_flops(int seq_len, int head_dim, int window);

}  // namespace neurolens::model
