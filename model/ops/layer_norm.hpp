// LayerNorm — per-row normalisation of the residual stream.
// Owns: LayerNorm with gamma and beta (two-pass mean / var). Pure compute on caller buffers;
// vectorised (model/ops/simd.hpp). Legend: N = B*T rows, D d_model.
// Example:
//   layer_norm(x, y, gamma, beta, n, d, 1e-5f);          // y[N, D] = LN(x[N, D])
#pragma once

#include <span>

namespace neurolens::model {

// y[rows, dim] = (x - mean) / sqrt(var + eps) * gamma + beta, per row (two-pass mean / var).
// x and y may be the same buffer.
void layer_norm(std::span<const float> x, std::span<float> y, std::span<const float> gamma,
                std::span<const float> beta, int rows, int dim, float eps);

}  // namespace neurolens::model
