// stats/histogram.hpp — fixed-edge histograms of activations, per neuron or pooled over neurons.
// Owns: Histogram. Edges are given (strictly increasing, shared by all neurons) or made by
// uniform_edges() from a first min/max pass (GroupMoments::min()/max()). Bin b holds
// edges[b] <= x < edges[b+1], the last bin also x == edges.back() (numpy.histogram's rule);
// values below/above the edges go to the underflow/overflow counters. Counts are exact integers,
// so merge (a sum) equals concatenation exactly. One Histogram per group (and per layer).
// Shapes: batches row-major [N, K]; counts are [R, B + 2] with R = K (PerNeuron) or 1 (Pooled),
// columns [underflow, bin 0 .. bin B-1, overflow].
// Example:
//   Histogram h(Histogram::uniform_edges(lo, hi, 64), K, Histogram::Scope::PerNeuron);
//   h.add(batch, N, K);
//   std::span<const std::uint64_t> c = h.counts(k);   // B + 2 counts of neuron k
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace neurolens::stats {

class Histogram {
 public:
  enum class Scope { PerNeuron, Pooled };

  Histogram() = default;
  Histogram(std::vector<double> edges, std::size_t k, Scope scope);

  // `bins` equal-width bins over [lo, hi] (lo < hi, finite); the last edge is exactly hi.
  static std::vector<double> uniform_edges(double lo, double hi, std::size_t bins);

  void add(std::span<const float> x, std::size_t n, std::size_t k);
  void merge(const Histogram& other);  // edges, K and scope must match

  // Serialized layout (doubles): [K, scope (0 PerNeuron, 1 Pooled), E (number of edges),
  // edges[E], counts[R * (E + 1)]] — counts are exact as doubles up to 2^53.
  std::size_t serialized_size() const { return 3 + edges_.size() + counts_.size(); }
  void serialize(std::span<double> out) const;
  std::vector<double> serialize() const;
  static Histogram deserialize(std::span<const double> in);

  std::size_t neurons() const { return k_; }
  Scope scope() const { return scope_; }
  std::size_t bins() const { return edges_.size() - 1; }
  std::span<const double> edges() const { return edges_; }
  // [underflow, bins..., overflow] of neuron `row` (PerNeuron) or of everything (Pooled, row 0).
  std::span<const std::uint64_t> counts(std::size_t row = 0) const;

 private:
  std::size_t k_ = 0;
  Scope scope_ = Scope::PerNeuron;
  std::vector<double> edges_;
  std::vector<std::uint64_t> counts_;  // [R, B + 2]
};

}  // namespace neurolens::stats
