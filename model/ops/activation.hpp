// Activations — gelu_new, fused with the bias add of the layer before it.
// Owns: the fp32 gelu_new of the MLP (x * sigmoid(2u), identical to the tanh form), its double
// reference, and the kernels' fp32 exp. Pure compute on caller buffers; vectorised
// (model/ops/simd.hpp). Legend: N = B*T rows, F d_mlp.
// Example:
//   bias_gelu(pre, post, bias, n, f);                    // pre += bias; post = gelu_new(pre)
#pragma once

#include <span>

namespace neurolens::model {

// Reference gelu_new in double: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
double gelu_new_reference(double x);
// The kernels' fp32 gelu_new (x * sigmoid(2u), identical to the tanh form), one value.
float gelu_new(float x);
// The kernels' fp32 exp (max ~2 ulp on [-87, 88]; clamps outside), one value.
float fast_exp(float x);

// pre[rows, cols] += bias (when bias is non-empty); post = gelu_new(pre). post may alias pre.
void bias_gelu(std::span<float> pre, std::span<float> post, std::span<const float> bias, int rows,
               int cols);

}  // namespace neurolens::model
