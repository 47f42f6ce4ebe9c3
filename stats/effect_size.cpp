#include "stats/effect_size.hpp"

#include <cmath>
#include <limits>

namespace neurolens::stats {

double hedges_correction(double df) {
  if (!(df > 1.0)) return std::numeric_limits<double>::quiet_NaN();
  return std::exp(std::lgamma(df / 2.0) - std::lgamma((df - 1.0) / 2.0)) / std::sqrt(df / 2.0);
}

EffectSizeResult cohens_d(const GroupMoments& a, const GroupMoments& b) {
  check_neurons(b.neurons(), a.neurons(), "stats::cohens_d");
  const std::size_t k = a.neurons();
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  EffectSizeResult r{std::vector<double>(k, kNaN), std::vector<double>(k, kNaN),
                     std::vector<std::uint8_t>(k, 0)};
  const double na = a.count(), nb = b.count();
  const double df = na + nb - 2;
  const double j_corr = hedges_correction(df);
  for (std::size_t j = 0; j < k; ++j) {
    if (na < 2 || nb < 2) {
      set_flag(r.flags[j], Flag::TooFewSamples);
      continue;
    }
    const double pooled = (a.variance(j, 0.0) * na + b.variance(j, 0.0) * nb) / df;
    if (!(pooled > 0.0)) {
      set_flag(r.flags[j], Flag::ZeroVariance);
      continue;
    }
    r.d[j] = (a.mean()[j] - b.mean()[j]) / std::sqrt(pooled);
    r.g[j] = r.d[j] * j_corr;
  }
  return r;
}

}  // namespace neurolens::stats
