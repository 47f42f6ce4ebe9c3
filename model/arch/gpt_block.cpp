#include "model/arch/gpt_block.hpp"

#include <algorithm>
#include <cmath>

#include "model/arch/block_steps.hpp"
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

// GPT-2's c_attn: q, k, v are column blocks of one Conv1D [D, 3D] matrix and bias.
bool is_fused_qkv(const Linear& q, const Linear& k, const Linear& v, int d) {
  return !q.out_in && !k.out_in && !v.out_in && q.ld == 3 * d && k.ld == 3 * d && v.ld == 3 * d &&
         k.weight == q.weight + d && v.weight == q.weight + 2 * d && q.bias &&
         k.bias == q.bias + d && v.bias == q.bias + 2 * d;
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
  return pack_qkv_and(b, GptLinear::kQ, GptLinear::kK, GptLinear::kV,
                      {GptLinear::kAttnOut, GptLinear::kFc, GptLinear::kProj});
}

double GptBlockArchitecture::block_flops(const ModelConfig& cfg, int layer, int batch, int seq_len,
                                         int last_slot) const {
  const double n = static_cast<double>(batch) * seq_len;
  const double d = cfg.d_model, f = cfg.d_mlp;
  return staged_flops(last_slot,
                      {{kAttnQ, 2.0 * n * 3 * d * d},
                       {kAttnZ, attention_flops(cfg, batch, seq_len, window_of(cfg, layer))},
                       {kAttnOut, 2.0 * n * d * d},
                       {kMlpPre, 2.0 * n * d * f},
                       {kMlpOut, 2.0 * n * d * f}});
}

void GptBlockArchitecture::final_norm(const ModelWeights& w, const ModelConfig& cfg,
                                      std::span<const float> x, std::span<float> y,
                                      int rows) const {
  final_layer_norm(w, cfg, x, y, rows);
}

LayerNormWeights GptBlockArchitecture::layer_norm_weights(TensorSource& t, const std::string& key,
                                                          std::int64_t d) {
  return LayerNormWeights{t.get(key + ".weight", {d}, "[D]"), t.get(key + ".bias", {d}, "[D]")};
}

BlockWeights GptBlockArchitecture::block_weights(const Linear (&linears)[6],
                                                 const LayerNormWeights& ln_1,
                                                 const LayerNormWeights& ln_2) {
  BlockWeights blk;
  for (int i = 0; i < 6; ++i) blk.linears.push_back({GptLinear::kNames[i], linears[i]});
  blk.norms = {{GptNorm::kNames[GptNorm::kLn1], ln_1}, {GptNorm::kNames[GptNorm::kLn2], ln_2}};
  return blk;
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
  layer_norm(resid, ln, weight_vector(ln_1.gamma, d), weight_vector(ln_1.beta, d), nn, d,
             cfg.layer_norm_eps);
  const std::span<float> qkv(qkv_, n * 3 * d);
  // Bf16: one GEMM against the packed [D, 3D] q | k | v (fused or not), biases after.
  if (bf16) run.linear(kGemmQkv, q, ln_, d, qkv_, 3 * d);
  if (is_fused_qkv(q, k, v, d)) {
    const Linear fused{q.weight, q.bias, d, 3 * d, 3 * d, false};
    if (!bf16) run.linear_fp32(fused, ln_, d, qkv_, 3 * d);
    add_bias(qkv, bias_span(fused), nn, 3 * d);
  } else {
    project_qkv_parts(run, q, k, v, ln_, d, qkv_, 3 * d, d, d);
  }
  run.emit(kAttnQ, qkv_, 3 * d);
  run.emit(kAttnK, qkv_ + d, 3 * d);
  run.emit(kAttnV, qkv_ + 2 * d, 3 * d);
  if (!run.needed(kAttnZ)) return false;
  const int window = window_of(cfg, l);
  const float scale = cfg.scale_attention_scores ? 1.0f / std::sqrt(static_cast<float>(dh)) : 1.0f;
  const std::span<float> scores = run.workspace(kScores);
  attention_heads(qkv_, 3 * d, z_, batch, seq_len, n_heads, n_heads, dh, scale, window, scores);
  run.emit(kAttnZ, z_, d);
  if (!run.needed(kAttnOut)) return false;
  run.linear(kGemmAttnOut, attn_out, z_, d, tmp_, d);
  add_bias_residual(resid, tmp, bias_span(attn_out), nn, d);
  run.emit(kAttnOut, tmp_, d);
  run.emit(kResidMid, resid_, d);

  // ---- MLP.
  if (!run.needed(kMlpPre)) return false;
  layer_norm(resid, ln, weight_vector(ln_2.gamma, d), weight_vector(ln_2.beta, d), nn, d,
             cfg.layer_norm_eps);
  // c_fc writes straight into a full mlp.hook_pre capture when there is one.
  float* post_buf =
      mlp_in_activation(run, kGemmFc, fc, ln_, d, mlp_, kMlpPre, kMlpPost,
                        [&](std::span<float> pre, std::span<float> post,
                            std::span<const float> bias) { bias_gelu(pre, post, bias, nn, f); });
  if (!post_buf) return false;
  if (!run.needed(kMlpOut)) return false;
  run.linear(kGemmProj, proj, post_buf, f, tmp_, d);
  add_bias_residual(resid, tmp, bias_span(proj), nn, d);
  run.emit(kMlpOut, tmp_, d);
  run.emit(kResidPost, resid_, d);
  return true;
}

}  // namespace neurolens::model
