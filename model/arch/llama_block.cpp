#include "model/arch/llama_block.hpp"

#include <algorithm>
#include <cmath>

#include "io/error.hpp"
#include "model/arch/block_steps.hpp"
#include "model/ops/activation.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/bias.hpp"
#include "model/ops/layer_norm.hpp"
#include "model/ops/rotary.hpp"

namespace neurolens::model {
namespace {

// The block's hook sites in the order run_block produces them (TransformerLens's names; q / k /
// v before rotary, rot_q / rot_k after it; k / v and rot_k with the key-value heads).
constexpr BlockSite kSites[] = {
    {HookSite::ResidPre, SiteWidth::Model},   {HookSite::AttnQ, SiteWidth::QHeads},
    {HookSite::AttnK, SiteWidth::KvHeads},    {HookSite::AttnV, SiteWidth::KvHeads},
    {HookSite::AttnRotQ, SiteWidth::QHeads},  {HookSite::AttnRotK, SiteWidth::KvHeads},
    {HookSite::AttnZ, SiteWidth::QHeads},     {HookSite::AttnOut, SiteWidth::Model},
    {HookSite::ResidMid, SiteWidth::Model},   {HookSite::MlpPre, SiteWidth::Mlp},
    {HookSite::MlpPreLinear, SiteWidth::Mlp}, {HookSite::MlpPost, SiteWidth::Mlp},
    {HookSite::MlpOut, SiteWidth::Model},     {HookSite::ResidPost, SiteWidth::Model},
};
constexpr int slot(HookSite site) {
  for (int i = 0; i < static_cast<int>(std::size(kSites)); ++i) {
    if (kSites[i].site == site) return i;
  }
  throw "not a site of this block";  // compile-time error in a constant expression
}
constexpr int kResidPre = slot(HookSite::ResidPre), kAttnQ = slot(HookSite::AttnQ),
              kAttnK = slot(HookSite::AttnK), kAttnV = slot(HookSite::AttnV),
              kAttnRotQ = slot(HookSite::AttnRotQ), kAttnRotK = slot(HookSite::AttnRotK),
              kAttnZ = slot(HookSite::AttnZ), kAttnOut = slot(HookSite::AttnOut),
              kResidMid = slot(HookSite::ResidMid), kMlpPre = slot(HookSite::MlpPre),
              kMlpPreLinear = slot(HookSite::MlpPreLinear), kMlpPost = slot(HookSite::MlpPost),
              kMlpOut = slot(HookSite::MlpOut), kResidPost = slot(HookSite::ResidPost);

// Workspace views (workspace_sizes order). kLn comes first: the forward pass writes the final
// norm there too. kQkv: [N, (H + 2 Hkv) dh], q | k | v per row; kRope: rope_tables' view
// (block_steps.hpp: a stamp, then cos | sin [T, rotary_dim / 2]).
enum View { kLn, kQkv, kZ, kTmp, kGate, kUp, kScores, kRope };
// block_gemms order.
enum Gemm { kGemmQkv, kGemmAttnOut, kGemmGate, kGemmUp, kGemmDown };

int qkv_width(const ModelConfig& cfg) {
  return (cfg.n_heads + 2 * cfg.kv_heads()) * cfg.head_dim();
}

}  // namespace

void LlamaBlockArchitecture::parse_common(const ConfigReader& r, ModelConfig& c, bool tie_default,
                                          int default_head_dim) {
  c.d_model = r.positive_int("hidden_size", "the hidden size (4096 for Llama-2-7b)");
  c.n_layers = r.layer_count("num_hidden_layers", "the number of blocks");
  c.n_heads = r.positive_int("num_attention_heads", "the number of attention heads");
  c.n_kv_heads = r.has("num_key_value_heads")
                     ? r.positive_int("num_key_value_heads", "the number of key-value heads")
                     : c.n_heads;
  if (c.n_heads % c.n_kv_heads != 0) {
    throw Error(r.ctx("num_key_value_heads"),
                std::to_string(c.n_kv_heads) + " does not divide num_attention_heads " +
                    std::to_string(c.n_heads),
                "use the config.json that came with these weights");
  }
  c.d_mlp = r.positive_int("intermediate_size", "the MLP width");
  c.n_positions = r.positive_int("max_position_embeddings", "the context length");
  c.n_vocab = r.positive_int("vocab_size", "the vocabulary size");
  c.layer_norm_eps = r.has("rms_norm_eps") ? r.epsilon("rms_norm_eps") : 1e-6f;
  // Every released model of the family has heads dividing hidden_size, also where head_dim is
  // set apart from hidden_size / heads (Gemma); the forward pass relies on it.
  r.check_heads_divide("num_attention_heads", c.n_heads, "hidden_size", c.d_model);
  if (r.has("head_dim")) {
    c.head_dim_override = r.positive_int("head_dim", "the width of one attention head");
  } else if (default_head_dim > 0) {
    c.head_dim_override = default_head_dim;
  }
  // The q | k | v row width, (H + 2 Hkv) dh, must fit in an int.
  if ((c.n_heads + 2LL * c.n_kv_heads) * c.head_dim() > (1LL << 30)) {
    throw Error(r.ctx(r.has("head_dim") ? "head_dim" : "num_attention_heads"),
                "(num_attention_heads + 2 * num_key_value_heads) * head_dim exceeds 2^30",
                "use the config.json that came with these weights");
  }
  if (c.head_dim() % 2 != 0) {
    throw Error(r.ctx(r.has("head_dim") ? "head_dim" : "num_attention_heads"),
                "head_dim " + std::to_string(c.head_dim()) +
                    " is odd: rotary embeddings need "
                    "an even head width",
                "use the config.json that came with these weights");
  }
  c.rotary_dim = c.head_dim();
  c.rope_theta = r.number("rope_theta", 10000.0, "the rotary base (10000)");
  if (!(c.rope_theta > 1.0)) {
    throw Error(r.ctx("rope_theta"), std::to_string(c.rope_theta) + " is not a rotary base",
                "set rope_theta to the base of the rotary frequencies (10000, 500000)");
  }
  c.rope_scaling = r.rope_scaling("rope_scaling");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", tie_default);
  c.position_embeddings = false;
  c.scale_attention_scores = true;
  c.attention_kinds.assign(static_cast<std::size_t>(c.n_layers), AttentionKind::Global);
  c.window_size = 0;
}

std::string LlamaBlockArchitecture::gated_activation_name(const ConfigReader& r,
                                                          const std::string& key,
                                                          const std::string& fallback) {
  return r.activation(key, {"silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new"}, fallback);
}

bool LlamaBlockArchitecture::ignored_tensor(const std::string& name) const {
  return name == "lm_head.weight" || name.ends_with(".rotary_emb.inv_freq");
}

MlpTensorNames LlamaBlockArchitecture::mlp_tensor_names(int layer) const {
  // The gate reads the residual stream (a neuron is act(gate) * up); no bias.
  const std::string b = "model.layers." + std::to_string(layer) + ".mlp.";
  return {b + "gate_proj.weight", "", b + "down_proj.weight", true};
}

ModelWeights LlamaBlockArchitecture::map_weights(TensorSource& t, const ModelConfig& cfg) const {
  const int D = cfg.d_model, F = cfg.d_mlp, dh = cfg.head_dim();
  const int QW = cfg.n_heads * dh, KW = cfg.kv_heads() * dh;
  const std::int64_t d = D;
  const auto norm = [&](const std::string& key) {
    return LayerNormWeights{t.get(key + ".weight", {d}, "[hidden_size]"), nullptr};
  };
  const auto linear = [&](const std::string& key, int in, int out, bool bias,
                          const std::string& meaning) {
    const std::int64_t i = in, o = out;
    const float* w = t.get(key + ".weight", {o, i}, meaning);
    const float* b = bias ? t.get(key + ".bias", {o}, "[" + std::to_string(out) + "]") : nullptr;
    return Linear{w, b, in, out, in, true};
  };
  ModelWeights w;
  w.wte = t.get("model.embed_tokens.weight", {cfg.n_vocab, d}, "[vocab_size, hidden_size]");
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string b = "model.layers." + std::to_string(l) + ".";
    const std::string a = b + "self_attn.";
    const std::string m = b + "mlp.";
    BlockWeights blk;
    const std::string heads = "[num_attention_heads * head_dim, hidden_size]";
    const std::string kv_heads = "[num_key_value_heads * head_dim, hidden_size]";
    const Linear views[] = {
        linear(a + "q_proj", D, QW, cfg.qkv_bias, heads),
        linear(a + "k_proj", D, KW, cfg.qkv_bias, kv_heads),
        linear(a + "v_proj", D, KW, cfg.qkv_bias, kv_heads),
        linear(a + "o_proj", QW, D, cfg.out_bias, "[hidden_size, num_attention_heads * head_dim]"),
        linear(m + "gate_proj", D, F, cfg.mlp_bias, "[intermediate_size, hidden_size]"),
        linear(m + "up_proj", D, F, cfg.mlp_bias, "[intermediate_size, hidden_size]"),
        linear(m + "down_proj", F, D, cfg.mlp_bias, "[hidden_size, intermediate_size]"),
    };
    for (int i = 0; i < 7; ++i) blk.linears.push_back({LlamaLinear::kNames[i], views[i]});
    if (options_.sandwich_norms) {
      blk.norms = {
          {LlamaNorm::kNames[LlamaNorm::kLn1], norm(b + "input_layernorm")},
          {LlamaNorm::kNames[LlamaNorm::kLn2], norm(b + "pre_feedforward_layernorm")},
          {LlamaNorm::kNames[LlamaNorm::kLn1Post], norm(b + "post_attention_layernorm")},
          {LlamaNorm::kNames[LlamaNorm::kLn2Post], norm(b + "post_feedforward_layernorm")}};
    } else {
      blk.norms = {{LlamaNorm::kNames[LlamaNorm::kLn1], norm(b + "input_layernorm")},
                   {LlamaNorm::kNames[LlamaNorm::kLn2], norm(b + "post_attention_layernorm")}};
    }
    w.blocks.push_back(std::move(blk));
  }
  w.ln_f = norm("model.norm");
  if (!cfg.tie_word_embeddings) {
    w.unembed = t.get("lm_head.weight", {cfg.n_vocab, d}, "[vocab_size, hidden_size]");
  }
  return w;
}

std::span<const BlockSite> LlamaBlockArchitecture::block_sites(
    const ModelConfig& /*config*/) const {
  return kSites;
}

std::vector<std::size_t> LlamaBlockArchitecture::workspace_sizes(const ModelConfig& cfg,
                                                                 std::size_t n,
                                                                 int max_seq_len) const {
  const auto d = static_cast<std::size_t>(cfg.d_model);
  const auto f = static_cast<std::size_t>(cfg.d_mlp);
  const auto qw = static_cast<std::size_t>(cfg.n_heads) * cfg.head_dim();
  return {n * d,
          n * static_cast<std::size_t>(qkv_width(cfg)),
          n * qw,
          n * d,
          n * f,
          n * f,
          attention_scratch_size(max_seq_len, cfg.head_dim()),
          rope_workspace_size(max_seq_len, cfg.rotary_dim)};
}

std::vector<BlockGemm> LlamaBlockArchitecture::block_gemms(const ModelConfig& cfg) const {
  const int d = cfg.d_model, f = cfg.d_mlp, qw = cfg.n_heads * cfg.head_dim();
  return {{d, qkv_width(cfg)}, {qw, d}, {d, f}, {d, f}, {f, d}};
}

std::vector<PackedBf16Matrix> LlamaBlockArchitecture::pack_block(const BlockWeights& b) const {
  return pack_qkv_and(
      b, LlamaLinear::kQ, LlamaLinear::kK, LlamaLinear::kV,
      {LlamaLinear::kAttnOut, LlamaLinear::kGate, LlamaLinear::kUp, LlamaLinear::kDown});
}

double LlamaBlockArchitecture::block_flops(const ModelConfig& cfg, int layer, int batch,
                                           int seq_len, int last_slot) const {
  const double n = static_cast<double>(batch) * seq_len;
  const double d = cfg.d_model, f = cfg.d_mlp;
  const double qw = static_cast<double>(cfg.n_heads) * cfg.head_dim();
  return staged_flops(last_slot,
                      {{kAttnQ, 2.0 * n * d * qkv_width(cfg)},
                       {kAttnZ, attention_flops(cfg, batch, seq_len, window_of(cfg, layer))},
                       {kAttnOut, 2.0 * n * qw * d},
                       {kMlpPre, 2.0 * n * d * f},
                       {kMlpPreLinear, 2.0 * n * d * f},
                       {kMlpOut, 2.0 * n * f * d}});
}

void LlamaBlockArchitecture::final_norm(const ModelWeights& w, const ModelConfig& cfg,
                                        std::span<const float> x, std::span<float> y,
                                        int rows) const {
  const int d = cfg.d_model;
  rms_norm(x, y, weight_vector(w.ln_f.gamma, d), rows, d, cfg.layer_norm_eps, options_.norm_offset);
}

bool LlamaBlockArchitecture::run_block(BlockRun& run, int l) const {
  const ModelConfig& cfg = run.config();
  const BlockWeights& bw = run.weights();
  const int d = cfg.d_model, f = cfg.d_mlp;
  const int n_heads = cfg.n_heads, n_kv = cfg.kv_heads(), dh = cfg.head_dim();
  const int qw = n_heads * dh, kw = n_kv * dh, ldq = qkv_width(cfg);
  const int seq_len = run.seq_len(), nn = run.rows();
  const std::size_t n = static_cast<std::size_t>(nn);
  const float eps = cfg.layer_norm_eps, offset = options_.norm_offset;
  float* resid_ = run.resid();
  float* ln_ = run.workspace(kLn).data();
  float* qkv_ = run.workspace(kQkv).data();
  float* z_ = run.workspace(kZ).data();
  float* tmp_ = run.workspace(kTmp).data();
  float* gate_ = run.workspace(kGate).data();
  float* up_ = run.workspace(kUp).data();
  const std::span<float> resid(resid_, n * d), ln(ln_, n * d), tmp(tmp_, n * d);
  const Linear& q = bw.linears[LlamaLinear::kQ].w;
  const Linear& k = bw.linears[LlamaLinear::kK].w;
  const Linear& v = bw.linears[LlamaLinear::kV].w;
  const Linear& attn_out = bw.linears[LlamaLinear::kAttnOut].w;
  const Linear& gate = bw.linears[LlamaLinear::kGate].w;
  const Linear& up = bw.linears[LlamaLinear::kUp].w;
  const Linear& down = bw.linears[LlamaLinear::kDown].w;
  const auto gamma = [&](int norm) { return weight_vector(bw.norms[norm].w.gamma, d); };
  const bool bf16 = run.bf16();
  const bool sandwich = options_.sandwich_norms;

  if (!run.needed(kResidPre)) return false;
  run.emit(kResidPre, resid_, d);

  // ---- Attention: q | k | v per row, [N, (H + 2 Hkv) dh].
  if (!run.needed(kAttnQ)) return false;
  rms_norm(resid, ln, gamma(LlamaNorm::kLn1), nn, d, eps, offset);
  // Bf16: one GEMM against the packed [D, (H + 2 Hkv) dh] q | k | v, biases after.
  if (bf16) run.linear(kGemmQkv, q, ln_, d, qkv_, ldq);
  project_qkv_parts(run, q, k, v, ln_, d, qkv_, ldq, qw, kw);
  run.emit(kAttnQ, qkv_, ldq);
  run.emit(kAttnK, qkv_ + qw, ldq);
  run.emit(kAttnV, qkv_ + qw + kw, ldq);
  if (!run.needed(kAttnRotQ)) return false;
  {
    // The cos / sin table depends only on the config and seq_len: block 0 computes it, later
    // blocks of the run reuse it.
    const auto [cos, sin] = rope_tables(run.workspace(kRope), cfg, seq_len, l == 0);
    apply_rope(qkv_, ldq, nn, seq_len, n_heads, dh, cfg.rotary_dim, cos, sin);
    apply_rope(qkv_ + qw, ldq, nn, seq_len, n_kv, dh, cfg.rotary_dim, cos, sin);
  }
  run.emit(kAttnRotQ, qkv_, ldq);
  run.emit(kAttnRotK, qkv_ + qw, ldq);
  if (!run.needed(kAttnZ)) return false;
  const int window = window_of(cfg, l);
  const float scale =
      cfg.attention_scale > 0.0f ? cfg.attention_scale : 1.0f / std::sqrt(static_cast<float>(dh));
  const std::span<float> scores = run.workspace(kScores);
  attention_heads(qkv_, ldq, z_, run.batch(), seq_len, n_heads, n_kv, dh, scale, window, scores,
                  cfg.attention_softcap);
  run.emit(kAttnZ, z_, qw);
  if (!run.needed(kAttnOut)) return false;
  run.linear(kGemmAttnOut, attn_out, z_, qw, tmp_, d);
  if (sandwich) {
    // Gemma 2: post_attention_layernorm on the attention output; hook_attn_out is after it, as
    // TransformerLens hooks it ("that which is added to the residual stream").
    if (attn_out.bias) add_bias(tmp, bias_span(attn_out), nn, d);
    rms_norm(tmp, tmp, gamma(LlamaNorm::kLn1Post), nn, d, eps, offset);
    add_bias_residual(resid, tmp, {}, nn, d);
  } else {
    add_bias_residual(resid, tmp, bias_span(attn_out), nn, d);
  }
  run.emit(kAttnOut, tmp_, d);
  run.emit(kResidMid, resid_, d);

  // ---- MLP: down(act(gate) * up).
  if (!run.needed(kMlpPre)) return false;
  rms_norm(resid, ln, gamma(LlamaNorm::kLn2), nn, d, eps, offset);
  // gate_proj and up_proj write straight into full captures of their hooks when there are.
  float* gate_buf = run.full_buffer(kMlpPre);
  if (!gate_buf) gate_buf = gate_;
  run.linear(kGemmGate, gate, ln_, d, gate_buf, f);
  if (gate.bias) add_bias({gate_buf, n * f}, bias_span(gate), nn, f);
  run.emit(kMlpPre, gate_buf, f, gate_buf);
  if (!run.needed(kMlpPreLinear)) return false;
  float* up_buf = run.full_buffer(kMlpPreLinear);
  if (!up_buf) up_buf = up_;
  run.linear(kGemmUp, up, ln_, d, up_buf, f);
  if (up.bias) add_bias({up_buf, n * f}, bias_span(up), nn, f);
  run.emit(kMlpPreLinear, up_buf, f, up_buf);
  if (!run.needed(kMlpPost)) return false;
  // act(gate) * up over the gate workspace: either it holds the gate (already emitted) or the
  // gate went to a capture and the workspace is free.
  float* post_buf = run.full_buffer(kMlpPost);
  if (!post_buf) post_buf = gate_;
  const Activation act = activation_from_name(cfg.activation).value_or(Activation::Silu);
  gated_activation({gate_buf, n * f}, {up_buf, n * f}, {post_buf, n * f}, nn, f, act);
  run.emit(kMlpPost, post_buf, f, post_buf);
  if (!run.needed(kMlpOut)) return false;
  run.linear(kGemmDown, down, post_buf, f, tmp_, d);
  if (sandwich) {
    if (down.bias) add_bias(tmp, bias_span(down), nn, d);
    rms_norm(tmp, tmp, gamma(LlamaNorm::kLn2Post), nn, d, eps, offset);
    add_bias_residual(resid, tmp, {}, nn, d);
  } else {
    add_bias_residual(resid, tmp, bias_span(down), nn, d);
  }
  run.emit(kMlpOut, tmp_, d);
  run.emit(kResidPost, resid_, d);
  return true;
}

}  // namespace neurolens::model
