// GPT-NeoX (model_type "gpt_neox": Pythia, GPT-NeoX-20B).
// Owns: its config.json fields (hidden_size, num_hidden_layers, num_attention_heads,
// intermediate_size, max_position_embeddings, vocab_size as the embedding's rows, rotary_pct /
// partial_rotary_factor, rotary_emb_base / rope_theta, rope_scaling or rope_parameters,
// layer_norm_eps, hidden_act, use_parallel_residual, attention_bias, tie_word_embeddings), its
// tensor names ("gpt_neox.layers.L...", the untied top-level "embed_out.weight"), its two site
// tables (parallel blocks have no hook_resid_mid) and its block: LayerNorm with bias, the fused
// query_key_value projection, partial rotary embeddings (HF rotate_half) on the first
// rotary_dim features of each q / k head, causal attention scaled by 1/sqrt(dh) in fp32, dense,
// LayerNorm, dense_h_to_4h + act (exact-erf "gelu" for Pythia), dense_4h_to_h, with the
// parallel (x + attn(ln_1(x)) + mlp(ln_2(x))) or the sequential residual.
// query_key_value [3D, D] (nn.Linear [out, in]) lists its rows per head, [H, 3, dh]: head h's
// q rows, then its k rows, then its v rows. The block multiplies by the fused matrix as stored
// (one GEMM, fp32 or packed bf16, weights memory-mapped and shared), then de-interleaves each
// output row into q | k | v ([N, 3D], heads concatenated in each) with one row of scratch: a
// copy of 3D floats per row against the GEMM's 6 D^2 FLOPs per row, after which hooks, rotary
// and attention read contiguous views exactly as in the GPT-2 block.
// Legend: N = B*T rows, D d_model, F d_mlp, H heads, dh head_dim, rd rotary_dim.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "model/arch/architecture.hpp"
#include "model/arch/block_steps.hpp"
#include "model/ops/activation.hpp"
#include "model/ops/attention.hpp"
#include "model/ops/bias.hpp"
#include "model/ops/layer_norm.hpp"
#include "model/ops/rotary.hpp"

namespace neurolens::model {
namespace {

// The site tables, in the order run_block produces them. Parallel blocks have no residual
// stream between attention and MLP, so no hook_resid_mid (as in TransformerLens).
constexpr BlockSite kSequentialSites[] = {
    {HookSite::ResidPre, SiteWidth::Model},  {HookSite::AttnQ, SiteWidth::QHeads},
    {HookSite::AttnK, SiteWidth::KvHeads},   {HookSite::AttnV, SiteWidth::KvHeads},
    {HookSite::AttnRotQ, SiteWidth::QHeads}, {HookSite::AttnRotK, SiteWidth::KvHeads},
    {HookSite::AttnZ, SiteWidth::QHeads},    {HookSite::AttnOut, SiteWidth::Model},
    {HookSite::ResidMid, SiteWidth::Model},  {HookSite::MlpPre, SiteWidth::Mlp},
    {HookSite::MlpPost, SiteWidth::Mlp},     {HookSite::MlpOut, SiteWidth::Model},
    {HookSite::ResidPost, SiteWidth::Model},
};
constexpr BlockSite kParallelSites[] = {
    {HookSite::ResidPre, SiteWidth::Model},  {HookSite::AttnQ, SiteWidth::QHeads},
    {HookSite::AttnK, SiteWidth::KvHeads},   {HookSite::AttnV, SiteWidth::KvHeads},
    {HookSite::AttnRotQ, SiteWidth::QHeads}, {HookSite::AttnRotK, SiteWidth::KvHeads},
    {HookSite::AttnZ, SiteWidth::QHeads},    {HookSite::AttnOut, SiteWidth::Model},
    {HookSite::MlpPre, SiteWidth::Mlp},      {HookSite::MlpPost, SiteWidth::Mlp},
    {HookSite::MlpOut, SiteWidth::Model},    {HookSite::ResidPost, SiteWidth::Model},
};

// A site's slot in a table; -1 when the table has none.
template <std::size_t N>
constexpr int slot(const BlockSite (&sites)[N], HookSite site) {
  for (int i = 0; i < static_cast<int>(N); ++i) {
    if (sites[i].site == site) return i;
  }
  return -1;
}

// The slots run_block emits, in one table.
struct Slots {
  int resid_pre, q, k, v, rot_q, rot_k, z, attn_out, resid_mid, mlp_pre, mlp_post, mlp_out,
      resid_post;
};
template <std::size_t N>
constexpr Slots slots_of(const BlockSite (&s)[N]) {
  return {slot(s, HookSite::ResidPre), slot(s, HookSite::AttnQ),    slot(s, HookSite::AttnK),
          slot(s, HookSite::AttnV),    slot(s, HookSite::AttnRotQ), slot(s, HookSite::AttnRotK),
          slot(s, HookSite::AttnZ),    slot(s, HookSite::AttnOut),  slot(s, HookSite::ResidMid),
          slot(s, HookSite::MlpPre),   slot(s, HookSite::MlpPost),  slot(s, HookSite::MlpOut),
          slot(s, HookSite::ResidPost)};
}
constexpr Slots kSequential = slots_of(kSequentialSites);
constexpr Slots kParallel = slots_of(kParallelSites);
static_assert(kParallel.resid_mid == -1 && kSequential.resid_mid == kSequential.attn_out + 1);

const Slots& slots(const ModelConfig& cfg) {
  return cfg.parallel_residual ? kParallel : kSequential;
}

// BlockWeights::linears order and names.
struct NeoxLinear {
  static constexpr int kQkv = 0;      // [D] -> [3D], rows per head [H, 3, dh] (nn.Linear)
  static constexpr int kAttnOut = 1;  // dense, [D] -> [D]
  static constexpr int kFc = 2;       // dense_h_to_4h, [D] -> [F]
  static constexpr int kProj = 3;     // dense_4h_to_h, [F] -> [D]
  static constexpr const char* kNames[] = {"qkv", "attn_out", "fc", "proj"};
};
// BlockWeights::norms order.
struct NeoxNorm {
  static constexpr int kLn1 = 0, kLn2 = 1;  // input_layernorm, post_attention_layernorm
  static constexpr const char* kNames[] = {"ln_1", "ln_2"};
};

// Workspace views (workspace_sizes order). kLn first: the forward pass writes the final norm
// there. kRope: [0] the sequence length the table below holds, then cos [T, rd / 2] and sin
// [T, rd / 2]. kRow: one row of the fused projection (de-interleaving scratch).
enum View { kLn, kQkv, kZ, kTmp, kMlp, kScores, kRope, kRow };
// block_gemms order.
enum Gemm { kGemmQkv, kGemmAttnOut, kGemmFc, kGemmProj };

// Rows [N, 3D] of the fused projection, per head [H, 3, dh], rewritten in place as q | k | v
// (each [H, dh]). row: 3D floats of scratch.
void deinterleave_qkv(float* qkv, int rows, int n_heads, int head_dim, float* row) {
  const int d = n_heads * head_dim;
  const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(head_dim);
  for (int r = 0; r < rows; ++r) {
    float* x = qkv + static_cast<std::size_t>(r) * 3 * d;
    std::memcpy(row, x, sizeof(float) * 3 * static_cast<std::size_t>(d));
    for (int h = 0; h < n_heads; ++h) {
      for (int part = 0; part < 3; ++part) {
        std::memcpy(x + part * d + h * head_dim, row + (3 * h + part) * head_dim, bytes);
      }
    }
  }
}

// Whether config.json sets `key` inside the object `parent` (rope_parameters).
bool has_nested(const ConfigReader& r, const std::string& parent, const char* key) {
  return r.has(parent) && r.at(parent).is_object() && r.at(parent).contains(key) &&
         !r.at(parent)[key].is_null();
}

// The number at parent.key (has_nested must hold).
double nested_number(const ConfigReader& r, const std::string& parent, const char* key) {
  const nlohmann::json& v = r.at(parent)[key];
  if (!v.is_number() || !std::isfinite(v.get<double>())) {
    throw Error(r.ctx(parent + "." + key), v.dump() + " is not a number",
                "fix " + parent + "." + key + " in config.json");
  }
  return v.get<double>();
}

std::string number_text(double x) {
  return nlohmann::json(x).dump();
}

class GptNeoxArchitecture : public ModelArchitecture {
 public:
  const char* model_type() const override { return "gpt_neox"; }

  void parse_config(const ConfigReader& r, ModelConfig& c) const override {
    c.d_model = r.positive_int("hidden_size", "the hidden size (512 for pythia-70m)");
    c.n_layers = r.layer_count("num_hidden_layers", "the number of blocks (6 for pythia-70m)");
    c.n_heads = r.positive_int("num_attention_heads", "the number of attention heads (8)");
    c.n_kv_heads = c.n_heads;
    r.check_heads_divide("num_attention_heads", c.n_heads, "hidden_size", c.d_model);
    c.d_mlp = r.positive_int("intermediate_size", "the MLP width (2048 for pythia-70m)");
    c.n_positions = r.positive_int("max_position_embeddings", "the context length (2048)");
    // The embedding's rows, padded beyond the tokenizer's ids (50304 for Pythia's 50277).
    c.n_vocab = r.positive_int("vocab_size", "the rows of embed_in (50304 for pythia-70m)");
    c.layer_norm_eps = r.epsilon("layer_norm_eps");
    c.activation = r.activation(
        "hidden_act", {"gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "silu", "swish"},
        "gelu");
    c.parallel_residual = r.boolean("use_parallel_residual", true);
    c.attention_bias = r.boolean("attention_bias", true);
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    c.attention_kinds.assign(static_cast<std::size_t>(c.n_layers), AttentionKind::Global);
    c.window_size = 0;
    c.scale_attention_scores = true;
    c.position_embeddings = false;

    // Rotary: transformers up to 4.4x reads rotary_pct / rotary_emb_base / rope_scaling; later
    // ones also rope_parameters {rope_theta, partial_rotary_factor, rope_type}, which wins.
    std::string pct_key = r.has("rotary_pct")              ? "rotary_pct"
                          : r.has("partial_rotary_factor") ? "partial_rotary_factor"
                                                           : "rotary_pct";
    double pct = r.number(pct_key, 0.25, "the fraction of each head that rotates (0.25)");
    if (has_nested(r, "rope_parameters", "partial_rotary_factor")) {
      pct = nested_number(r, "rope_parameters", "partial_rotary_factor");
      pct_key = "rope_parameters.partial_rotary_factor";
    }
    if (!(pct > 0.0 && pct <= 1.0)) {
      throw Error(r.ctx(pct_key), number_text(pct) + " is not in (0, 1]",
                  "set " + pct_key + " to the rotated fraction of each head (0.25 for Pythia)");
    }
    const int dh = c.head_dim();
    c.rotary_dim = static_cast<int>(dh * pct);  // Python's int(head_size * rotary_pct)
    if (c.rotary_dim < 2 || c.rotary_dim % 2 != 0) {
      throw Error(r.ctx(pct_key),
                  "gives rotary_ndims = int(" + std::to_string(dh) + " * " + number_text(pct) +
                      ") = " + std::to_string(c.rotary_dim) + ", which must be even and at least 2",
                  "set " + pct_key + " so that head_dim * " + pct_key + " is an even integer");
    }
    std::string theta_key = r.has("rotary_emb_base") ? "rotary_emb_base" : "rope_theta";
    c.rope_theta = r.number(theta_key, 10000.0, "the rotary base (10000)");
    if (has_nested(r, "rope_parameters", "rope_theta")) {
      c.rope_theta = nested_number(r, "rope_parameters", "rope_theta");
      theta_key = "rope_parameters.rope_theta";
    }
    if (!(c.rope_theta > 1.0)) {
      throw Error(r.ctx(theta_key), number_text(c.rope_theta) + " is not a rotary base > 1",
                  "set " + theta_key + " to the rotary base (10000 for Pythia)");
    }
    c.rope_scaling = r.has("rope_parameters") ? r.rope_scaling("rope_parameters")
                                              : r.rope_scaling("rope_scaling");
  }

  std::vector<std::string> key_prefixes() const override { return {""}; }
  std::string embedding_tensor() const override { return "gpt_neox.embed_in.weight"; }
  std::string block_tensor_prefix() const override { return "gpt_neox.layers."; }

  // HF's causal-mask and rotary buffers (saved by older transformers) and, when the
  // embeddings are tied, an embed_out copy.
  bool ignored_tensor(const std::string& name) const override {
    if (name == "embed_out.weight") return true;  // read by map_weights unless tied
    if (!name.starts_with("gpt_neox.")) return false;
    return name.ends_with(".attention.bias") || name.ends_with(".attention.masked_bias") ||
           name.ends_with("rotary_emb.inv_freq");
  }

  ModelWeights map_weights(TensorSource& t, const ModelConfig& cfg) const override {
    const std::int64_t d = cfg.d_model, f = cfg.d_mlp, v = cfg.n_vocab;
    const int D = cfg.d_model, F = cfg.d_mlp;
    const auto norm = [&](const std::string& key) {
      return LayerNormWeights{t.get(key + ".weight", {d}, "[hidden_size]"),
                              t.get(key + ".bias", {d}, "[hidden_size]")};
    };
    const auto bias = [&](const std::string& key, std::int64_t n, const char* meaning) {
      return cfg.attention_bias ? t.get(key, {n}, meaning) : nullptr;
    };
    ModelWeights w;
    w.wte = t.get("gpt_neox.embed_in.weight", {v, d}, "[vocab_size, hidden_size]");
    for (int l = 0; l < cfg.n_layers; ++l) {
      const std::string b = "gpt_neox.layers." + std::to_string(l) + ".";
      const std::string a = b + "attention.";
      BlockWeights blk;
      const LayerNormWeights ln_1 = norm(b + "input_layernorm");
      const Linear qkv{
          t.get(a + "query_key_value.weight", {3 * d, d}, "[3 * hidden_size, hidden_size]"),
          bias(a + "query_key_value.bias", 3 * d, "[3 * hidden_size]"),
          D,
          3 * D,
          D,
          true};
      const Linear attn_out{t.get(a + "dense.weight", {d, d}, "[hidden_size, hidden_size]"),
                            bias(a + "dense.bias", d, "[hidden_size]"),
                            D,
                            D,
                            D,
                            true};
      const LayerNormWeights ln_2 = norm(b + "post_attention_layernorm");
      const Linear fc{
          t.get(b + "mlp.dense_h_to_4h.weight", {f, d}, "[intermediate_size, hidden_size]"),
          t.get(b + "mlp.dense_h_to_4h.bias", {f}, "[intermediate_size]"),
          D,
          F,
          D,
          true};
      const Linear proj{
          t.get(b + "mlp.dense_4h_to_h.weight", {d, f}, "[hidden_size, intermediate_size]"),
          t.get(b + "mlp.dense_4h_to_h.bias", {d}, "[hidden_size]"),
          F,
          D,
          F,
          true};
      const Linear views[] = {qkv, attn_out, fc, proj};
      for (int i = 0; i < 4; ++i) blk.linears.push_back({NeoxLinear::kNames[i], views[i]});
      blk.norms = {{NeoxNorm::kNames[NeoxNorm::kLn1], ln_1},
                   {NeoxNorm::kNames[NeoxNorm::kLn2], ln_2}};
      w.blocks.push_back(std::move(blk));
    }
    w.ln_f = norm("gpt_neox.final_layer_norm");
    if (!cfg.tie_word_embeddings) {
      w.unembed = t.get("embed_out.weight", {v, d}, "[vocab_size, hidden_size]");
    }
    return w;
  }

  MlpTensorNames mlp_tensor_names(int layer) const override {
    const std::string b = "gpt_neox.layers." + std::to_string(layer) + ".mlp.";
    return {b + "dense_h_to_4h.weight", b + "dense_h_to_4h.bias", b + "dense_4h_to_h.weight", true};
  }

  std::span<const BlockSite> block_sites(const ModelConfig& cfg) const override {
    if (cfg.parallel_residual) return kParallelSites;
    return kSequentialSites;
  }

  std::vector<std::size_t> workspace_sizes(const ModelConfig& cfg, std::size_t n,
                                           int max_seq_len) const override {
    const auto d = static_cast<std::size_t>(cfg.d_model);
    return {n * d,
            n * 3 * d,
            n * d,
            n * d,
            n * static_cast<std::size_t>(cfg.d_mlp),
            attention_scratch_size(max_seq_len, cfg.head_dim()),
            rope_workspace_size(max_seq_len, cfg.rotary_dim),
            3 * d};
  }

  std::vector<BlockGemm> block_gemms(const ModelConfig& cfg) const override {
    const int d = cfg.d_model, f = cfg.d_mlp;
    return {{d, 3 * d}, {d, d}, {d, f}, {f, d}};
  }

  std::vector<PackedBf16Matrix> pack_block(const BlockWeights& b) const override {
    return pack_linears(
        b, {NeoxLinear::kQkv, NeoxLinear::kAttnOut, NeoxLinear::kFc, NeoxLinear::kProj});
  }

  double block_flops(const ModelConfig& cfg, int layer, int batch, int seq_len,
                     int last_slot) const override {
    (void)layer;  // every layer is global causal attention
    const Slots& s = slots(cfg);
    const double n = static_cast<double>(batch) * seq_len;
    const double d = cfg.d_model, f = cfg.d_mlp;
    return staged_flops(last_slot, {{s.q, 2.0 * n * 3 * d * d},
                                    {s.z, attention_flops(cfg, batch, seq_len, 0)},
                                    {s.attn_out, 2.0 * n * d * d},
                                    {s.mlp_pre, 2.0 * n * d * f},
                                    {s.mlp_out, 2.0 * n * d * f}});
  }

  void final_norm(const ModelWeights& w, const ModelConfig& cfg, std::span<const float> x,
                  std::span<float> y, int rows) const override {
    final_layer_norm(w, cfg, x, y, rows);
  }

  bool run_block(BlockRun& run, int l) const override;
};

bool GptNeoxArchitecture::run_block(BlockRun& run, int l) const {
  const ModelConfig& cfg = run.config();
  const Slots& s = slots(cfg);
  const BlockWeights& bw = run.weights();
  const int d = cfg.d_model, f = cfg.d_mlp;
  const int n_heads = cfg.n_heads, dh = cfg.head_dim(), rd = cfg.rotary_dim;
  const int batch = run.batch(), seq_len = run.seq_len(), nn = run.rows();
  const std::size_t n = static_cast<std::size_t>(nn);
  float* resid_ = run.resid();
  float* ln_ = run.workspace(kLn).data();
  float* qkv_ = run.workspace(kQkv).data();
  float* z_ = run.workspace(kZ).data();
  float* tmp_ = run.workspace(kTmp).data();
  float* mlp_ = run.workspace(kMlp).data();
  const std::span<float> resid(resid_, n * d), ln(ln_, n * d), tmp(tmp_, n * d);
  const Linear& qkv_w = bw.linears[NeoxLinear::kQkv].w;
  const Linear& attn_out = bw.linears[NeoxLinear::kAttnOut].w;
  const Linear& fc = bw.linears[NeoxLinear::kFc].w;
  const Linear& proj = bw.linears[NeoxLinear::kProj].w;
  const LayerNormWeights& ln_1 = bw.norms[NeoxNorm::kLn1].w;
  const LayerNormWeights& ln_2 = bw.norms[NeoxNorm::kLn2].w;

  if (!run.needed(s.resid_pre)) return false;
  run.emit(s.resid_pre, resid_, d);

  // ---- Attention: one GEMM on the fused [3D, D] matrix, rows per head [H, 3, dh].
  if (!run.needed(s.q)) return false;
  layer_norm(resid, ln, weight_vector(ln_1.gamma, d), weight_vector(ln_1.beta, d), nn, d,
             cfg.layer_norm_eps);
  run.linear(kGemmQkv, qkv_w, ln_, d, qkv_, 3 * d);
  if (qkv_w.bias) add_bias({qkv_, n * 3 * d}, bias_span(qkv_w), nn, 3 * d);
  deinterleave_qkv(qkv_, nn, n_heads, dh, run.workspace(kRow).data());
  run.emit(s.q, qkv_, 3 * d);
  run.emit(s.k, qkv_ + d, 3 * d);
  run.emit(s.v, qkv_ + 2 * d, 3 * d);

  // ---- Rotary on the first rd features of each q / k head. The table depends only on the
  // config and the positions: block 0 of a run computes it, later blocks reuse it.
  if (!run.needed(s.rot_q)) return false;
  const auto [cos, sin] = rope_tables(run.workspace(kRope), cfg, seq_len, l == 0);
  apply_rope(qkv_, 3 * d, nn, seq_len, n_heads, dh, rd, cos, sin);
  apply_rope(qkv_ + d, 3 * d, nn, seq_len, n_heads, dh, rd, cos, sin);
  run.emit(s.rot_q, qkv_, 3 * d);
  run.emit(s.rot_k, qkv_ + d, 3 * d);

  if (!run.needed(s.z)) return false;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  const std::span<float> scores = run.workspace(kScores);
  attention_heads(qkv_, 3 * d, z_, batch, seq_len, n_heads, n_heads, dh, scale, 0, scores);
  run.emit(s.z, z_, d);
  if (!run.needed(s.attn_out)) return false;
  run.linear(kGemmAttnOut, attn_out, z_, d, tmp_, d);
  if (cfg.parallel_residual) {
    // The MLP reads ln_2 of the block's input: normalise before attention joins the stream.
    if (attn_out.bias) add_bias(tmp, bias_span(attn_out), nn, d);
    run.emit(s.attn_out, tmp_, d);
    if (!run.needed(s.mlp_pre)) return false;
    layer_norm(resid, ln, weight_vector(ln_2.gamma, d), weight_vector(ln_2.beta, d), nn, d,
               cfg.layer_norm_eps);
    add_bias_residual(resid, tmp, {}, nn, d);
  } else {
    add_bias_residual(resid, tmp, bias_span(attn_out), nn, d);
    run.emit(s.attn_out, tmp_, d);
    run.emit(s.resid_mid, resid_, d);
    if (!run.needed(s.mlp_pre)) return false;
    layer_norm(resid, ln, weight_vector(ln_2.gamma, d), weight_vector(ln_2.beta, d), nn, d,
               cfg.layer_norm_eps);
  }

  // ---- MLP: dense_h_to_4h writes straight into a full mlp.hook_pre capture when there is one.
  const Activation act = activation_from_name(cfg.activation).value_or(Activation::Gelu);
  float* post_buf = mlp_in_activation(
      run, kGemmFc, fc, ln_, d, mlp_, s.mlp_pre, s.mlp_post,
      [&](std::span<float> pre, std::span<float> post, std::span<const float> bias) {
        bias_activation(pre, post, bias, nn, f, act);
      });
  if (!post_buf) return false;
  if (!run.needed(s.mlp_out)) return false;
  run.linear(kGemmProj, proj, post_buf, f, tmp_, d);
  add_bias_residual(resid, tmp, bias_span(proj), nn, d);
  run.emit(s.mlp_out, tmp_, d);
  run.emit(s.resid_post, resid_, d);
  return true;
}

}  // namespace
}  // namespace neurolens::model

NEUROLENS_REGISTER_ARCHITECTURE(gpt_neox, GptNeoxArchitecture)
