#include "model/ops/bias.hpp"

#include <cassert>

#include "model/ops/simd.hpp"

namespace neurolens::model {
namespace {

using ops_detail::SimdOps;

}  // namespace

void add_bias(std::span<float> y, std::span<const float> bias, int rows, int cols, int ld) {
  using O = SimdOps;
  constexpr int W = O::kWidth;
  if (ld == 0) ld = cols;
  assert(y.size() >= static_cast<std::size_t>(rows - 1) * ld + cols);
  for (int r = 0; r < rows; ++r) {
    float* row = y.data() + static_cast<std::size_t>(r) * ld;
    int i = 0;
    for (; i + W <= cols; i += W) O::store(row + i, O::add(O::load(row + i), O::load(&bias[i])));
    for (; i < cols; ++i) row[i] += bias[i];
  }
}

void add_bias_residual(std::span<float> resid, std::span<float> y, std::span<const float> bias,
                       int rows, int cols) {
  using O = SimdOps;
  constexpr int W = O::kWidth;
  const bool has_bias = !bias.empty();
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * cols;
    float* yr = y.data() + off;
    float* rr = resid.data() + off;
    int i = 0;
    if (has_bias) {
      for (; i + W <= cols; i += W) {
        const auto v = O::add(O::load(yr + i), O::load(&bias[i]));
        O::store(yr + i, v);
        O::store(rr + i, O::add(O::load(rr + i), v));
      }
      for (; i < cols; ++i) {
        yr[i] += bias[i];
        rr[i] += yr[i];
      }
    } else {
      for (; i + W <= cols; i += W) O::store(rr + i, O::add(O::load(rr + i), O::load(yr + i)));
      for (; i < cols; ++i) rr[i] += yr[i];
    }
  }
}

}  // namespace neurolens::model
