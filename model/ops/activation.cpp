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

// Exact GELU without a select: x Phi(x) = x / 2 + |x| / 2 * erf(|x| / sqrt 2) (x erf(x / sqrt 2)
// is even), erf(a) = 1 - poly(t) exp(-a^2), t = 1 / (1 + p a) (Abramowitz-Stegun 7.1.26, abs
// error 1.5e-7).
template <class O>
inline typename O::V gelu_erf_v(typename O::V x) {
  using V = typename O::V;
  const V ax = O::max(x, O::sub(O::set1(0.0f), x));
  const V a = O::mul(ax, O::set1(0.70710678118654752f));
  const V t = O::div(O::set1(1.0f), O::fmadd(a, O::set1(0.3275911f), O::set1(1.0f)));
  V poly = O::set1(1.061405429f);
  poly = O::fmadd(poly, t, O::set1(-1.453152027f));
  poly = O::fmadd(poly, t, O::set1(1.421413741f));
  poly = O::fmadd(poly, t, O::set1(-0.284496736f));
  poly = O::fmadd(poly, t, O::set1(0.254829592f));
  poly = O::mul(poly, t);
  const V e = exp_v<O>(O::sub(O::set1(0.0f), O::mul(a, a)));
  const V erf_a = O::sub(O::set1(1.0f), O::mul(poly, e));
  return O::mul(O::set1(0.5f), O::fmadd(ax, erf_a, x));
}

// x sigmoid(x) = x / (1 + exp(-x)).
template <class O>
inline typename O::V silu_v(typename O::V x) {
  const auto e = exp_v<O>(O::sub(O::set1(0.0f), x));
  return O::div(x, O::add(O::set1(1.0f), e));
}

template <class O>
inline typename O::V act_v(Activation act, typename O::V x) {
  switch (act) {
    case Activation::Gelu:
      return gelu_erf_v<O>(x);
    case Activation::Silu:
      return silu_v<O>(x);
    case Activation::GeluNew:
      break;
  }
  return gelu_v<O>(x);
}

template <class O, Activation A>
void bias_act_row(float* pre, float* post, const float* bias, int cols) {
  constexpr int W = O::kWidth;
  int i = 0;
  for (; i + W <= cols; i += W) {
    auto x = O::load(pre + i);
    if (bias) {
      x = O::add(x, O::load(bias + i));
      O::store(pre + i, x);
    }
    O::store(post + i, act_v<O>(A, x));
  }
  for (; i < cols; ++i) {
    float x = pre[i];
    if (bias) pre[i] = x = x + bias[i];
    post[i] = act_v<ScalarOps>(A, x);
  }
}

template <class O, Activation A>
void gated_row(const float* gate, const float* up, float* post, int cols) {
  constexpr int W = O::kWidth;
  int i = 0;
  for (; i + W <= cols; i += W) {
    O::store(post + i, O::mul(act_v<O>(A, O::load(gate + i)), O::load(up + i)));
  }
  for (; i < cols; ++i) post[i] = act_v<ScalarOps>(A, gate[i]) * up[i];
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

std::optional<Activation> activation_from_name(std::string_view name) {
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    return Activation::GeluNew;
  }
  if (name == "gelu") return Activation::Gelu;
  if (name == "silu" || name == "swish") return Activation::Silu;
  return std::nullopt;
}

double activation_reference(Activation act, double x) {
  switch (act) {
    case Activation::Gelu:
      return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2));
    case Activation::Silu:
      return x / (1.0 + std::exp(-x));
    case Activation::GeluNew:
      break;
  }
  return gelu_new_reference(x);
}

float activate(Activation act, float x) {
  return act_v<ScalarOps>(act, x);
}

void bias_activation(std::span<float> pre, std::span<float> post, std::span<const float> bias,
                     int rows, int cols, Activation act) {
  assert(pre.size() >= static_cast<std::size_t>(rows) * cols && post.size() >= pre.size());
  const float* b = bias.empty() ? nullptr : bias.data();
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * cols;
    float* p = pre.data() + off;
    float* q = post.data() + off;
    switch (act) {
      case Activation::GeluNew:
        bias_act_row<SimdOps, Activation::GeluNew>(p, q, b, cols);
        break;
      case Activation::Gelu:
        bias_act_row<SimdOps, Activation::Gelu>(p, q, b, cols);
        break;
      case Activation::Silu:
        bias_act_row<SimdOps, Activation::Silu>(p, q, b, cols);
        break;
    }
  }
}

void gated_activation(std::span<const float> gate, std::span<const float> up, std::span<float> post,
                      int rows, int cols, Activation act) {
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  assert(gate.size() >= n && up.size() >= n && post.size() >= n);
  (void)n;
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * cols;
    switch (act) {
      case Activation::GeluNew:
        gated_row<SimdOps, Activation::GeluNew>(gate.data() + off, up.data() + off,
                                                post.data() + off, cols);
        break;
      case Activation::Gelu:
        gated_row<SimdOps, Activation::Gelu>(gate.data() + off, up.data() + off, post.data() + off,
                                             cols);
        break;
      case Activation::Silu:
        gated_row<SimdOps, Activation::Silu>(gate.data() + off, up.data() + off, post.data() + off,
                                             cols);
        break;
    }
  }
}

}  // namespace neurolens::model
