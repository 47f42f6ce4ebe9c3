#include "model/arch/gpt_block.hpp"

#include <algorithm>
#include <cmath>

#include "model/ops/activation.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/bias.hpp"
#include "model/ops/layer_norm.hpp"

namespace neurolens::model {
namespace {

// The block's hook sites in the order run_block produces them: the one table of their order
// and widths (hooks.cpp orders and sizes captures from it, run_block emits by its slots).
constexpr BlockSite kSites[] = {
    {HookSite::ResidPre, SiteWidth::Model},  {HookSite::AttnQ, SiteWidth::QHeads},
    {HookSite::AttnK, SiteWidth::KvHeads},   {HookSite::AttnV, SiteWidth::KvHeads},
    {HookSite::AttnZ, SiteWidth::QHeads},    {HookSite::AttnOut, SiteWidth::Model},
    {HookSite::ResidMid, SiteWidth::Model},  {HookSite::MlpPre, SiteWidth::Mlp},
    {HookSite::MlpPost, SiteWidth::Mlp},     {HookSite::MlpOut, SiteWidth::Model},
    {HookSite::ResidPost, SiteWidth::Model},
};
constexpr int slot(HookSite site) {
  for (int i = 0; i < static_cast<int>(std::size(kSites)); ++i) {
    if (kSites[i].site == site) return i;
  }
  throw "not a site of this block";  // compile-time error in a constant expression
}
constexpr int kResidPre = slot(HookSite::ResidPre), kAttnQ = slot(HookSite::AttnQ),
              kAttnK = slot(HookSite::AttnK), kAttnV = slot(HookSite::AttnV),
              kAttnZ = slot(HookSite::AttnZ), kAttnOut = slot(HookSite::AttnOut),
              kResidMid = slot(HookSite::ResidMid), kMlpPre = slot(HookSite::MlpPre),
              kMlpPost = slot(HookSite::MlpPost), kMlpOut = slot(HookSite::MlpOut),
              kResidPost = slot(HookSite::ResidPost);

// Workspace views (workspace_sizes order). kLn comes first: the forward pass writes the final
// norm there too.
enum View { kLn, kQkv, kZ, kTmp, kMlp, kScores };
// block_gemms order.
enum Gemm { kGemmQkv, kGemmAttnOut, kGemmFc, kGemmProj };

std::span<const float> bias_span(const Linear& w) {
  return w.bias ? std::span<const float>(w.bias, static_cast<std::size_t>(w.out))
                : std::span<const float>();
}

std::span<const float> vec(const float* p, int d) {
  return {p, static_cast<std::size_t>(d)};
}

// GPT-2's c_attn: q, k, v are column blocks of one Conv1D [D, 3D] matrix and bias.
bool is_fused_qkv(const Linear& q, const Linear& k, const Linear& v, int d) {
  return !q.out_in && !k.out_in && !v.out_in && q.ld == 3 * d && k.ld == 3 * d && v.ld == 3 * d &&
         k.weight == q.weight + d && v.weight == q.weight + 2 * d && q.bias &&
         k.bias == q.bias + d && v.bias == q.bias + 2 * d;
}

int window_of(const ModelConfig& cfg, int layer) {
  return cfg.attention_kinds[static_cast<std::size_t>(layer)] == AttentionKind::Local
             ? cfg.window_size
             : 0;
}

}  // namespace

std::span<const BlockSite> GptBlockArchitecture::block_sites(const ModelConfig& config) const {
  (void)config;  // one table for every GPT-2 / GPT-Neo config
  return kSites;
}

std::vector<std::size_t> GptBlockArchitecture::workspace_sizes(const ModelConfig& cfg,
                                                               std::size_t n,
                                                               int max_seq_len) const {
  const auto d = static_cast<std::size_t>(cfg.d_model);
  return {n * d,
          n * 3 * d,
          n * d,
          n * d,
          n * static_cast<std::size_t>(cfg.d_mlp),
          attention_scratch_size(max_seq_len, cfg.head_dim())};
}

std::vector<BlockGemm> GptBlockArchitecture::block_gemms(const ModelConfig& cfg) const {
  const int d = cfg.d_model, f = cfg.d_mlp;
  return {{d, 3 * d}, {d, d}, {d, f}, {f, d}};
}

std::vector<PackedBf16Matrix> GptBlockArchitecture::pack_block(const BlockWeights& b) const {
  const Linear qkv[] = {b.linears[GptLinear::kQ].w, b.linears[GptLinear::kK].w,
                        b.linears[GptLinear::kV].w};
  std::vector<PackedBf16Matrix> packed;
  packed.emplace_back(qkv);
  packed.emplace_back(b.linears[GptLinear::kAttnOut].w);
  packed.emplace_back(b.linears[GptLinear::kFc].w);
  packed.emplace_back(b.linears[GptLinear::kProj].w);
  return packed;
}

double GptBlockArchitecture::block_flops(const ModelConfig& cfg, int layer, int batch, int seq_len,
                                         int last_slot) const {
  const double n = static_cast<double>(batch) * seq_len;
  const double d = cfg.d_model, f = cfg.d_mlp;
  double flops = 0.0;
  if (last_slot >= kAttnQ) flops += 2.0 * n * 3 * d * d;
  if (last_slot >= kAttnZ) {
    flops +=
        batch * cfg.n_heads * attention_head_flops(seq_len, cfg.head_dim(), window_of(cfg, layer));
  }
  if (last_slot >= kAttnOut) flops += 2.0 * n * d * d;
  if (last_slot >= kMlpPre) flops += 2.0 * n * d * f;
  if (last_slot >= kMlpOut) flops += 2.0 * n * d * f;
  return flops;
}

void GptBlockArchitecture::final_norm(const ModelWeights& w, const ModelConfig& cfg,
                                      std::span<const float> x, std::span<float> y,
                                      int rows) const {
  const int d = cfg.d_model;
  layer_norm(x, y, vec(w.ln_f.gamma, d), vec(w.ln_f.beta, d), rows, d, cfg.layer_norm_eps);
}

bool GptBlockArchitecture::run_block(BlockRun& run, int l) const {
  const ModelConfig& cfg = run.config();
  const BlockWeights& bw = run.weights();
  const int d = cfg.d_model, f = cfg.d_mlp;
  const int n_heads = cfg.n_heads, dh = cfg.head_dim();
  const int batch = run.batch(), seq_len = run.seq_len(), nn = run.rows();
  const std::size_t n = static_cast<std::size_t>(nn);
  float* resid_ = run.resid();
  float* ln_ = run.workspace(kLn).data();
  float* qkv_ = run.workspace(kQkv).data();
  float* z_ = run.workspace(kZ).data();
  float* tmp_ = run.workspace(kTmp).data();
  float* mlp_ = run.workspace(kMlp).data();
  const std::span<float> resid(resid_, n * d), ln(ln_, n * d), tmp(tmp_, n * d);
  const Linear& q = bw.linears[GptLinear::kQ].w;
  const Linear& k = bw.linears[GptLinear::kK].w;
  const Linear& v = bw.linears[GptLinear::kV].w;
  const Linear& attn_out = bw.linears[GptLinear::kAttnOut].w;
  const Linear& fc = bw.linears[GptLinear::kFc].w;
  const Linear& proj = bw.linears[GptLinear::kProj].w;
  const LayerNormWeights& ln_1 = bw.norms[GptNorm::kLn1].w;
  const LayerNormWeights& ln_2 = bw.norms[GptNorm::kLn2].w;
  const bool bf16 = run.bf16();

  if (!run.needed(kResidPre)) return false;
  run.emit(kResidPre, resid_, d);

  // ---- Attention.
  if (!run.needed(kAttnQ)) return false;
  layer_norm(resid, ln, vec(ln_1.gamma, d), vec(ln_1.beta, d), nn, d, cfg.layer_norm_eps);
  const std::span<float> qkv(qkv_, n * 3 * d);
  // Bf16: one GEMM against the packed [D, 3D] q | k | v (fused or not), biases after.
  if (bf16) run.linear(kGemmQkv, q, ln_, d, qkv_, 3 * d);
  if (is_fused_qkv(q, k, v, d)) {
    const Linear fused{q.weight, q.bias, d, 3 * d, 3 * d, false};
    if (!bf16) run.linear_fp32(fused, ln_, d, qkv_, 3 * d);
    add_bias(qkv, bias_span(fused), nn, 3 * d);
  } else {
    const Linear* parts[] = {&q, &k, &v};
    for (int i = 0; i < 3; ++i) {
      if (!bf16) run.linear_fp32(*parts[i], ln_, d, qkv_ + i * d, 3 * d);
      if (parts[i]->bias) add_bias(qkv.subspan(i * d), bias_span(*parts[i]), nn, d, 3 * d);
    }
  }
  run.emit(kAttnQ, qkv_, 3 * d);
  run.emit(kAttnK, qkv_ + d, 3 * d);
  run.emit(kAttnV, qkv_ + 2 * d, 3 * d);
  if (!run.needed(kAttnZ)) return false;
  const int window = window_of(cfg, l);
  const float scale = cfg.scale_attention_scores ? 1.0f / std::sqrt(static_cast<float>(dh)) : 1.0f;
  const std::span<float> scores = run.workspace(kScores);
  for (int b = 0; b < batch; ++b) {
    const float* seq = qkv_ + static_cast<std::size_t>(b) * seq_len * 3 * d;
    float* zs = z_ + static_cast<std::size_t>(b) * seq_len * d;
    for (int h = 0; h < n_heads; ++h) {
      attention_head(seq + h * dh, seq + d + h * dh, seq + 2 * d + h * dh, 3 * d, zs + h * dh, d,
                     seq_len, dh, scale, window, scores);
    }
  }
  run.emit(kAttnZ, z_, d);
  if (!run.needed(kAttnOut)) return false;
  run.linear(kGemmAttnOut, attn_out, z_, d, tmp_, d);
  add_bias_residual(resid, tmp, bias_span(attn_out), nn, d);
  run.emit(kAttnOut, tmp_, d);
  run.emit(kResidMid, resid_, d);

  // ---- MLP.
  if (!run.needed(kMlpPre)) return false;
  layer_norm(resid, ln, vec(ln_2.gamma, d), vec(ln_2.beta, d), nn, d, cfg.layer_norm_eps);
  // c_fc writes straight into a full mlp.hook_pre capture when there is one.
  float* pre_buf = run.full_buffer(kMlpPre);
  if (!pre_buf) pre_buf = mlp_;
  run.linear(kGemmFc, fc, ln_, d, pre_buf, f);
  const std::span<float> pre(pre_buf, n * f);
  const bool post_needed = run.needed(kMlpPost);
  float* post_buf = post_needed ? run.full_buffer(kMlpPost) : nullptr;
  if (!post_buf) post_buf = mlp_;
  if (pre_buf == mlp_ && run.wanted(kMlpPre)) {
    // Partial positions: pre must be copied out before gelu overwrites it in place.
    add_bias(pre, bias_span(fc), nn, f);
    run.emit(kMlpPre, pre_buf, f);
    if (!post_needed) return false;
    bias_gelu(pre, {post_buf, n * f}, {}, nn, f);
  } else {
    if (!post_needed) {
      add_bias(pre, bias_span(fc), nn, f);
      run.emit(kMlpPre, pre_buf, f, pre_buf);
      return false;
    }
    bias_gelu(pre, {post_buf, n * f}, bias_span(fc), nn, f);
    run.emit(kMlpPre, pre_buf, f, pre_buf);
  }
  run.emit(kMlpPost, post_buf, f, post_buf == mlp_ ? nullptr : post_buf);
  if (!run.needed(kMlpOut)) return false;
  run.linear(kGemmProj, proj, post_buf, f, tmp_, d);
  add_bias_residual(resid, tmp, bias_span(proj), nn, d);
  run.emit(kMlpOut, tmp_, d);
  run.emit(kResidPost, resid_, d);
  return true;
}

}  // namespace neurolens::model
