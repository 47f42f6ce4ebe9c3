// LayerNorm — per-row normalisation of the residual stream.
// Owns: LayerNorm with gamma and beta (two-pass mean / var) and RMSNorm (Llama's gamma * x /
// rms, Gemma's (1 + gamma) * x / rms). Pure compute on caller buffers;
// vectorised (model/ops/simd.hpp). Legend: N = B*T rows, D d_model.
// Example:
//   layer_norm(x, y, gamma, beta, n, d, 1e-5f);          // y[N, D] = LN(x[N, D])
//   rms_norm(x, y, gamma, n, d, 1e-6f, 0.0f);            // y[N, D] = RMSNorm(x[N, D])
#pragma once

#include <span>

namespace neurolens::model {

// y[rows, dim] = (x - mean) / sqrt(var + eps) * gamma + beta, per row (two-pass mean / var).
// x and y may be the same buffer.
void layer_norm(std::span<const float> x, std::span<float> y, std::span<const float> gamma,
                std::span<const float> beta, int rows, int dim, float eps);

// y[rows, dim] = x / sqrt(mean(x^2) + eps) * (gamma_offset + gamma), per row (HF LlamaRMSNorm
// with gamma_offset 0, GemmaRMSNorm with 1). x and y may be the same buffer.
void rms_norm(std::span<const float> x, std::span<float> y, std::span<const float> gamma, int rows,
              int dim, float eps, float gamma_offset);

}  // namespace neurolens::model
