// stats/multiple_testing.hpp — family-wise corrections over many per-neuron p-values.
// Owns: Bonferroni and Benjamini-Hochberg (FDR) over a chosen family. The default family of the
// studies is every neuron of every tested layer: pass the layers' p arrays together (the span
// overload takes them concatenated; the vector overload concatenates for you, results in the same
// order). NaN p-values (degenerate neurons) are not part of the family: they do not count in m,
// are never rejected and get a NaN adjusted p. Same numbers as
// statsmodels.stats.multitest.multipletests(method="bonferroni" / "fdr_bh").
// Example:
//   MultipleTestingResult r = benjamini_hochberg(p, 0.05);
//   r.reject[i], r.adjusted[i], r.threshold (reject iff p <= threshold), r.family_size
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace neurolens::stats {

struct MultipleTestingResult {
  std::vector<std::uint8_t> reject;  // [M] 1 = rejected
  std::vector<double> adjusted;      // [M] adjusted p (clipped to 1)
  double threshold = 0.0;       // raw-p threshold used: reject iff p <= threshold (BH: 0 if none)
  std::size_t family_size = 0;  // m: number of finite p-values
  std::size_t rejected = 0;
};

MultipleTestingResult bonferroni(std::span<const double> p, double alpha);
MultipleTestingResult benjamini_hochberg(std::span<const double> p, double alpha);
MultipleTestingResult bonferroni(const std::vector<std::span<const double>>& family, double alpha);
MultipleTestingResult benjamini_hochberg(const std::vector<std::span<const double>>& family,
                                         double alpha);

}  // namespace neurolens::stats
