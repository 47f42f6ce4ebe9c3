#include "model/arch/forward.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "io/error.hpp"
#include "model/ops/gemm_f32.hpp"
#include "model/ops/kernels.hpp"

namespace neurolens::model {
namespace {

constexpr std::size_t kAlignFloats = 16;  // 64 bytes

std::size_t round_up(std::size_t n) {
  return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
}

// y[n, out] = x[n, in] W (no bias): Conv1D [in, out] as is, nn.Linear [out, in] transposed.
void linear_fp32(const Linear& w, const float* x, int ldx, int n, float* y, int ldy,
                 std::span<float> scratch) {
  gemm_f32({n, w.out, w.in}, x, ldx, {w.weight, w.ld, w.out_in}, y, ldy, scratch);
}

std::span<const float> bias_span(const Linear& w) {
  return w.bias ? std::span<const float>(w.bias, static_cast<std::size_t>(w.out))
                : std::span<const float>();
}

bool is_fused_qkv(const BlockWeights& b, int d) {
  return !b.q.out_in && !b.k.out_in && !b.v.out_in && b.q.ld == 3 * d && b.k.ld == 3 * d &&
         b.v.ld == 3 * d && b.k.weight == b.q.weight + d && b.v.weight == b.q.weight + 2 * d &&
         b.q.bias && b.k.bias == b.q.bias + d && b.v.bias == b.q.bias + 2 * d;
}

// Model order of the first hook point each stage of block l produces (see hook_order).
int block_base(int l) {
  return 3 + 12 * l;
}
enum Stage {
  kResidPre = 0,
  kQkv = 1,
  kZ = 4,
  kAttnOut = 5,
  kMlpPre = 7,
  kMlpPost = 8,
  kMlpOut = 9
};

void check_point(const HookPoint& p, const ModelConfig& cfg) {
  const int n_layers = cfg.n_layers;
  switch (p.site) {
    case HookSite::Embed:
    case HookSite::PosEmbed:
    case HookSite::LnFinalNormalized:
      return;
    case HookSite::HiddenStates:
      if (p.layer < 0 || p.layer > n_layers) {
        throw Error("capture " + hook_name(p),
                    "hidden state index outside 0.." + std::to_string(n_layers),
                    "the model has " + std::to_string(n_layers) + " layers");
      }
      return;
    default:
      if (p.layer < 0 || p.layer >= n_layers) {
        throw Error("capture " + hook_name(p), "layer outside 0.." + std::to_string(n_layers - 1),
                    "the model has " + std::to_string(n_layers) + " layers");
      }
  }
}

// Float counts of the workspace views, in the order resid, ln, qkv, z, tmp, mlp, attention
// scratch (n = max_batch * max_seq_len rows).
std::array<std::size_t, 7> workspace_sizes(const ModelConfig& cfg, std::size_t n, int max_seq_len) {
  const auto d = static_cast<std::size_t>(cfg.d_model);
  return {n * d,
          n * d,
          n * 3 * d,
          n * d,
          n * d,
          n * static_cast<std::size_t>(cfg.d_mlp),
          attention_scratch_size(max_seq_len, cfg.head_dim())};
}

// gemm_f32 scratch (floats) of the fp32 weight GEMMs on `rows` rows.
std::size_t fp32_gemm_scratch(const ModelConfig& cfg, int rows) {
  const int d = cfg.d_model, f = cfg.d_mlp;
  std::size_t size = 0;
  for (const GemmShape shape : {GemmShape{rows, 3 * d, d}, GemmShape{rows, d, d},
                                GemmShape{rows, f, d}, GemmShape{rows, d, f}}) {
    size = std::max(size, gemm_f32_scratch_size(shape));
  }
  return size;
}

// gemm_bf16 scratch (uint16_t) of the packed weight GEMMs on `rows` rows: inputs are D wide
// (q/k/v, attn out, c_fc) or F wide (c_proj).
std::size_t bf16_gemm_scratch(const ModelConfig& cfg, int rows) {
  return std::max(gemm_bf16_scratch_size(cfg.d_model, rows),
                  gemm_bf16_scratch_size(cfg.d_mlp, rows));
}

}  // namespace

const char* precision_name(Precision p) {
  return p == Precision::Bf16 ? "bf16" : "fp32";
}

void ForwardPass::FreeDeleter::operator()(float* p) const {
  ::operator delete[](p, std::align_val_t{64});
}

// Per-run state: which captures exist, where they go, when to stop.
struct ForwardPass::Plan {
  std::span<const CaptureRequest> captures;
  std::span<const int> positions;
  int batch = 0;
  int seq_len = 0;
  int last_order = -1;
  const ModelConfig* cfg = nullptr;

  bool needed(int order) const { return order <= last_order; }
  bool wanted(const HookPoint& p) const {
    return std::any_of(captures.begin(), captures.end(),
                       [&](const CaptureRequest& c) { return c.point == p; });
  }
  // The first capture of p when all positions are captured (its buffer is [B*T, width]).
  float* full_buffer(const HookPoint& p) const {
    if (!positions.empty()) return nullptr;
    for (const CaptureRequest& c : captures) {
      if (c.point == p) return c.out;
    }
    return nullptr;
  }
  // Copies src rows (row b*T + t, ld floats apart) into every capture of p, except `skip`.
  void emit(const HookPoint& p, const float* src, int ld, const float* skip = nullptr) const {
    const int width = hook_width(p, *cfg);
    const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(width);
    for (const CaptureRequest& c : captures) {
      if (!(c.point == p) || c.out == skip) continue;
      if (positions.empty()) {
        const std::size_t rows = static_cast<std::size_t>(batch) * seq_len;
        if (ld == width) {
          std::memcpy(c.out, src, bytes * rows);
        } else {
          for (std::size_t r = 0; r < rows; ++r) {
            std::memcpy(c.out + r * width, src + r * ld, bytes);
          }
        }
        continue;
      }
      const std::size_t n_pos = positions.size();
      for (int b = 0; b < batch; ++b) {
        for (std::size_t i = 0; i < n_pos; ++i) {
          const std::size_t src_row = static_cast<std::size_t>(b) * seq_len + positions[i];
          std::memcpy(c.out + (b * n_pos + i) * width, src + src_row * ld, bytes);
        }
      }
    }
  }
};

ForwardPass::ForwardPass(const Model& model, int max_batch, int max_seq_len, Precision precision)
    : model_(model), max_batch_(max_batch), max_seq_len_(max_seq_len), precision_(precision) {
  const ModelConfig& cfg = model.config;
  if (max_batch < 1 || max_seq_len < 1) {
    throw Error("ForwardPass", "max_batch and max_seq_len must be positive (got " +
                                   std::to_string(max_batch) + ", " + std::to_string(max_seq_len) +
                                   ")");
  }
  if (max_seq_len > cfg.n_positions) {
    throw Error("ForwardPass",
                "max_seq_len " + std::to_string(max_seq_len) + " exceeds the position table (" +
                    std::to_string(cfg.n_positions) + " positions)",
                "use sequences of at most " + std::to_string(cfg.n_positions) + " tokens");
  }
  if (cfg.n_heads < 1 || cfg.d_model % cfg.n_heads != 0 ||
      static_cast<int>(model.weights.blocks.size()) != cfg.n_layers ||
      static_cast<int>(cfg.attention_kinds.size()) != cfg.n_layers || !model.weights.wte ||
      !model.weights.wpe) {
    throw Error("ForwardPass " + model.dir.string(), "model weights and config are inconsistent",
                "load the model with load_model");
  }
  const int d = cfg.d_model;
  fused_qkv_ = std::all_of(model.weights.blocks.begin(), model.weights.blocks.end(),
                           [&](const BlockWeights& b) { return is_fused_qkv(b, d); });
  const std::size_t n = static_cast<std::size_t>(max_batch) * max_seq_len;
  const std::array<std::size_t, 7> sizes = workspace_sizes(cfg, n, max_seq_len);
  scores_size_ = sizes[6];
  std::size_t total = 0;
  for (std::size_t s : sizes) total += round_up(s);
  workspace_.reset(
      static_cast<float*>(::operator new[](total * sizeof(float), std::align_val_t{64})));
  float* p = workspace_.get();
  float** views[] = {&resid_, &ln_, &qkv_, &z_, &tmp_, &mlp_, &scores_};
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    *views[i] = p;
    p += round_up(sizes[i]);
  }
  if (precision == Precision::Fp32)
    gemm_scratch_.resize(fp32_gemm_scratch(cfg, static_cast<int>(n)));
  if (precision == Precision::Bf16) {
    if (!bf16_compute_supported()) {
      throw Error("ForwardPass " + model.dir.string(),
                  "bf16 compute needs AVX512_BF16 (avx512f, avx512bw, avx512vl, avx512_bf16); "
                  "this CPU has no AVX512_BF16",
                  "use compute = fp32");
    }
    packed_.reserve(model.weights.blocks.size());
    for (const BlockWeights& b : model.weights.blocks) {
      const Linear qkv[] = {b.q, b.k, b.v};
      packed_.emplace_back(PackedBlock{PackedBf16Matrix(qkv), PackedBf16Matrix(b.attn_out),
                                       PackedBf16Matrix(b.fc), PackedBf16Matrix(b.proj)});
    }
    bf16_scratch_.resize(bf16_gemm_scratch(cfg, static_cast<int>(n)));
  }
}

std::size_t ForwardPass::packed_bytes() const {
  std::size_t bytes = 0;
  for (const PackedBlock& pb : packed_) {
    bytes += pb.qkv.bytes() + pb.attn_out.bytes() + pb.fc.bytes() + pb.proj.bytes();
  }
  return bytes;
}

std::size_t ForwardPass::packed_bytes_for(const ModelConfig& cfg, Precision precision) {
  if (precision != Precision::Bf16) return 0;
  const int d = cfg.d_model, f = cfg.d_mlp;
  const std::size_t per_block =
      PackedBf16Matrix::bytes_for(d, 3 * d) + PackedBf16Matrix::bytes_for(d, d) +
      PackedBf16Matrix::bytes_for(d, f) + PackedBf16Matrix::bytes_for(f, d);
  return per_block * static_cast<std::size_t>(cfg.n_layers);
}

std::size_t ForwardPass::private_bytes_for(const ModelConfig& cfg, int max_batch, int max_seq_len,
                                           Precision precision) {
  const std::size_t n = static_cast<std::size_t>(std::max(max_batch, 1)) * std::max(max_seq_len, 1);
  std::size_t floats = 0;
  for (std::size_t s : workspace_sizes(cfg, n, max_seq_len)) floats += round_up(s);
  std::size_t bytes = floats * sizeof(float);
  if (precision == Precision::Fp32) {
    bytes += fp32_gemm_scratch(cfg, static_cast<int>(n)) * sizeof(float);
  } else {
    bytes += packed_bytes_for(cfg, precision) +
             bf16_gemm_scratch(cfg, static_cast<int>(n)) * sizeof(std::uint16_t);
  }
  return bytes;
}

void ForwardPass::linear(const Linear& w, const PackedBf16Matrix* packed, const float* x, int ldx,
                         int n, float* y, int ldy) {
  if (packed) {
    gemm_bf16(*packed, x, ldx, n, y, ldy, bf16_scratch_);
  } else {
    linear_fp32(w, x, ldx, n, y, ldy, gemm_scratch_);
  }
}

void ForwardPass::run(std::span<const int32_t> tokens, int batch, int seq_len,
                      std::span<const CaptureRequest> captures, std::span<const int> positions) {
  const ModelConfig& cfg = model_.config;
  const ModelWeights& w = model_.weights;
  const int d = cfg.d_model, f = cfg.d_mlp, n_layers = cfg.n_layers;
  const int n_heads = cfg.n_heads, dh = cfg.head_dim();

  // ---- Validate everything before touching any buffer.
  if (batch < 1 || batch > max_batch_) {
    throw Error("ForwardPass::run",
                "batch " + std::to_string(batch) + " outside 1.." + std::to_string(max_batch_),
                "construct the ForwardPass with a larger max_batch");
  }
  if (seq_len < 1 || seq_len > cfg.n_positions) {
    throw Error(
        "ForwardPass::run",
        "sequence length " + std::to_string(seq_len) + " is longer than the position table (" +
            std::to_string(cfg.n_positions) + " positions)",
        "split inputs into sequences of at most " + std::to_string(cfg.n_positions) + " tokens");
  }
  if (seq_len > max_seq_len_) {
    throw Error("ForwardPass::run",
                "sequence length " + std::to_string(seq_len) + " exceeds max_seq_len " +
                    std::to_string(max_seq_len_),
                "construct the ForwardPass with a larger max_seq_len");
  }
  const std::size_t n = static_cast<std::size_t>(batch) * seq_len;
  if (tokens.size() != n) {
    throw Error("ForwardPass::run", "got " + std::to_string(tokens.size()) +
                                        " token ids for batch " + std::to_string(batch) + " x " +
                                        std::to_string(seq_len));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= cfg.n_vocab) {
      throw Error("ForwardPass::run",
                  "token id " + std::to_string(tokens[i]) + " at sequence " +
                      std::to_string(i / seq_len) + ", position " + std::to_string(i % seq_len) +
                      " is outside the vocabulary (0.." + std::to_string(cfg.n_vocab - 1) + ")",
                  "tokenize with this model's vocab.json");
    }
  }
  for (int pos : positions) {
    if (pos < 0 || pos >= seq_len) {
      throw Error("ForwardPass::run", "capture position " + std::to_string(pos) + " outside 0.." +
                                          std::to_string(seq_len - 1));
    }
  }
  Plan plan;
  plan.captures = captures;
  plan.positions = positions;
  plan.batch = batch;
  plan.seq_len = seq_len;
  plan.cfg = &cfg;
  for (const CaptureRequest& c : captures) {
    check_point(c.point, cfg);
    if (!c.out) throw Error("capture " + hook_name(c.point), "output buffer is null");
    plan.last_order = std::max(plan.last_order, hook_order(c.point, cfg));
  }
  if (captures.empty()) return;

  // ---- Embeddings: resid[b*T + t] = wte[token] + wpe[t].
  const std::size_t row_bytes = sizeof(float) * d;
  if (plan.wanted({HookSite::Embed, -1})) {
    for (const CaptureRequest& c : captures) {
      if (!(c.point == HookPoint{HookSite::Embed, -1})) continue;
      const std::size_t n_pos = positions.empty() ? seq_len : positions.size();
      for (int b = 0; b < batch; ++b) {
        for (std::size_t i = 0; i < n_pos; ++i) {
          const int t = positions.empty() ? static_cast<int>(i) : positions[i];
          const int32_t id = tokens[static_cast<std::size_t>(b) * seq_len + t];
          std::memcpy(c.out + (b * n_pos + i) * d, w.wte + static_cast<std::size_t>(id) * d,
                      row_bytes);
        }
      }
    }
  }
  if (plan.wanted({HookSite::PosEmbed, -1})) {
    for (const CaptureRequest& c : captures) {
      if (!(c.point == HookPoint{HookSite::PosEmbed, -1})) continue;
      const std::size_t n_pos = positions.empty() ? seq_len : positions.size();
      for (int b = 0; b < batch; ++b) {
        for (std::size_t i = 0; i < n_pos; ++i) {
          const int t = positions.empty() ? static_cast<int>(i) : positions[i];
          std::memcpy(c.out + (b * n_pos + i) * d, w.wpe + static_cast<std::size_t>(t) * d,
                      row_bytes);
        }
      }
    }
  }
  if (!plan.needed(2)) return;
  for (std::size_t r = 0; r < n; ++r) {
    const float* te = w.wte + static_cast<std::size_t>(tokens[r]) * d;
    const float* pe = w.wpe + static_cast<std::size_t>(r % seq_len) * d;
    float* out = resid_ + r * d;
    for (int i = 0; i < d; ++i) out[i] = te[i] + pe[i];
  }
  plan.emit({HookSite::HiddenStates, 0}, resid_, d);

  const std::span<float> resid(resid_, n * d), ln(ln_, n * d), tmp(tmp_, n * d);
  const float scale = cfg.scale_attention_scores ? 1.0f / std::sqrt(static_cast<float>(dh)) : 1.0f;
  const int nn = static_cast<int>(n);
  for (int l = 0; l < n_layers; ++l) {
    const BlockWeights& bw = w.blocks[l];
    const bool bf16 = precision_ == Precision::Bf16;
    const PackedBlock* pw = bf16 ? &packed_[l] : nullptr;
    const int base = block_base(l);
    if (!plan.needed(base + kResidPre)) return;
    plan.emit({HookSite::ResidPre, l}, resid_, d);

    // ---- Attention.
    if (!plan.needed(base + kQkv)) return;
    layer_norm(resid, ln, {bw.ln_1.gamma, static_cast<std::size_t>(d)},
               {bw.ln_1.beta, static_cast<std::size_t>(d)}, nn, d, cfg.layer_norm_eps);
    const std::span<float> qkv(qkv_, n * 3 * d);
    // Bf16: one GEMM against the packed [D, 3D] q | k | v (fused or not), biases after.
    if (bf16) gemm_bf16(pw->qkv, ln_, d, nn, qkv_, 3 * d, bf16_scratch_);
    if (fused_qkv_) {
      const Linear fused{bw.q.weight, bw.q.bias, d, 3 * d, 3 * d, false};
      if (!bf16) linear_fp32(fused, ln_, d, nn, qkv_, 3 * d, gemm_scratch_);
      add_bias(qkv, bias_span(fused), nn, 3 * d);
    } else {
      const Linear* parts[] = {&bw.q, &bw.k, &bw.v};
      for (int i = 0; i < 3; ++i) {
        if (!bf16) linear_fp32(*parts[i], ln_, d, nn, qkv_ + i * d, 3 * d, gemm_scratch_);
        if (parts[i]->bias) add_bias(qkv.subspan(i * d), bias_span(*parts[i]), nn, d, 3 * d);
      }
    }
    plan.emit({HookSite::AttnQ, l}, qkv_, 3 * d);
    plan.emit({HookSite::AttnK, l}, qkv_ + d, 3 * d);
    plan.emit({HookSite::AttnV, l}, qkv_ + 2 * d, 3 * d);
    if (!plan.needed(base + kZ)) return;
    const int window = cfg.attention_kinds[l] == AttentionKind::Local ? cfg.window_size : 0;
    const std::span<float> scores(scores_, scores_size_);
    for (int b = 0; b < batch; ++b) {
      const float* seq = qkv_ + static_cast<std::size_t>(b) * seq_len * 3 * d;
      float* zs = z_ + static_cast<std::size_t>(b) * seq_len * d;
      for (int h = 0; h < n_heads; ++h) {
        attention_head(seq + h * dh, seq + d + h * dh, seq + 2 * d + h * dh, 3 * d, zs + h * dh, d,
                       seq_len, dh, scale, window, scores);
      }
    }
    plan.emit({HookSite::AttnZ, l}, z_, d);
    if (!plan.needed(base + kAttnOut)) return;
    linear(bw.attn_out, pw ? &pw->attn_out : nullptr, z_, d, nn, tmp_, d);
    add_bias_residual(resid, tmp, bias_span(bw.attn_out), nn, d);
    plan.emit({HookSite::AttnOut, l}, tmp_, d);
    plan.emit({HookSite::ResidMid, l}, resid_, d);

    // ---- MLP.
    if (!plan.needed(base + kMlpPre)) return;
    layer_norm(resid, ln, {bw.ln_2.gamma, static_cast<std::size_t>(d)},
               {bw.ln_2.beta, static_cast<std::size_t>(d)}, nn, d, cfg.layer_norm_eps);
    const HookPoint pre_point{HookSite::MlpPre, l}, post_point{HookSite::MlpPost, l};
    // c_fc writes straight into a full mlp.hook_pre capture when there is one.
    float* pre_buf = plan.full_buffer(pre_point);
    if (!pre_buf) pre_buf = mlp_;
    linear(bw.fc, pw ? &pw->fc : nullptr, ln_, d, nn, pre_buf, f);
    const std::span<float> pre(pre_buf, n * f);
    const bool post_needed = plan.needed(base + kMlpPost);
    float* post_buf = post_needed ? plan.full_buffer(post_point) : nullptr;
    if (!post_buf) post_buf = mlp_;
    if (pre_buf == mlp_ && plan.wanted(pre_point)) {
      // Partial positions: pre must be copied out before gelu overwrites it in place.
      add_bias(pre, bias_span(bw.fc), nn, f);
      plan.emit(pre_point, pre_buf, f);
      if (!post_needed) return;
      bias_gelu(pre, {post_buf, n * f}, {}, nn, f);
    } else {
      if (!post_needed) {
        add_bias(pre, bias_span(bw.fc), nn, f);
        plan.emit(pre_point, pre_buf, f, pre_buf);
        return;
      }
      bias_gelu(pre, {post_buf, n * f}, bias_span(bw.fc), nn, f);
      plan.emit(pre_point, pre_buf, f, pre_buf);
    }
    plan.emit(post_point, post_buf, f, post_buf == mlp_ ? nullptr : post_buf);
    if (!plan.needed(base + kMlpOut)) return;
    linear(bw.proj, pw ? &pw->proj : nullptr, post_buf, f, nn, tmp_, d);
    add_bias_residual(resid, tmp, bias_span(bw.proj), nn, d);
    plan.emit({HookSite::MlpOut, l}, tmp_, d);
    plan.emit({HookSite::ResidPost, l}, resid_, d);
    if (l + 1 < n_layers) plan.emit({HookSite::HiddenStates, l + 1}, resid_, d);
  }

  // ---- Final LayerNorm.
  if (!plan.needed(block_base(n_layers))) return;
  layer_norm(resid, ln, {w.ln_f.gamma, static_cast<std::size_t>(d)},
             {w.ln_f.beta, static_cast<std::size_t>(d)}, nn, d, cfg.layer_norm_eps);
  plan.emit({HookSite::LnFinalNormalized, -1}, ln_, d);
  plan.emit({HookSite::HiddenStates, n_layers}, ln_, d);
}

double ForwardPass::gemm_flops(int batch, int seq_len, int up_to_layer) const {
  const ModelConfig& cfg = model_.config;
  const double n = static_cast<double>(batch) * seq_len;
  const double d = cfg.d_model, f = cfg.d_mlp;
  double flops = 0.0;
  for (int l = 0; l <= up_to_layer && l < cfg.n_layers; ++l) {
    const int window = cfg.attention_kinds[l] == AttentionKind::Local ? cfg.window_size : 0;
    flops += 2.0 * n * (3 * d * d + d * d + 2 * d * f);
    flops += batch * cfg.n_heads * attention_head_flops(seq_len, cfg.head_dim(), window);
  }
  return flops;
}

double ForwardPass::gemm_flops(int batch, int seq_len, std::span<const HookPoint> points) const {
  const ModelConfig& cfg = model_.config;
  int last = -1;
  for (const HookPoint& p : points) last = std::max(last, hook_order(p, cfg));
  const double n = static_cast<double>(batch) * seq_len;
  const double d = cfg.d_model, f = cfg.d_mlp;
  double flops = 0.0;
  for (int l = 0; l < cfg.n_layers; ++l) {
    const int base = block_base(l);
    const int window = cfg.attention_kinds[l] == AttentionKind::Local ? cfg.window_size : 0;
    if (last >= base + kQkv) flops += 2.0 * n * 3 * d * d;
    if (last >= base + kZ) {
      flops += batch * cfg.n_heads * attention_head_flops(seq_len, cfg.head_dim(), window);
    }
    if (last >= base + kAttnOut) flops += 2.0 * n * d * d;
    if (last >= base + kMlpPre) flops += 2.0 * n * d * f;
    if (last >= base + kMlpOut) flops += 2.0 * n * d * f;
  }
  return flops;
}

}  // namespace neurolens::model
