#include "runner/studies/logit_effects.hpp"

#include <algorithm>
#include <limits>

#include "model/ops/gemm_f32.hpp"

namespace neurolens::runner {

std::vector<float> mlp_output_vectors(const model::Model& model, int layer, int64_t a, int64_t b) {
  const model::BlockWeights& block = model.weights.blocks[static_cast<size_t>(layer)];
  const model::Linear* w = nullptr;
  for (const model::NamedLinear& l : block.linears) {
    if (l.name == "proj" || l.name == "down") w = &l.w;
  }
  if (w == nullptr) return {};
  const auto D = static_cast<size_t>(w->out);
  std::vector<float> x(static_cast<size_t>(b - a) * D);
  for (int64_t f = a; f < b; ++f) {
    float* dst = x.data() + static_cast<size_t>(f - a) * D;
    if (!w->out_in) {
      std::copy_n(w->weight + static_cast<size_t>(f) * static_cast<size_t>(w->ld), D, dst);
    } else {
      for (size_t d = 0; d < D; ++d) {
        dst[d] = w->weight[d * static_cast<size_t>(w->ld) + static_cast<size_t>(f)];
      }
    }
  }
  return x;
}

LogitEffects mlp_logit_effects(const model::Model& model, const SiteSpace& site, Block slice,
                               size_t vocab, size_t n_tokens) {
  const auto n = static_cast<size_t>(slice.size());
  const model::ModelConfig& cfg = model.config;
  const float* wu = model.weights.unembed ? model.weights.unembed : model.weights.wte;
  const auto D = static_cast<size_t>(cfg.d_model);
  const size_t V = std::min<size_t>(static_cast<size_t>(cfg.n_vocab), static_cast<size_t>(vocab));
  const size_t nl = n_tokens;
  LogitEffects e;
  e.top_token.assign(n * nl, -1);
  e.bottom_token.assign(n * nl, -1);
  e.top_value.assign(n * nl, std::numeric_limits<float>::quiet_NaN());
  e.bottom_value.assign(n * nl, std::numeric_limits<float>::quiet_NaN());
  const auto W = static_cast<int64_t>(site.width);
  constexpr int64_t kChunk = 96;
  std::vector<float> logits, scratch;
  for (int64_t a = slice.begin; a < slice.end;) {
    const int64_t row = a / W;
    const int64_t b = std::min({a + kChunk, slice.end, (row + 1) * W});
    const int layer = site.layers[static_cast<size_t>(row)];
    const std::vector<float> x = mlp_output_vectors(model, layer, a - row * W, b - row * W);
    const auto m = static_cast<size_t>(b - a);
    if (x.size() == m * D) {
      logits.resize(m * V);
      const model::GemmShape shape{static_cast<int>(m), static_cast<int>(V), static_cast<int>(D)};
      scratch.resize(std::max(scratch.size(), model::gemm_f32_scratch_size(shape)));
      model::gemm_f32(shape, x.data(), static_cast<int>(D), {wu, static_cast<int>(D), true},
                      logits.data(), static_cast<int>(V), scratch);
      for (size_t i = 0; i < m; ++i) {
        const float* lrow = logits.data() + i * V;
        const size_t j = static_cast<size_t>(a - slice.begin) + i;
        int32_t* tt = e.top_token.data() + j * nl;
        float* tv = e.top_value.data() + j * nl;
        int32_t* bt = e.bottom_token.data() + j * nl;
        float* bv = e.bottom_value.data() + j * nl;
        size_t nt = 0, nb = 0;
        for (size_t v = 0; v < V; ++v) {
          const float y = lrow[v];
          // Top: larger, then smaller id (ids come in increasing order, so ">" keeps it).
          if (nt < nl || y > tv[nl - 1]) {
            size_t p = nt < nl ? nt++ : nl - 1;
            while (p > 0 && y > tv[p - 1]) {
              tv[p] = tv[p - 1];
              tt[p] = tt[p - 1];
              --p;
            }
            tv[p] = y;
            tt[p] = static_cast<int32_t>(v);
          }
          if (nb < nl || y < bv[nl - 1]) {
            size_t p = nb < nl ? nb++ : nl - 1;
            while (p > 0 && y < bv[p - 1]) {
              bv[p] = bv[p - 1];
              bt[p] = bt[p - 1];
              --p;
            }
            bv[p] = y;
            bt[p] = static_cast<int32_t>(v);
          }
        }
      }
    }
    a = b;
  }
  return e;
}

}  // namespace neurolens::runner
