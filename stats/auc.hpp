// stats/auc.hpp — per-neuron AUC (Mann-Whitney U) between group a and group b.
// Owns: AucAccumulator. Ranks need every sample, so the accumulator KEEPS the samples (float, as
// given) of both groups: the result is exact (mid-ranks for ties), merge is concatenation, and
// the order of samples or merges does not matter. Memory: 4 bytes x (Na + Nb) x K — the studies
// keep a few hundred samples per group (440 x 5120 neurons = 9 MB per layer).
// Convention: auc = P(b > a) + P(b == a) / 2 = U_b / (Na Nb), so 1 means b is larger (the same
// orientation as logistic regression with y = 1 for group b); u is U_b. p is the two-sided
// asymptotic Mann-Whitney p (normal approximation, tie correction, continuity correction), as
// scipy.stats.mannwhitneyu(b, a, method="asymptotic").
// Shapes: batches are row-major [N, K].
// Example:
//   AucAccumulator acc(K);
//   acc.add_a(xa, Na, K); acc.add_b(xb, Nb, K);
//   AucResult r = acc.finalize();   // r.auc[k], r.u[k], r.p[k]
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace neurolens::stats {

struct AucResult {
  std::vector<double> auc;          // [K]
  std::vector<double> u;            // [K] U statistic of group b
  std::vector<double> p;            // [K] two-sided asymptotic p
  std::vector<std::uint8_t> flags;  // [K] TooFewSamples when a group is empty; ZeroVariance when
                                    // all values are tied (auc = 0.5, p = NaN)
};

class AucAccumulator {
 public:
  AucAccumulator() = default;
  explicit AucAccumulator(std::size_t k) : k_(k) {}

  void add_a(std::span<const float> x, std::size_t n, std::size_t k);
  void add_b(std::span<const float> x, std::size_t n, std::size_t k);
  void merge(const AucAccumulator& other);

  // Serialized layout (doubles): [K, Na, Nb, a[Na*K] row-major, b[Nb*K] row-major].
  std::size_t serialized_size() const { return 3 + a_.size() + b_.size(); }
  void serialize(std::span<double> out) const;
  std::vector<double> serialize() const;
  static AucAccumulator deserialize(std::span<const double> in);

  std::size_t neurons() const { return k_; }
  std::size_t count_a() const { return k_ ? a_.size() / k_ : 0; }
  std::size_t count_b() const { return k_ ? b_.size() / k_ : 0; }
  AucResult finalize() const;

 private:
  std::size_t k_ = 0;
  std::vector<float> a_, b_;  // [Na, K], [Nb, K]
};

}  // namespace neurolens::stats
