// Bias adds — a Linear layer's bias, alone or with the residual add after it.
// Owns: row-broadcast bias adds on strided rows and bias + residual. Pure compute on caller
// buffers; vectorised (model/ops/simd.hpp). Legend: N = B*T rows, D d_model.
// Example:
//   add_bias_residual(resid, y, bias, n, d);             // y += bias; resid += y
#pragma once

#include <span>

namespace neurolens::model {

// y[rows, cols] += bias (row broadcast); rows of y are ld floats apart (0: ld = cols).
void add_bias(std::span<float> y, std::span<const float> bias, int rows, int cols, int ld = 0);

// y[rows, cols] += bias (when non-empty); resid += y.
void add_bias_residual(std::span<float> resid, std::span<float> y, std::span<const float> bias,
                       int rows, int cols);

}  // namespace neurolens::model
