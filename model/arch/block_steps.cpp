#include "model/arch/block_steps.hpp"

#include "model/ops/attention.hpp"
#include "model/ops/layer_norm.hpp"
#include "model/ops/rotary.hpp"

namespace neurolens::model {

std::span<const float> bias_span(const Linear& w) {
  return w.bias ? std::span<const float>(w.bias, static_cast<std::size_t>(w.out))
                : std::span<const float>();
}

std::span<const float> weight_vector(const float* p, int d) {
  return {p, static_cast<std::size_t>(d)};
}

int window_of(const ModelConfig& cfg, int layer) {
  return cfg.attention_kinds[static_cast<std::size_t>(layer)] == AttentionKind::Local
             ? cfg.window_size
             : 0;
}

void project_qkv_parts(BlockRun& run, const Linear& q, const Linear& k, const Linear& v,
                       const float* x, int ldx, float* qkv_, int ldq, int q_width, int kv_width) {
  const int nn = run.rows();
  const std::span<float> qkv(qkv_, static_cast<std::size_t>(nn) * ldq);
  const Linear* parts[] = {&q, &k, &v};
  const int offsets[] = {0, q_width, q_width + kv_width};
  const int widths[] = {q_width, kv_width, kv_width};
  for (int i = 0; i < 3; ++i) {
    if (!run.bf16()) run.linear_fp32(*parts[i], x, ldx, qkv_ + offsets[i], ldq);
    if (parts[i]->bias) add_bias(qkv.subspan(offsets[i]), bias_span(*parts[i]), nn, widths[i], ldq);
  }
}

void attention_heads(const float* qkv, int ldq, float* z, int batch, int seq_len, int n_heads,
                     int n_kv_heads, int head_dim, float scale, int window,
                     std::span<float> scratch, float softcap) {
  const int dh = head_dim, qw = n_heads * dh, kw = n_kv_heads * dh;
  const int group = n_heads / n_kv_heads;  // query head h reads key-value head h / group
  for (int b = 0; b < batch; ++b) {
    const float* seq = qkv + static_cast<std::size_t>(b) * seq_len * ldq;
    float* zs = z + static_cast<std::size_t>(b) * seq_len * qw;
    for (int h = 0; h < n_heads; ++h) {
      const int kv = h / group;
      attention_head(seq + h * dh, seq + qw + kv * dh, seq + qw + kw + kv * dh, ldq, zs + h * dh,
                     qw, seq_len, dh, scale, window, scratch, softcap);
    }
  }
}

std::size_t rope_workspace_size(int max_seq_len, int rotary_dim) {
  return 1 + 2 * static_cast<std::size_t>(max_seq_len) * static_cast<std::size_t>(rotary_dim / 2);
}

std::pair<std::span<const float>, std::span<const float>> rope_tables(std::span<float> rope,
                                                                      const ModelConfig& cfg,
                                                                      int seq_len,
                                                                      bool first_block) {
  const std::size_t table = static_cast<std::size_t>(seq_len) * (cfg.rotary_dim / 2);
  const std::span<float> cos = rope.subspan(1, table), sin = rope.subspan(1 + table, table);
  if (first_block || rope[0] != static_cast<float>(seq_len)) {
    const std::vector<float> inv =
        rope_inverse_frequencies(cfg.rotary_dim, cfg.rope_theta, cfg.rope_scaling);
    rope_table(inv, seq_len, cos, sin);
    rope[0] = static_cast<float>(seq_len);
  }
  return {cos, sin};
}

std::vector<PackedBf16Matrix> pack_qkv_and(const BlockWeights& b, int q, int k, int v,
                                           std::initializer_list<int> rest) {
  const auto at = [&](int i) -> const Linear& { return b.linears[static_cast<std::size_t>(i)].w; };
  const Linear qkv[] = {at(q), at(k), at(v)};
  std::vector<PackedBf16Matrix> packed;
  packed.emplace_back(qkv);
  for (int i : rest) packed.emplace_back(at(i));
  return packed;
}

std::vector<PackedBf16Matrix> pack_linears(const BlockWeights& b,
                                           std::initializer_list<int> linears) {
  std::vector<PackedBf16Matrix> packed;
  for (int i : linears) packed.emplace_back(b.linears[static_cast<std::size_t>(i)].w);
  return packed;
}

double attention_flops(const ModelConfig& cfg, int batch, int seq_len, int window) {
  return batch * cfg.n_heads * attention_head_flops(seq_len, cfg.head_dim(), window);
}

double staged_flops(int last_slot, std::initializer_list<std::pair<int, double>> stages) {
  double flops = 0.0;
  for (const auto& [slot, stage_flops] : stages) {
    if (last_slot >= slot) flops += stage_flops;
  }
  return flops;
}

void final_layer_norm(const ModelWeights& w, const ModelConfig& cfg, std::span<const float> x,
                      std::span<float> y, int rows) {
  const int d = cfg.d_model;
  layer_norm(x, y, weight_vector(w.ln_f.gamma, d), weight_vector(w.ln_f.beta, d), rows, d,
             cfg.layer_norm_eps);
}

}  // namespace neurolens::model
