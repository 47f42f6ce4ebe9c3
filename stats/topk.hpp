// stats/topk.hpp — the k largest activations of every neuron with where they came from.
// Owns: TopK and TopKEntry. Entries are ordered by value (larger first), ties broken by smaller
// sequence, then smaller position, then smaller token: a total order on distinct samples, so the
// kept set does not depend on batch order or merge order (merge equals concatenation exactly).
// Shapes: batches row-major [N, K]; per-sample ids sequence/position/token are [N].
// Example:
//   TopK top(K, 20);
//   top.add(batch, N, K, seq_ids, positions, tokens);
//   for (const TopKEntry& e : top.top(k)) { ... }   // best first
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace neurolens::stats {

struct TopKEntry {
  float value = 0.0f;
  std::int64_t sequence = 0;
  std::int32_t position = 0;
  std::int32_t token = 0;
  friend bool operator==(const TopKEntry&, const TopKEntry&) = default;
};

// True when a ranks before b (a is "better").
bool topk_before(const TopKEntry& a, const TopKEntry& b);

class TopK {
 public:
  TopK() = default;
  TopK(std::size_t k_neurons, std::size_t k);

  void add(std::span<const float> x, std::size_t n, std::size_t k_neurons,
           std::span<const std::int64_t> sequence, std::span<const std::int32_t> position,
           std::span<const std::int32_t> token);
  void merge(const TopK& other);

  // Serialized layout (doubles): [K, k, then per neuron: count, k entries of
  // (value, sequence, position, token) — unused entries 0] = 2 + K (1 + 4k) values.
  // sequence ids must be below 2^53 to round-trip.
  std::size_t serialized_size() const { return 2 + neurons_ * (1 + 4 * k_); }
  void serialize(std::span<double> out) const;
  std::vector<double> serialize() const;
  static TopK deserialize(std::span<const double> in);

  std::size_t neurons() const { return neurons_; }
  std::size_t k() const { return k_; }
  // The kept entries of a neuron, best first.
  std::vector<TopKEntry> top(std::size_t neuron) const;

 private:
  void offer(std::size_t neuron, const TopKEntry& e);

  std::size_t neurons_ = 0, k_ = 0;
  std::vector<TopKEntry> heap_;      // [K, k]: per neuron a heap with the worst entry on top
  std::vector<std::uint32_t> size_;  // [K]
};

}  // namespace neurolens::stats
