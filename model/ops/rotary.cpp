#include "model/ops/rotary.hpp"

#include <cassert>
#include <cmath>
#include <numbers>

namespace neurolens::model {

std::vector<float> rope_inverse_frequencies(int rotary_dim, double theta,
                                            const RopeScaling& scaling) {
  assert(rotary_dim > 0 && rotary_dim % 2 == 0);
  const int half = rotary_dim / 2;
  std::vector<float> inv(static_cast<std::size_t>(half));
  const float base = static_cast<float>(theta);
  for (int i = 0; i < half; ++i) {
    // 1.0 / (base ** (arange(0, dim, 2).float() / dim)), every step in fp32.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(rotary_dim);
    inv[static_cast<std::size_t>(i)] = 1.0f / std::pow(base, exponent);
  }
  switch (scaling.kind) {
    case RopeScalingKind::None:
      break;
    case RopeScalingKind::Linear:
      for (float& f : inv) f = static_cast<float>(f / scaling.factor);
      break;
    case RopeScalingKind::Llama3: {
      const double old_len = scaling.original_max_position_embeddings;
      const double low_wavelen = old_len / scaling.low_freq_factor;
      const double high_wavelen = old_len / scaling.high_freq_factor;
      for (float& f : inv) {
        const double wavelen = 2.0 * std::numbers::pi / f;
        if (wavelen < high_wavelen) continue;  // high frequencies: unchanged
        const double scaled = f / scaling.factor;
        if (wavelen > low_wavelen) {
          f = static_cast<float>(scaled);
          continue;
        }
        const double smooth = (old_len / wavelen - scaling.low_freq_factor) /
                              (scaling.high_freq_factor - scaling.low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * scaled + smooth * f);
      }
      break;
    }
  }
  return inv;
}

void rope_table(std::span<const float> inv_freq, int seq_len, std::span<float> cos,
                std::span<float> sin) {
  const std::size_t half = inv_freq.size();
  assert(cos.size() >= half * seq_len && sin.size() >= half * seq_len);
  for (int t = 0; t < seq_len; ++t) {
    for (std::size_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(t) * inv_freq[i];
      cos[t * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin[t * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

void apply_rope(float* x, int ld, int rows, int seq_len, int n_heads, int head_dim, int rotary_dim,
                std::span<const float> cos, std::span<const float> sin) {
  assert(rotary_dim % 2 == 0 && rotary_dim <= head_dim);
  const int half = rotary_dim / 2;
  for (int r = 0; r < rows; ++r) {
    const std::size_t pos = static_cast<std::size_t>(r % seq_len) * half;
    const float* c = cos.data() + pos;
    const float* s = sin.data() + pos;
    float* row = x + static_cast<std::size_t>(r) * ld;
    for (int h = 0; h < n_heads; ++h) {
      float* a = row + static_cast<std::size_t>(h) * head_dim;
      float* b = a + half;
      for (int i = 0; i < half; ++i) {
        const float x1 = a[i], x2 = b[i];
        a[i] = x1 * c[i] - x2 * s[i];
        b[i] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

}  // namespace neurolens::model
