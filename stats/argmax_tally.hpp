// stats/argmax_tally.hpp — which token wins each batch, per neuron (activation maximization by
// data sampling: over many batches, the tokens that most often give a neuron its batch maximum).
// Owns: ArgmaxTally. For every batch and neuron the sample with the largest activation wins
// (ties: the smallest token id, so the winner does not depend on row order); its token's count
// goes up by one. Tallies are integer counts, so merge (a sum) equals concatenation exactly and
// does not depend on merge order.
// Shapes: a batch is row-major [N, K] with token ids [N].
// Example:
//   ArgmaxTally tally(K);
//   tally.add_batch(batch, N, K, tokens);             // one batch
//   tally.add_batches(x, N, K, tokens, 32);           // consecutive batches of 32 rows
//   for (auto [token, count] : tally.tally(k)) { ... } // sorted by token id
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace neurolens::stats {

class ArgmaxTally {
 public:
  using TokenCount = std::pair<std::int32_t, std::uint64_t>;

  ArgmaxTally() = default;
  explicit ArgmaxTally(std::size_t k) : k_(k), tally_(k) {}

  void add_batch(std::span<const float> x, std::size_t n, std::size_t k,
                 std::span<const std::int32_t> token);
  // Rows [0, batch), [batch, 2 batch), ... each form a batch (the last may be shorter).
  void add_batches(std::span<const float> x, std::size_t n, std::size_t k,
                   std::span<const std::int32_t> token, std::size_t batch);
  void merge(const ArgmaxTally& other);

  // Serialized layout (doubles): [K, batches, then per neuron: m, (token, count) x m].
  std::size_t serialized_size() const;
  void serialize(std::span<double> out) const;
  std::vector<double> serialize() const;
  static ArgmaxTally deserialize(std::span<const double> in);

  std::size_t neurons() const { return k_; }
  std::uint64_t batches() const { return batches_; }
  const std::vector<TokenCount>& tally(std::size_t neuron) const { return tally_[neuron]; }
  // The tokens of a neuron by decreasing count (ties: smaller token first), at most `limit`.
  std::vector<TokenCount> most_frequent(std::size_t neuron, std::size_t limit) const;

 private:
  static void bump(std::vector<TokenCount>& t, std::int32_t token, std::uint64_t count);

  std::size_t k_ = 0;
  std::uint64_t batches_ = 0;
  std::vector<std::vector<TokenCount>> tally_;  // [K] sorted by token
};

}  // namespace neurolens::stats
