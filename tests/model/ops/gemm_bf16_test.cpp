// The bf16 GEMM (model/ops/gemm_bf16.hpp) against a double-precision reference on the bf16-rounded
// inputs (both weight layouts, edge shapes, blocking), its rounding against the scalar RNE
// reference, and the Bf16 forward pass against the Fp32 one on the fixture checkpoints (the
// measured per-hook errors are in bench/results/bf16.md). Skipped on CPUs without AVX512_BF16.
#include "model/ops/gemm_bf16.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/arch/forward.hpp"
#include "model/load/checkpoint.hpp"
#include "model/ops/half.hpp"

namespace neurolens::model {
namespace {

#define SKIP_WITHOUT_BF16() \
  if (!bf16_compute_supported()) GTEST_SKIP() << "this CPU has no AVX512_BF16"

float round_bf16(float v) {
  return bf16_to_f32(f32_to_bf16(v));
}

// W(k, n) of a Linear view.
float weight_at(const Linear& w, int k, int n) {
  return w.out_in ? w.weight[static_cast<std::size_t>(n) * w.ld + k]
                  : w.weight[static_cast<std::size_t>(k) * w.ld + n];
}

struct Case {
  int rows, in, out;
  bool out_in;
};

std::string describe(const Case& c) {
  return "rows " + std::to_string(c.rows) + " in " + std::to_string(c.in) + " out " +
         std::to_string(c.out) + (c.out_in ? " [out, in]" : " [in, out]");
}

// Runs gemm_bf16 on random data with padded leading dimensions and checks every element against
// sum_k bf16(x) bf16(W) in double, tolerance 1e-5 * sum_k |bf16(x)| |bf16(W)|. Returns failures.
int check_case(const Case& c, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int ldx = c.in + 3, ldy = c.out + 5;
  const int ldw = (c.out_in ? c.in : c.out) + 2;
  std::vector<float> x(static_cast<std::size_t>(c.rows) * ldx),
      w(static_cast<std::size_t>(c.out_in ? c.out : c.in) * ldw);
  for (float& v : x) v = nd(rng);
  for (float& v : w) v = nd(rng) * 0.1f;
  const Linear lin{w.data(), nullptr, c.in, c.out, ldw, c.out_in};
  const PackedBf16Matrix packed(lin);
  EXPECT_EQ(packed.in(), c.in);
  EXPECT_EQ(packed.out(), c.out);
  std::vector<std::uint16_t> scratch(gemm_bf16_scratch_size(packed, c.rows));
  constexpr float kSentinel = -12345.0f;
  std::vector<float> y(static_cast<std::size_t>(c.rows) * ldy, kSentinel);
  gemm_bf16(packed, x.data(), ldx, c.rows, y.data(), ldy, scratch);

  std::vector<double> wr(static_cast<std::size_t>(c.in) * c.out);  // rounded W, [in, out]
  for (int k = 0; k < c.in; ++k) {
    for (int n = 0; n < c.out; ++n)
      wr[static_cast<std::size_t>(k) * c.out + n] = round_bf16(weight_at(lin, k, n));
  }
  int failures = 0;
  std::vector<double> xr(c.in), ref(c.out), mag(c.out);
  for (int r = 0; r < c.rows; ++r) {
    for (int k = 0; k < c.in; ++k) xr[k] = round_bf16(x[static_cast<std::size_t>(r) * ldx + k]);
    std::fill(ref.begin(), ref.end(), 0.0);
    std::fill(mag.begin(), mag.end(), 0.0);
    for (int k = 0; k < c.in; ++k) {
      const double* wk = wr.data() + static_cast<std::size_t>(k) * c.out;
      for (int n = 0; n < c.out; ++n) {
        ref[n] += xr[k] * wk[n];
        mag[n] += std::fabs(xr[k] * wk[n]);
      }
    }
    const float* yr = y.data() + static_cast<std::size_t>(r) * ldy;
    for (int n = 0; n < c.out; ++n) {
      const double err = std::fabs(yr[n] - ref[n]);
      if (!(err <= 1e-5 * mag[n] + 1e-30)) {
        if (failures++ < 5) {
          ADD_FAILURE() << describe(c) << ": y[" << r << ", " << n << "] = " << yr[n]
                        << ", reference " << ref[n] << " (error " << err << ", sum |a||b| "
                        << mag[n] << ")";
        }
      }
    }
    for (int n = c.out; n < ldy; ++n) {
      if (yr[n] != kSentinel && failures++ < 5) {
        ADD_FAILURE() << describe(c) << ": wrote past out at y[" << r << ", " << n << "]";
      }
    }
  }
  return failures;
}

TEST(GemmBf16, MatchesDoubleReferenceOnRoundedInputs) {
  SKIP_WITHOUT_BF16();
  std::mt19937 rng(5);
  int cases = 0;
  for (bool out_in : {false, true}) {
    for (int rows : {1, 13, 100}) {
      for (int in : {7, 769}) {
        for (int out : {1, 31, 33, 3072}) {
          ASSERT_EQ(check_case({rows, in, out, out_in}, rng), 0);
          ++cases;
        }
      }
    }
    // Several row blocks, several (unequal-remainder) k blocks, a partial last panel.
    ASSERT_EQ(check_case({203, 2101, 70, out_in}, rng), 0);
    ASSERT_EQ(check_case({97, 48, 48, out_in}, rng), 0);
    cases += 2;
  }
  std::printf("%d shapes checked\n", cases);
}

TEST(GemmBf16, ConcatenatedPartsEqualOneMatrixPerPart) {
  SKIP_WITHOUT_BF16();
  // GPT-Neo's q, k, v ([out, in]) packed as one [in, 3 out]; mixed layouts allowed.
  const int rows = 29, in = 40, out = 24;
  std::mt19937 rng(6);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(rows * in), wq(out * in), wk(out * in), wv(in * out);
  for (auto* v : {&x, &wq, &wk, &wv}) {
    for (float& e : *v) e = nd(rng);
  }
  const Linear parts[] = {{wq.data(), nullptr, in, out, in, true},
                          {wk.data(), nullptr, in, out, in, true},
                          {wv.data(), nullptr, in, out, out, false}};
  const PackedBf16Matrix fused(parts);
  ASSERT_EQ(fused.out(), 3 * out);
  std::vector<std::uint16_t> scratch(gemm_bf16_scratch_size(fused, rows));
  std::vector<float> y(rows * 3 * out), part(rows * out);
  gemm_bf16(fused, x.data(), in, rows, y.data(), 3 * out, scratch);
  for (int i = 0; i < 3; ++i) {
    const PackedBf16Matrix one(parts[i]);
    std::vector<std::uint16_t> s1(gemm_bf16_scratch_size(one, rows));
    gemm_bf16(one, x.data(), in, rows, part.data(), out, s1);
    for (int r = 0; r < rows; ++r) {
      for (int n = 0; n < out; ++n) {
        ASSERT_EQ(y[r * 3 * out + i * out + n], part[r * out + n]) << i << " " << r << " " << n;
      }
    }
  }
}

TEST(GemmBf16, ErrorsAreClear) {
  SKIP_WITHOUT_BF16();
  std::vector<float> w(8 * 4, 1.0f), x(3 * 8), y(3 * 4);
  const PackedBf16Matrix p(Linear{w.data(), nullptr, 8, 4, 4, false});
  std::vector<std::uint16_t> small(gemm_bf16_scratch_size(p, 3) - 1);
  try {
    gemm_bf16(p, x.data(), 8, 3, y.data(), 4, small);
    ADD_FAILURE() << "no error for too little scratch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gemm_bf16_scratch_size"), std::string::npos) << e.what();
  }
  std::vector<std::uint16_t> scratch(gemm_bf16_scratch_size(p, 3));
  EXPECT_THROW(gemm_bf16(p, x.data(), 7, 3, y.data(), 4, scratch), Error);  // ldx < in
  EXPECT_THROW(gemm_bf16(PackedBf16Matrix(), x.data(), 8, 3, y.data(), 4, scratch), Error);
  const Linear mixed[] = {{w.data(), nullptr, 8, 4, 4, false}, {w.data(), nullptr, 4, 8, 8, false}};
  EXPECT_THROW(PackedBf16Matrix{mixed}, Error);
  EXPECT_THROW(PackedBf16Matrix(Linear{w.data(), nullptr, 8, 4, 3, false}), Error);  // ld < out
  gemm_bf16(p, x.data(), 8, 0, y.data(), 4, scratch);  // no rows: nothing to do
}

// The scalar reference (model/ops/half.hpp, RNE keeping subnormals) with the instruction's
// subnormal-input flush.
std::uint16_t reference_bf16(float v) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
  if ((bits & 0x7f800000u) == 0) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  return f32_to_bf16(v);
}

TEST(GemmBf16, RoundingIsNearestTiesToEven) {
  SKIP_WITHOUT_BF16();
  std::vector<float> v;
  // Ties (low half exactly 0x8000) with even and odd kept halves, just below / above ties,
  // carries into the exponent, the largest finite values (round to infinity), specials.
  for (std::uint32_t hi :
       {0x3f80u, 0x3f81u, 0x4049u, 0xbf80u, 0xbf81u, 0x7f7fu, 0xff7fu, 0x3fffu, 0x0080u, 0x8081u}) {
    for (std::uint32_t lo : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) {
      v.push_back(std::bit_cast<float>(hi << 16 | lo));
    }
  }
  v.push_back(INFINITY);
  v.push_back(-INFINITY);
  v.push_back(0.0f);
  v.push_back(-0.0f);
  v.push_back(std::bit_cast<float>(0x00400000u));  // subnormal
  v.push_back(std::bit_cast<float>(0x807fffffu));  // negative subnormal
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i)
    v.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
  std::vector<std::uint16_t> got(v.size());
  convert_to_bf16(v, got);
  int bad = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v[i]);
    if (std::isnan(v[i])) {
      if (!std::isnan(bf16_to_f32(got[i])) && bad++ < 5) {
        ADD_FAILURE() << std::hex << "NaN 0x" << bits << " -> 0x" << got[i];
      }
      continue;
    }
    if (got[i] != reference_bf16(v[i]) && bad++ < 5) {
      ADD_FAILURE() << std::hex << "0x" << bits << " -> 0x" << got[i] << ", RNE reference 0x"
                    << reference_bf16(v[i]);
    }
  }
  EXPECT_EQ(bad, 0);
  // Exact ties go to the even neighbour: 1 + 2^-8 -> 1, 1 + 3 * 2^-8 -> 1 + 2^-6.
  EXPECT_EQ(reference_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);
  EXPECT_EQ(reference_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);

  // gemm_bf16 rounds x (and the packing rounds W) the same way: y = x * 1 and y = 1 * W.
  const int rows = 64;
  std::vector<float> x(rows * 2), one = {1.0f, 0.0f}, y(rows);
  for (int r = 0; r < rows; ++r) x[r * 2] = v[r], x[r * 2 + 1] = 0.0f;
  const PackedBf16Matrix p(Linear{one.data(), nullptr, 2, 1, 1, false});
  std::vector<std::uint16_t> scratch(gemm_bf16_scratch_size(p, rows));
  gemm_bf16(p, x.data(), 2, rows, y.data(), 1, scratch);
  for (int r = 0; r < rows; ++r) {
    if (std::isinf(v[r]) || std::fabs(v[r]) > 1e38f) continue;  // inf * 0 padding is NaN
    EXPECT_EQ(y[r], bf16_to_f32(reference_bf16(v[r]))) << std::hex << x[r * 2];
  }
  std::vector<float> w(v.begin(), v.begin() + 40), ones = {1.0f, 0.0f};
  const PackedBf16Matrix pw(Linear{w.data(), nullptr, 1, 40, 40, false});
  std::vector<float> yw(40);
  std::vector<std::uint16_t> s2(gemm_bf16_scratch_size(pw, 1));
  gemm_bf16(pw, ones.data(), 1, 1, yw.data(), 40, s2);
  for (int n = 0; n < 40; ++n) {
    if (std::isinf(v[n]) || std::fabs(v[n]) > 1e38f) continue;
    EXPECT_EQ(yw[n], bf16_to_f32(f32_to_bf16(v[n]))) << n;
  }
}

// ---- The Bf16 forward pass against the Fp32 one.
const std::filesystem::path kModels = std::filesystem::path(NEUROLENS_FIXTURES) / "models";

std::map<std::string, std::vector<float>> capture_all(ForwardPass& fwd, const Model& m,
                                                      const std::vector<int32_t>& tokens, int batch,
                                                      int seq_len) {
  std::map<std::string, std::vector<float>> out;
  std::vector<CaptureRequest> reqs;
  const std::vector<HookPoint> points = all_hook_points(m.config);
  for (const HookPoint& p : points) {
    out[hook_name(p)].assign(static_cast<std::size_t>(batch) * seq_len * hook_width(p, m.config),
                             std::nanf(""));
  }
  for (const HookPoint& p : points) reqs.push_back({p, out[hook_name(p)].data()});
  fwd.run(tokens, batch, seq_len, reqs);
  return out;
}

// Measured on the six fixtures (bench/results/bf16.md): worst max abs error / RMS(fp32) per
// hook 0.042 (mlp.hook_post), worst RMS error / RMS 0.0063 (mlp_out); ~2x headroom each.
constexpr double kMaxErrorOverRms = 0.08;
constexpr double kRmsErrorOverRms = 0.015;

class Bf16Forward : public ::testing::TestWithParam<std::string> {};

TEST_P(Bf16Forward, EveryHookPointIsCloseToFp32) {
  SKIP_WITHOUT_BF16();
  const std::string variant = GetParam();
  const Model m = load_model(kModels / variant);
  const int batch = 2, seq_len = 64;
  std::vector<int32_t> tokens(batch * seq_len);
  std::mt19937 rng(9);
  std::uniform_int_distribution<int32_t> tok(0, m.config.n_vocab - 1);
  for (int32_t& t : tokens) t = tok(rng);

  ForwardPass fp32(m, batch, seq_len);
  EXPECT_EQ(fp32.precision(), Precision::Fp32);
  EXPECT_EQ(fp32.packed_bytes(), 0u);
  ForwardPass explicit_fp32(m, batch, seq_len, Precision::Fp32);
  ForwardPass bf16(m, batch, seq_len, Precision::Bf16);
  EXPECT_EQ(bf16.precision(), Precision::Bf16);
  EXPECT_GT(bf16.packed_bytes(), 0u);
  // The dry run's estimate without packing: exactly what the pass packed.
  EXPECT_EQ(ForwardPass::packed_bytes_for(m.config, Precision::Bf16), bf16.packed_bytes());
  EXPECT_EQ(ForwardPass::packed_bytes_for(m.config, Precision::Fp32), 0u);
  EXPECT_GT(ForwardPass::private_bytes_for(m.config, batch, seq_len, Precision::Bf16),
            bf16.packed_bytes());
  const auto a = capture_all(fp32, m, tokens, batch, seq_len);
  const auto a2 = capture_all(explicit_fp32, m, tokens, batch, seq_len);
  const auto b = capture_all(bf16, m, tokens, batch, seq_len);
  EXPECT_EQ(a, a2) << "the default is not exactly Fp32";
  double worst = 0.0, worst_rms = 0.0;
  for (const HookPoint& p : all_hook_points(m.config)) {
    const std::string name = hook_name(p);
    const std::vector<float>& want = a.at(name);
    const std::vector<float>& got = b.at(name);
    double sq = 0.0, sq_err = 0.0, max_err = 0.0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      sq += static_cast<double>(want[i]) * want[i];
      const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
      sq_err += err * err;
      max_err = std::isnan(err) ? INFINITY : std::max(max_err, err);
    }
    const double rms = std::sqrt(sq / static_cast<double>(want.size()));
    const double rms_err = std::sqrt(sq_err / static_cast<double>(want.size()));
    const double rel = max_err / rms;
    worst = std::max(worst, rel);
    worst_rms = std::max(worst_rms, rms_err / rms);
    std::printf("bf16-vs-fp32 | %s | %s | %.3g | %.3g | %.3g | %.4f | %.4f |\n", variant.c_str(),
                name.c_str(), max_err, rms_err, rms, rel, rms_err / rms);
    EXPECT_LE(rms_err / rms, kRmsErrorOverRms) << variant << " " << name;
    EXPECT_LE(rel, kMaxErrorOverRms)
        << variant << " " << name << ": max abs error " << max_err << " vs RMS " << rms;
  }
  std::printf("bf16-vs-fp32 %s: worst max/rms %.4f, worst rms-err/rms %.4f\n", variant.c_str(),
              worst, worst_rms);
}

TEST_P(Bf16Forward, StoppingEarlyAndBatchingChangeNothing) {
  SKIP_WITHOUT_BF16();
  const std::string variant = GetParam();
  const Model m = load_model(kModels / variant);
  const int batch = 3, seq_len = 40;
  std::vector<int32_t> tokens(batch * seq_len);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i * 7 % 500);
  ForwardPass fwd(m, batch, seq_len, Precision::Bf16);
  const auto full = capture_all(fwd, m, tokens, batch, seq_len);
  for (const HookPoint& p : all_hook_points(m.config)) {
    std::vector<float> one(full.at(hook_name(p)).size());
    const CaptureRequest req{p, one.data()};
    fwd.run(tokens, batch, seq_len, {&req, 1});
    ASSERT_EQ(one, full.at(hook_name(p))) << hook_name(p);
  }
  // The last sequence alone: the bf16 GEMM is row-independent; attention sgemm may differ in
  // the last bits.
  const std::vector<int32_t> last(tokens.end() - seq_len, tokens.end());
  const auto alone = capture_all(fwd, m, last, 1, seq_len);
  for (const auto& [name, v] : alone) {
    const auto& f = full.at(name);
    const std::size_t w = v.size();
    for (std::size_t i = 0; i < w; ++i) {
      ASSERT_NEAR(v[i], f[f.size() - w + i], 1e-5f * std::max(1.0f, std::fabs(v[i]))) << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Bf16Forward,
                         ::testing::Values("gpt2_f32", "gpt2_f16_sharded", "gpt2_bf16",
                                           "gpt_neo_f32", "gpt_neo_bf16_sharded", "gpt_neo_f16"));
INSTANTIATE_TEST_SUITE_P(NeoxFixtures, Bf16Forward,
                         ::testing::Values("neox_parallel_f32", "neox_sequential_bf16_sharded",
                                           "neox_f16"));

TEST(Bf16Forward, UnsupportedCpuIsAClearError) {
  if (bf16_compute_supported()) GTEST_SKIP() << "this CPU has AVX512_BF16";
  const Model m = load_model(kModels / "gpt2_f32");
  try {
    ForwardPass fwd(m, 1, 8, Precision::Bf16);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no AVX512_BF16"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("use compute = fp32"), std::string::npos) << e.what();
  }
  EXPECT_EQ(std::string(precision_name(Precision::Bf16)), "bf16");
}

}  // namespace
}  // namespace neurolens::model
