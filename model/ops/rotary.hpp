// Rotary position embeddings — Hugging Face's rotate_half convention (Llama, GPT-NeoX, Mistral,
// Qwen2, Gemma).
// Owns: the inverse frequencies of a config (rope_theta, partial rotary_dim, rope_scaling none /
// linear / llama3, computed in fp32 as HF does), the cos / sin table of positions 0..T-1, and
// rotating the first rotary_dim features of every head of q or k in place: for i < rd / 2,
// (x_i, x_{i+rd/2}) -> (x_i cos - x_{i+rd/2} sin, x_{i+rd/2} cos + x_i sin), angle pos *
// inv_freq_i. Pure compute on caller buffers. Legend: N = B*T rows, T tokens, dh head_dim,
// rd rotary_dim.
// Example:
//   std::vector<float> inv = rope_inverse_frequencies(64, 10000.0, {});   // [rd / 2]
//   std::vector<float> c(t * 32), s(t * 32);
//   rope_table(inv, t, c, s);                                              // [T, rd / 2] each
//   apply_rope(q, 3 * d, n, t, heads, 64, 64, c, s);     // rows r at position r % t
#pragma once

#include <span>
#include <vector>

#include "model/load/config.hpp"

namespace neurolens::model {

// inv_freq[rotary_dim / 2]: theta^(-2i / rd) in fp32 (HF's _compute_default_rope_parameters),
// then the scaling (linear: / factor; llama3: Llama 3.1's banded scaling).
std::vector<float> rope_inverse_frequencies(int rotary_dim, double theta,
                                            const RopeScaling& scaling);

// cos[t, i] = cos(float(t) * inv_freq[i]), sin likewise (the angle rounded to fp32 as HF's fp32
// matmul does), for t < seq_len. cos / sin: at least seq_len * inv_freq.size() floats.
void rope_table(std::span<const float> inv_freq, int seq_len, std::span<float> cos,
                std::span<float> sin);

// Rotates x in place: rows [N, ld] (N = rows, row r at position r % seq_len), heads at
// x + h * head_dim for h < n_heads, the first rotary_dim features of each (rotary_dim even,
// <= head_dim). cos / sin from rope_table with inv_freq.size() == rotary_dim / 2.
void apply_rope(float* x, int ld, int rows, int seq_len, int n_heads, int head_dim, int rotary_dim,
                std::span<const float> cos, std::span<const float> sin);

}  // namespace neurolens::model
