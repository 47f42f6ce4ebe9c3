// fp32 GEMM alone: model/gemm_f32 (own AVX-512 kernel where the CPU has it) against OpenBLAS
// cblas_sgemm on the forward pass's shapes, one thread, best of the repeats, GFLOP/s and ratio.
// Shapes: GPT-2 small / medium weight layers on N = 2048 rows (Conv1D [in, out] and nn.Linear
// [out, in] layouts) and the attention tiles (128 queries, 1024 keys, head_dim 64 and 32).
//   build-perf/bench/gemm_bench [reps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "model/ops/gemm_f32.hpp"

namespace nm = neurolens::model;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Case {
  std::string name;
  nm::GemmShape shape;
  bool transposed;
};

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  std::printf("gemm_f32 own AVX-512 kernel: %s\n", nm::f32_avx512_supported() ? "yes" : "no");
  const std::vector<Case> cases = {
      {"gpt2-small qkv   [2048,768]x[768,2304]", {2048, 2304, 768}, false},
      {"gpt2-small c_fc  [2048,768]x[768,3072]", {2048, 3072, 768}, false},
      {"gpt2-small c_proj [2048,3072]x[3072,768]", {2048, 768, 3072}, false},
      {"gpt2-small attn_out [2048,768]x[768,768]", {2048, 768, 768}, false},
      {"neo c_fc (nn.Linear) [2048,768]x[3072,768]^T", {2048, 3072, 768}, true},
      {"gpt2-medium c_fc [512,1024]x[1024,4096]", {512, 4096, 1024}, false},
      {"attn QK^T dh64 [128,64]x[1024,64]^T", {128, 1024, 64}, true},
      {"attn PV dh64 [128,1024]x[1024,64]", {128, 64, 1024}, false},
      {"attn QK^T dh32 [128,32]x[1024,32]^T", {128, 1024, 32}, true},
      {"attn PV dh32 [128,1024]x[1024,32]", {128, 32, 1024}, false},
  };
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  double worst_rel = 0.0;
  for (const Case& c : cases) {
    const auto [rows, cols, inner] = c.shape;
    std::vector<float> x(static_cast<size_t>(rows) * inner), w(static_cast<size_t>(inner) * cols);
    for (float& v : x) v = normal(rng);
    for (float& v : w) v = normal(rng) * 0.05f;
    const int ldb = c.transposed ? inner : cols;
    std::vector<float> y_own(static_cast<size_t>(rows) * cols), y_blas(y_own.size());
    std::vector<float> scratch(nm::gemm_f32_scratch_size(c.shape));
    // Small shapes repeat more so each timing is at least a few ms.
    const double flops = 2.0 * rows * cols * static_cast<double>(inner);
    const int inner_reps = std::max(1, static_cast<int>(2e9 / flops));
    double t_own = 1e30, t_blas = 1e30;
    for (int r = 0; r < reps + 1; ++r) {
      double t0 = now();
      for (int i = 0; i < inner_reps; ++i) {
        nm::gemm_f32(c.shape, x.data(), inner, {w.data(), ldb, c.transposed}, y_own.data(), cols,
                     scratch);
      }
      if (r > 0) t_own = std::min(t_own, (now() - t0) / inner_reps);
      t0 = now();
      for (int i = 0; i < inner_reps; ++i) {
        nm::gemm_f32_blas(c.shape, x.data(), inner, {w.data(), ldb, c.transposed}, y_blas.data(),
                          cols);
      }
      if (r > 0) t_blas = std::min(t_blas, (now() - t0) / inner_reps);
    }
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < y_own.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(y_own[i] - y_blas[i])));
      max_ref = std::max(max_ref, static_cast<double>(std::abs(y_blas[i])));
    }
    worst_rel = std::max(worst_rel, max_diff / max_ref);
    std::printf("%-48s gemm_f32 %6.1f GFLOP/s  sgemm %6.1f GFLOP/s  ratio %.2fx  max|diff| %.1e\n",
                c.name.c_str(), flops / t_own * 1e-9, flops / t_blas * 1e-9, t_blas / t_own,
                max_diff / max_ref);
  }
  std::printf("largest max|diff| / max|y|: %.2e\n", worst_rel);
  return 0;
}
