// stats/effect_size.hpp — standardized mean differences per neuron from GroupMoments.
// Owns: Cohen's d with the pooled standard deviation and Hedges' g (d times the exact
// small-sample correction J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = na + nb - 2).
// Sign: mean(a) - mean(b), the same as the t statistic. Degenerate neurons: NaN and a Flag.
// Example:
//   EffectSizeResult e = cohens_d(moments_a, moments_b);   // e.d[k], e.g[k]
#pragma once

#include <cstdint>
#include <vector>

#include "stats/common.hpp"
#include "stats/moments.hpp"

namespace neurolens::stats {

struct EffectSizeResult {
  std::vector<double> d;            // [K] Cohen's d
  std::vector<double> g;            // [K] Hedges' g
  std::vector<std::uint8_t> flags;  // [K]
};

EffectSizeResult cohens_d(const GroupMoments& a, const GroupMoments& b);

// Hedges' exact correction factor J(df); 1 - 3/(4 df - 1) is its usual approximation.
double hedges_correction(double df);

}  // namespace neurolens::stats
