#include "model/ops/activation.hpp"

#include <cassert>
#include <cmath>
#include <numbers>

#include "model/ops/simd.hpp"

namespace neurolens::model {
namespace {

using ops_detail::exp_v;
using ops_detail::ScalarOps;
using ops_detail::SimdOps;

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

void bias_gelu(std::span<float> pre, std::span<float> post, std::span<const float> bias, int rows,
               int cols) {
  assert(pre.size() >= static_cast<std::size_t>(rows) * cols && post.size() >= pre.size());
  const float* b = bias.empty() ? nullptr : bias.data();
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * cols;
    bias_gelu_row<SimdOps>(pre.data() + off, post.data() + off, b, cols);
  }
}

}  // namespace neurolens::model
