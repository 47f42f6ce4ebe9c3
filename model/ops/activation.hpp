// Activations — gelu_new, exact (erf) GELU and SiLU, fused with the bias add of the layer before
// them or with a gated MLP's up projection.
// Owns: the fp32 gelu_new of the MLP (x * sigmoid(2u), identical to the tanh form), exact GELU
// (x Phi(x), erf to 1.5e-7), SiLU (x sigmoid(x)), their double references, config.json's names
// for them, and the kernels' fp32 exp. Pure compute on caller buffers; vectorised
// (model/ops/simd.hpp). Legend: N = B*T rows, F d_mlp.
// Example:
//   bias_gelu(pre, post, bias, n, f);                    // pre += bias; post = gelu_new(pre)
//   gated_activation(gate, up, post, n, f, Activation::Silu);  // post = silu(gate) * up
#pragma once

#include <optional>
#include <span>
#include <string_view>

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

enum class Activation {
  GeluNew,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): gelu_new, gelu_pytorch_tanh
  Gelu,     // x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): HF "gelu" (exact)
  Silu,     // x sigmoid(x): HF "silu" / "swish"
};
// config.json's name ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "silu", "swish"),
// or nothing for a name not implemented.
std::optional<Activation> activation_from_name(std::string_view name);
// Reference value in double.
double activation_reference(Activation act, double x);
// The kernels' fp32 value.
float activate(Activation act, float x);

// pre[rows, cols] += bias (when non-empty); post = act(pre). post may alias pre.
void bias_activation(std::span<float> pre, std::span<float> post, std::span<const float> bias,
                     int rows, int cols, Activation act);
// post[rows, cols] = act(gate) * up (a gated MLP: SwiGLU, GeGLU). post may alias gate or up.
void gated_activation(std::span<const float> gate, std::span<const float> up, std::span<float> post,
                      int rows, int cols, Activation act);

}  // namespace neurolens::model
