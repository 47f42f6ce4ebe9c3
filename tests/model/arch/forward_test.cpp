// Forward pass against the independent PyTorch reference (tests/reference/make_model_fixtures.py):
// every hook point of every fixture checkpoint within 1e-4, plus positions, early stop, batch
// independence, input errors and the kernels against double-precision formulas.
#include "model/arch/forward.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/load/checkpoint.hpp"
#include "model/load/safetensors.hpp"
#include "model/ops/kernels.hpp"

namespace neurolens::model {
namespace {

const std::filesystem::path kModels = std::filesystem::path(NEUROLENS_FIXTURES) / "models";
constexpr float kTolerance = 1e-4f;

struct Expected {
  int batch = 0, seq_len = 0;
  std::vector<int32_t> tokens;
  std::map<std::string, std::vector<float>> acts;  // hook name -> [B, T, width]
};

Expected read_expected(const std::string& variant) {
  SafetensorsFile f(kModels / (variant + ".activations.safetensors"));
  Expected e;
  for (const TensorInfo& t : f.tensors()) {
    if (t.name == "tokens") {
      EXPECT_EQ(t.dtype, DType::I32);
      e.batch = static_cast<int>(t.shape.at(0));
      e.seq_len = static_cast<int>(t.shape.at(1));
      e.tokens.resize(t.numel());
      std::memcpy(e.tokens.data(), f.data(t), t.nbytes);
    } else {
      e.acts[t.name] = to_f32(f, t);
    }
  }
  return e;
}

// Full capture of every hook point; returns name -> buffer.
std::map<std::string, std::vector<float>> capture(ForwardPass& fwd, const Model& m,
                                                  std::span<const int32_t> tokens, int batch,
                                                  int seq_len, const std::vector<HookPoint>& points,
                                                  std::span<const int> positions = {}) {
  std::map<std::string, std::vector<float>> out;
  std::vector<CaptureRequest> reqs;
  const std::size_t p = positions.empty() ? seq_len : positions.size();
  for (const HookPoint& pt : points) {
    auto& buf = out[hook_name(pt)];
    buf.assign(batch * p * hook_width(pt, m.config), std::nanf(""));
  }
  for (const HookPoint& pt : points) reqs.push_back({pt, out[hook_name(pt)].data()});
  fwd.run(tokens, batch, seq_len, reqs, positions);
  return out;
}

// Max abs error; reports the first mismatches (hook, index, expected, actual).
float compare(const std::string& what, const std::vector<float>& expected,
              const std::vector<float>& actual, float tol) {
  EXPECT_EQ(expected.size(), actual.size()) << what;
  float max_err = 0.0f;
  int reported = 0;
  for (std::size_t i = 0; i < std::min(expected.size(), actual.size()); ++i) {
    const float err = std::fabs(expected[i] - actual[i]);
    if (!(err <= tol)) {
      if (reported++ < 5) {
        ADD_FAILURE() << what << "[" << i << "]: expected " << expected[i] << ", actual "
                      << actual[i];
      }
      max_err = std::isnan(err) ? INFINITY : std::max(max_err, err);
    } else {
      max_err = std::max(max_err, err);
    }
  }
  return max_err;
}

class ForwardFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardFixture, EveryHookPointMatchesTheReference) {
  const std::string variant = GetParam();
  const Model m = load_model(kModels / variant);
  const Expected e = read_expected(variant);
  ASSERT_GT(e.batch, 0);
  const std::vector<HookPoint> all = all_hook_points(m.config);
  ASSERT_EQ(all.size(), e.acts.size()) << "the fixture and the model disagree on the hook set";
  ForwardPass fwd(m, e.batch, e.seq_len);
  const auto got = capture(fwd, m, e.tokens, e.batch, e.seq_len, all);
  float worst = 0.0f;
  std::string worst_hook;
  for (const HookPoint& p : all) {
    const std::string name = hook_name(p);
    auto it = e.acts.find(name);
    ASSERT_NE(it, e.acts.end()) << "fixture lacks " << name;
    const float err = compare(variant + " " + name, it->second, got.at(name), kTolerance);
    if (err > worst) worst = err, worst_hook = name;
  }
  std::printf("%s: %zu hook points, max abs error %.3g (%s)\n", variant.c_str(), all.size(), worst,
              worst_hook.c_str());
}

TEST_P(ForwardFixture, PositionSubsetEqualsSlicingTheFullCapture) {
  const std::string variant = GetParam();
  const Model m = load_model(kModels / variant);
  const Expected e = read_expected(variant);
  const std::vector<HookPoint> all = all_hook_points(m.config);
  ForwardPass fwd(m, e.batch, e.seq_len);
  const auto full = capture(fwd, m, e.tokens, e.batch, e.seq_len, all);
  const std::vector<int> positions = {e.seq_len - 1, 0, 7, 7, 3};
  const auto part = capture(fwd, m, e.tokens, e.batch, e.seq_len, all, positions);
  for (const HookPoint& p : all) {
    const std::string name = hook_name(p);
    const int w = hook_width(p, m.config);
    const auto& f = full.at(name);
    const auto& s = part.at(name);
    for (int b = 0; b < e.batch; ++b) {
      for (std::size_t i = 0; i < positions.size(); ++i) {
        for (int j = 0; j < w; ++j) {
          const float want = f[(static_cast<std::size_t>(b) * e.seq_len + positions[i]) * w + j];
          const float have = s[(b * positions.size() + i) * w + j];
          ASSERT_EQ(want, have) << name << " b=" << b << " pos=" << positions[i] << " j=" << j;
        }
      }
    }
  }
}

TEST_P(ForwardFixture, StoppingEarlyGivesIdenticalEarlierLayers) {
  const std::string variant = GetParam();
  const Model m = load_model(kModels / variant);
  const Expected e = read_expected(variant);
  ForwardPass fwd(m, e.batch, e.seq_len);
  const auto full = capture(fwd, m, e.tokens, e.batch, e.seq_len, all_hook_points(m.config));
  // Each single point alone (the pass stops right after it), then a few combinations.
  for (const HookPoint& p : all_hook_points(m.config)) {
    const auto one = capture(fwd, m, e.tokens, e.batch, e.seq_len, {p});
    ASSERT_EQ(one.at(hook_name(p)), full.at(hook_name(p))) << hook_name(p);
  }
  const std::vector<std::string> pats = {"blocks.*.mlp.hook_pre", "blocks.0.mlp.hook_post"};
  const auto pts = resolve_hook_patterns(pats, m.config);
  const auto some = capture(fwd, m, e.tokens, e.batch, e.seq_len, pts);
  for (const auto& [name, v] : some) EXPECT_EQ(v, full.at(name)) << name;
  // A run that stops early needs fewer GEMM FLOPs than the full model.
  const std::vector<HookPoint> first = {{HookSite::MlpPre, 0}};
  EXPECT_LT(fwd.gemm_flops(e.batch, e.seq_len, first),
            fwd.gemm_flops(e.batch, e.seq_len, m.config.n_layers - 1));
  EXPECT_EQ(fwd.gemm_flops(e.batch, e.seq_len, all_hook_points(m.config)),
            fwd.gemm_flops(e.batch, e.seq_len, m.config.n_layers - 1));
}

TEST_P(ForwardFixture, SequencesAreIndependentOfBatchAndOfLaterTokens) {
  const std::string variant = GetParam();
  const Model m = load_model(kModels / variant);
  const Expected e = read_expected(variant);
  const std::vector<std::string> pats = {"blocks.*.hook_resid_post", "blocks.*.attn.hook_z"};
  const auto pts = resolve_hook_patterns(pats, m.config);
  ForwardPass fwd(m, e.batch, e.seq_len);
  const auto full = capture(fwd, m, e.tokens, e.batch, e.seq_len, pts);
  // Sequence 1 alone, truncated to its first 10 tokens: causal, so the prefix is unchanged.
  const int t = 10;
  std::span<const int32_t> seq1(e.tokens.data() + e.seq_len, t);
  const auto alone = capture(fwd, m, seq1, 1, t, pts);
  for (const HookPoint& p : pts) {
    const int w = hook_width(p, m.config);
    const auto& f = full.at(hook_name(p));
    std::vector<float> want(f.begin() + e.seq_len * w, f.begin() + (e.seq_len + t) * w);
    compare(variant + " alone " + hook_name(p), want, alone.at(hook_name(p)), 1e-5f);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardFixture,
                         ::testing::Values("gpt2_f32", "gpt2_f16_sharded", "gpt2_bf16",
                                           "gpt_neo_f32", "gpt_neo_bf16_sharded", "gpt_neo_f16"));
INSTANTIATE_TEST_SUITE_P(NeoxFixtures, ForwardFixture,
                         ::testing::Values("neox_parallel_f32", "neox_sequential_bf16_sharded",
                                           "neox_f16"));

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Forward, InputErrorsAreClear) {
  const Model m = load_model(kModels / "gpt2_f32");
  ForwardPass fwd(m, 2, 24);
  std::vector<float> out(2 * 64 * m.config.d_mlp);
  const CaptureRequest req{{HookSite::MlpPre, 0}, out.data()};
  std::vector<int32_t> tokens(2 * 24, 1);
  tokens[30] = m.config.n_vocab;
  std::string e = error_of([&] { fwd.run(tokens, 2, 24, {&req, 1}); });
  EXPECT_NE(e.find("token id 512 at sequence 1, position 6 is outside the vocabulary"),
            std::string::npos)
      << e;
  tokens[30] = -1;
  EXPECT_NE(error_of([&] {
              fwd.run(tokens, 2, 24, {&req, 1});
            }).find("outside the vocabulary"),
            std::string::npos);
  tokens[30] = 3;
  std::vector<int32_t> long_tokens(65, 1);
  e = error_of([&] { fwd.run(long_tokens, 1, 65, {&req, 1}); });
  EXPECT_NE(e.find("longer than the position table (64 positions)"), std::string::npos) << e;
  e = error_of([&] { ForwardPass too_long(m, 1, 65); });
  EXPECT_NE(e.find("exceeds the position table"), std::string::npos) << e;
  e = error_of([&] { fwd.run(tokens, 3, 16, {&req, 1}); });
  EXPECT_NE(e.find("batch 3 outside 1..2"), std::string::npos) << e;
  e = error_of([&] { fwd.run(tokens, 2, 20, {&req, 1}); });
  EXPECT_NE(e.find("token ids"), std::string::npos) << e;
  const std::vector<int> bad_pos = {24};
  e = error_of([&] { fwd.run(tokens, 2, 24, {&req, 1}, bad_pos); });
  EXPECT_NE(e.find("capture position 24 outside 0..23"), std::string::npos) << e;
  const CaptureRequest beyond{{HookSite::MlpPre, 3}, out.data()};
  e = error_of([&] { fwd.run(tokens, 2, 24, {&beyond, 1}); });
  EXPECT_NE(e.find("blocks.3.mlp.hook_pre"), std::string::npos) << e;
  const CaptureRequest null_out{{HookSite::MlpPre, 0}, nullptr};
  EXPECT_THROW(fwd.run(tokens, 2, 24, {&null_out, 1}), Error);
}

// ---- Kernels against double-precision formulas.
TEST(Kernels, GeluNewMatchesTheTanhFormula) {
  double worst = 0.0;
  for (double x = -30.0; x <= 30.0; x += 1.0 / 1024) {
    const double want = gelu_new_reference(static_cast<float>(x));
    const double got = gelu_new(static_cast<float>(x));
    const double err = std::fabs(got - want) / std::max(1.0, std::fabs(want));
    worst = std::max(worst, err);
  }
  EXPECT_LT(worst, 5e-7);
  // The vector path (bias_gelu) equals the scalar one and adds the bias.
  std::vector<float> pre(3 * 37), post(pre.size()), bias(37);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (float& v : pre) v = nd(rng);
  for (float& v : bias) v = nd(rng);
  std::vector<float> orig = pre;
  bias_gelu(pre, post, bias, 3, 37);
  for (std::size_t i = 0; i < pre.size(); ++i) {
    ASSERT_EQ(pre[i], orig[i] + bias[i % 37]);
    ASSERT_NEAR(post[i], gelu_new_reference(pre[i]), 5e-7 * std::max(1.0f, std::fabs(pre[i])));
  }
  EXPECT_EQ(gelu_new(0.0f), 0.0f);
  EXPECT_EQ(gelu_new(100.0f), 100.0f);
  EXPECT_LE(std::fabs(gelu_new(-100.0f)), 1e-30f);
  EXPECT_LE(std::fabs(gelu_new(-1e4f)), 1e-30f);
}

TEST(Kernels, ExpIsAccurate) {
  double worst = 0.0;
  for (double x = -87.0; x <= 88.0; x += 1.0 / 512) {
    const double want = std::exp(static_cast<double>(static_cast<float>(x)));
    worst = std::max(worst, std::fabs(fast_exp(static_cast<float>(x)) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);
}

TEST(Kernels, LayerNormMatchesDouble) {
  const int rows = 5, dim = 77;
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(1.0f, 2.0f);
  std::vector<float> x(rows * dim), y(x.size()), g(dim), b(dim);
  for (float& v : x) v = nd(rng);
  for (float& v : g) v = nd(rng);
  for (float& v : b) v = nd(rng);
  layer_norm(x, y, g, b, rows, dim, 1e-5f);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int i = 0; i < dim; ++i) mean += x[r * dim + i];
    mean /= dim;
    for (int i = 0; i < dim; ++i) var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
    var /= dim;
    for (int i = 0; i < dim; ++i) {
      const double want = (x[r * dim + i] - mean) / std::sqrt(var + 1e-5) * g[i] + b[i];
      ASSERT_NEAR(y[r * dim + i], want, 2e-5) << r << "," << i;
    }
  }
}

// Naive double attention for one head with window (0 = global).
std::vector<double> naive_attention(const std::vector<float>& q, const std::vector<float>& k,
                                    const std::vector<float>& v, int t, int dh, double scale,
                                    int window) {
  std::vector<double> z(t * dh, 0.0);
  for (int i = 0; i < t; ++i) {
    std::vector<double> s(t, -INFINITY);
    double mx = -INFINITY;
    for (int j = 0; j <= i; ++j) {
      if (window > 0 && j <= i - window) continue;
      double acc = 0;
      for (int c = 0; c < dh; ++c) acc += static_cast<double>(q[i * dh + c]) * k[j * dh + c];
      s[j] = acc * scale;
      mx = std::max(mx, s[j]);
    }
    double sum = 0;
    for (int j = 0; j < t; ++j) sum += s[j] == -INFINITY ? 0 : std::exp(s[j] - mx);
    for (int j = 0; j < t; ++j) {
      if (s[j] == -INFINITY) continue;
      const double p = std::exp(s[j] - mx) / sum;
      for (int c = 0; c < dh; ++c) z[i * dh + c] += p * v[j * dh + c];
    }
  }
  return z;
}

TEST(Kernels, TiledAttentionMatchesNaiveGlobalAndLocal) {
  // head_dim 16: keys packed once per head (gemm_f32_pack_rhs) where the CPU has AVX-512F;
  // head_dim 400 (> kGemmPackedMaxInner): the per-tile gemm_f32 path.
  for (const int dh : {16, 400}) {
    const int t = 300;  // several query tiles, last one partial
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> q(t * dh), k(t * dh), v(t * dh), z(t * dh);
    for (auto* vec : {&q, &k, &v}) {
      for (float& x : *vec) x = nd(rng);
    }
    std::vector<float> scratch(attention_scratch_size(t, dh));
    const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
    for (int window : {0, 1, 5, 130, 256}) {
      attention_head(q.data(), k.data(), v.data(), dh, z.data(), dh, t, dh, scale, window, scratch);
      const auto want = naive_attention(q, k, v, t, dh, scale, window);
      for (int i = 0; i < t * dh; ++i) {
        ASSERT_NEAR(z[i], want[i], 1e-5)
            << "head_dim " << dh << " window " << window << " index " << i;
      }
    }
  }
  EXPECT_EQ(attention_key_range(256, 300, 0), (std::pair<int, int>{0, 300}));
  EXPECT_EQ(attention_key_range(256, 300, 5), (std::pair<int, int>{252, 300}));
}

// The Llama family (tests/reference/make_llama_fixtures.py): GQA with llama3 rope scaling; an
// explicit head_dim, tied embeddings, biases, linear rope, bf16 shards; Mistral's sliding window;
// Qwen2's q/k/v biases in f16; Gemma's (1 + w) norms, GeGLU and embedding scale; Gemma 2's
// sandwich norms, soft-capping and alternating windows.
INSTANTIATE_TEST_SUITE_P(LlamaFixtures, ForwardFixture,
                         ::testing::Values("llama_gqa_f32", "llama_tied_bf16_sharded",
                                           "mistral_f32", "qwen2_f16", "gemma_f32", "gemma2_f32"));

}  // namespace
}  // namespace neurolens::model
