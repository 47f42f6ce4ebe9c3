// Activation kernels against their double references: gelu_new, exact GELU and SiLU, plain,
// fused with a bias and gated (act(gate) * up), on every SIMD width's tail.
#include "model/ops/activation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace neurolens::model {
namespace {

std::vector<float> inputs() {
  std::vector<float> x;
  for (int i = -4000; i <= 4000; ++i) x.push_back(static_cast<float>(i) * 0.0025f);  // [-10, 10]
  for (float v : {-80.0f, -30.0f, 30.0f, 80.0f, 1e-6f, -1e-6f, 0.0f}) x.push_back(v);
  return x;
}

TEST(Activation, NamesFromConfigJson) {
  EXPECT_EQ(activation_from_name("gelu_new"), Activation::GeluNew);
  EXPECT_EQ(activation_from_name("gelu_pytorch_tanh"), Activation::GeluNew);
  EXPECT_EQ(activation_from_name("gelu"), Activation::Gelu);
  EXPECT_EQ(activation_from_name("silu"), Activation::Silu);
  EXPECT_EQ(activation_from_name("swish"), Activation::Silu);
  EXPECT_FALSE(activation_from_name("relu2").has_value());
}

TEST(Activation, KernelsMatchDoubleReferences) {
  const std::vector<float> x = inputs();
  const int cols = static_cast<int>(x.size());
  for (Activation act : {Activation::GeluNew, Activation::Gelu, Activation::Silu}) {
    std::vector<float> pre = x, post(x.size()), up(x.size(), 1.5f), gated(x.size());
    bias_activation(pre, post, {}, 1, cols, act);
    gated_activation(x, up, gated, 1, cols, act);
    int bad = 0;
    for (int i = 0; i < cols && bad < 5; ++i) {
      const double ref = activation_reference(act, x[i]);
      const double tol = 2e-6 * std::max(1.0, std::abs(ref)) + 3e-7 * std::abs(x[i]);
      if (std::abs(post[i] - ref) > tol || std::abs(gated[i] - 1.5 * ref) > 1.5 * tol ||
          std::abs(activate(act, x[i]) - ref) > tol) {
        ADD_FAILURE() << "act " << static_cast<int>(act) << " x " << x[i] << ": kernel " << post[i]
                      << " gated " << gated[i] << " reference " << ref;
        ++bad;
      }
    }
  }
}

TEST(Activation, BiasIsAddedInPlaceBeforeTheActivation) {
  std::vector<float> pre = {0.5f, -1.0f, 2.0f}, post(3);
  const std::vector<float> bias = {0.5f, 1.0f, -4.0f};
  bias_activation(pre, post, bias, 1, 3, Activation::Silu);
  EXPECT_FLOAT_EQ(pre[0], 1.0f);
  EXPECT_FLOAT_EQ(pre[1], 0.0f);
  EXPECT_FLOAT_EQ(pre[2], -2.0f);
  EXPECT_NEAR(post[0], activation_reference(Activation::Silu, 1.0), 1e-6);
  EXPECT_NEAR(post[2], activation_reference(Activation::Silu, -2.0), 1e-6);
}

}  // namespace
}  // namespace neurolens::model
