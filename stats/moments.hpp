// stats/moments.hpp — per-neuron count, mean, M2 (sum of squared deviations), min and max.
// Owns: GroupMoments, the mergeable first/second-moment statistic every test in stats/ starts
// from. Batches are added with a two-pass (batch mean, then deviations) computation in double and
// combined with the parallel update of Chan et al.; merge() is the same update, so a set of
// samples split in any way gives the same moments up to rounding. min/max are kept exactly, so a
// constant neuron is recognised exactly (variance 0, mean = the constant) instead of rounding
// noise. Shapes: a batch is row-major [N, K] (N samples, K neurons). Example:
//   GroupMoments a(K);
//   a.add(batch, N, K);            // any number of times
//   a.merge(other);                // as if other's samples had been added here
//   std::vector<double> buf = a.serialize();
//   GroupMoments back = GroupMoments::deserialize(buf);
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

namespace neurolens::stats {

// One neuron's moments: count, mean, M2, min, max (5 doubles; the runner's MPI reduction sends
// them as they are).
struct MomentCell {
  double n = 0.0;
  double mean = 0.0;
  double m2 = 0.0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
};

// Chan et al.'s parallel update: the moments of a's samples followed by b's. The one merge of
// moments in neurolens: GroupMoments::merge / add and the runner's MPI reduction both use it, so
// a set of samples split in any way (batches, ranks) gives the same moments up to rounding.
// min / max are exact, and a constant neuron stays exactly constant (mean = the constant, M2 = 0).
inline MomentCell merged_moments(const MomentCell& a, const MomentCell& b) {
  if (b.n == 0.0) return a;
  MomentCell out;
  out.n = a.n + b.n;
  out.min = std::min(a.min, b.min);
  out.max = std::max(a.max, b.max);
  if (out.min == out.max) {  // constant so far: keep it exact
    out.mean = out.min;
    out.m2 = 0.0;
  } else {
    const double delta = b.mean - a.mean;
    out.mean = a.n == 0.0 ? b.mean : a.mean + delta * (b.n / out.n);
    out.m2 = a.m2 + b.m2 + delta * delta * (a.n * b.n / out.n);
  }
  return out;
}

class GroupMoments {
 public:
  GroupMoments() = default;
  explicit GroupMoments(std::size_t k);

  // Adds N samples of K neurons (row-major [N, K]); rejects NaN/inf with neurolens::Error.
  void add(std::span<const float> x, std::size_t n, std::size_t k);
  void add(std::span<const double> x, std::size_t n, std::size_t k);
  // Adds the per-pair differences a - b (both [N, K]); a paired t-test is one_sample_ttest on
  // these.
  void add_differences(std::span<const float> a, std::span<const float> b, std::size_t n,
                       std::size_t k);
  // As if other's samples had been added to this one (Chan's parallel update).
  void merge(const GroupMoments& other);

  // Serialized layout (doubles): [K, count, mean[K], M2[K], min[K], max[K]] — 2 + 4K values.
  // Not a plain sum: an MPI reduction deserializes, merges and re-serializes (user op or gather).
  std::size_t serialized_size() const { return 2 + 4 * k_; }
  void serialize(std::span<double> out) const;
  std::vector<double> serialize() const;
  static GroupMoments deserialize(std::span<const double> in);

  std::size_t neurons() const { return k_; }
  double count() const { return n_; }
  std::span<const double> mean() const { return mean_; }
  std::span<const double> m2() const { return m2_; }
  std::span<const double> min() const { return min_; }
  std::span<const double> max() const { return max_; }
  // Sample variance M2 / (count - ddof); NaN when count <= ddof; exactly 0 for a constant neuron.
  double variance(std::size_t neuron, double ddof = 1.0) const;

 private:
  template <typename T>
  void add_impl(std::span<const T> x, std::size_t n, std::size_t k);
  void merge_batch(double nb, const double* mean_b, const double* m2_b, const double* min_b,
                   const double* max_b);

  std::size_t k_ = 0;
  double n_ = 0.0;
  std::vector<double> mean_, m2_, min_, max_;
};

}  // namespace neurolens::stats
