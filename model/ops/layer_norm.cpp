#include "model/ops/layer_norm.hpp"

#include <cassert>
#include <cmath>

#include "model/ops/simd.hpp"

namespace neurolens::model {
namespace {

using ops_detail::SimdOps;

template <class O>
void layer_norm_row(const float* x, float* y, const float* gamma, const float* beta, int dim,
                    float eps) {
  using V = typename O::V;
  constexpr int W = O::kWidth;
  int i = 0;
  V acc = O::set1(0.0f);
  for (; i + W <= dim; i += W) acc = O::add(acc, O::load(x + i));
  float sum = O::hsum(acc);
  for (; i < dim; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(dim);
  const V vmean = O::set1(mean);
  acc = O::set1(0.0f);
  i = 0;
  for (; i + W <= dim; i += W) {
    const V d = O::sub(O::load(x + i), vmean);
    acc = O::fmadd(d, d, acc);
  }
  float sq = O::hsum(acc);
  for (; i < dim; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(dim) + eps);
  const V vr = O::set1(rstd);
  i = 0;
  for (; i + W <= dim; i += W) {
    const V d = O::mul(O::sub(O::load(x + i), vmean), vr);
    O::store(y + i, O::fmadd(d, O::load(gamma + i), O::load(beta + i)));
  }
  for (; i < dim; ++i) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
}

template <class O>
void rms_norm_row(const float* x, float* y, const float* gamma, int dim, float eps, float offset) {
  using V = typename O::V;
  constexpr int W = O::kWidth;
  int i = 0;
  V acc = O::set1(0.0f);
  for (; i + W <= dim; i += W) {
    const V v = O::load(x + i);
    acc = O::fmadd(v, v, acc);
  }
  float sq = O::hsum(acc);
  for (; i < dim; ++i) sq += x[i] * x[i];
  const float rrms = 1.0f / std::sqrt(sq / static_cast<float>(dim) + eps);
  const V vr = O::set1(rrms), voff = O::set1(offset);
  i = 0;
  for (; i + W <= dim; i += W) {
    O::store(y + i, O::mul(O::mul(O::load(x + i), vr), O::add(voff, O::load(gamma + i))));
  }
  for (; i < dim; ++i) y[i] = x[i] * rrms * (offset + gamma[i]);
}

}  // namespace

void rms_norm(std::span<const float> x, std::span<float> y, std::span<const float> gamma, int rows,
              int dim, float eps, float gamma_offset) {
  assert(x.size() >= static_cast<std::size_t>(rows) * dim && y.size() >= x.size());
  assert(gamma.size() >= static_cast<std::size_t>(dim));
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * dim;
    rms_norm_row<SimdOps>(x.data() + off, y.data() + off, gamma.data(), dim, eps, gamma_offset);
  }
}

void layer_norm(std::span<const float> x, std::span<float> y, std::span<const float> gamma,
                std::span<const float> beta, int rows, int dim, float eps) {
  assert(x.size() >= static_cast<std::size_t>(rows) * dim && y.size() >= x.size());
  assert(gamma.size() >= static_cast<std::size_t>(dim) && beta.size() >= gamma.size());
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * dim;
    layer_norm_row<SimdOps>(x.data() + off, y.data() + off, gamma.data(), beta.data(), dim, eps);
  }
}

}  // namespace neurolens::model
