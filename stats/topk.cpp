#include "stats/topk.hpp"

#include <algorithm>
#include <string>

#include "stats/common.hpp"

namespace neurolens::stats {

bool topk_before(const TopKEntry& a, const TopKEntry& b) {
  if (a.value != b.value) return a.value > b.value;
  if (a.sequence != b.sequence) return a.sequence < b.sequence;
  if (a.position != b.position) return a.position < b.position;
  return a.token < b.token;
}

TopK::TopK(std::size_t k_neurons, std::size_t k)
    : neurons_(k_neurons), k_(k), heap_(k_neurons * k), size_(k_neurons, 0) {
  if (k == 0) throw Error("stats::TopK", "k is 0", "keep at least one entry per neuron");
}

void TopK::offer(std::size_t neuron, const TopKEntry& e) {
  TopKEntry* h = heap_.data() + neuron * k_;
  std::uint32_t& s = size_[neuron];
  // With topk_before as "less", std heap functions put the worst (last in order) at h[0].
  if (s < k_) {
    h[s++] = e;
    std::push_heap(h, h + s, topk_before);
  } else if (topk_before(e, h[0])) {
    std::pop_heap(h, h + s, topk_before);
    h[s - 1] = e;
    std::push_heap(h, h + s, topk_before);
  }
}

void TopK::add(std::span<const float> x, std::size_t n, std::size_t k_neurons,
               std::span<const std::int64_t> sequence, std::span<const std::int32_t> position,
               std::span<const std::int32_t> token) {
  const char* who = "stats::TopK::add";
  check_neurons(k_neurons, neurons_, who);
  check_batch(x, n, k_neurons, who);
  if (sequence.size() != n || position.size() != n || token.size() != n) {
    throw Error(who,
                "sequence/position/token ids must have one entry per sample (N = " +
                    std::to_string(n) + ")",
                "pass [N] id arrays");
  }
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = x.data() + i * neurons_;
    for (std::size_t j = 0; j < neurons_; ++j) {
      // Fast reject: a full heap whose worst value is larger cannot take this sample.
      if (size_[j] == k_ && row[j] < heap_[j * k_].value) continue;
      offer(j, TopKEntry{row[j], sequence[i], position[i], token[i]});
    }
  }
}

void TopK::merge(const TopK& other) {
  if (k_ == 0) {  // default-constructed
    *this = other;
    return;
  }
  if (neurons_ != other.neurons_ || k_ != other.k_) {
    throw Error("stats::TopK::merge", "different neuron count or k", "merge like with like");
  }
  for (std::size_t j = 0; j < neurons_; ++j) {
    for (std::uint32_t q = 0; q < other.size_[j]; ++q) offer(j, other.heap_[j * k_ + q]);
  }
}

std::vector<TopKEntry> TopK::top(std::size_t neuron) const {
  std::vector<TopKEntry> out(
      heap_.begin() + static_cast<std::ptrdiff_t>(neuron * k_),
      heap_.begin() + static_cast<std::ptrdiff_t>(neuron * k_ + size_[neuron]));
  std::sort(out.begin(), out.end(), topk_before);
  return out;
}

void TopK::serialize(std::span<double> out) const {
  check_buffer(out.size(), serialized_size(), "stats::TopK::serialize");
  std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(serialized_size()), 0.0);
  out[0] = static_cast<double>(neurons_);
  out[1] = static_cast<double>(k_);
  for (std::size_t j = 0; j < neurons_; ++j) {
    double* o = out.data() + 2 + j * (1 + 4 * k_);
    const std::vector<TopKEntry> t = top(j);
    o[0] = static_cast<double>(t.size());
    for (std::size_t q = 0; q < t.size(); ++q) {
      o[1 + 4 * q] = t[q].value;
      o[2 + 4 * q] = static_cast<double>(t[q].sequence);
      o[3 + 4 * q] = t[q].position;
      o[4 + 4 * q] = t[q].token;
    }
  }
}

std::vector<double> TopK::serialize() const {
  std::vector<double> out(serialized_size());
  serialize(out);
  return out;
}

TopK TopK::deserialize(std::span<const double> in) {
  const char* who = "stats::TopK::deserialize";
  check_buffer(in.size(), 2, who);
  TopK t(static_cast<std::size_t>(in[0]), static_cast<std::size_t>(in[1]));
  check_buffer(in.size(), t.serialized_size(), who);
  for (std::size_t j = 0; j < t.neurons_; ++j) {
    const double* o = in.data() + 2 + j * (1 + 4 * t.k_);
    const auto count = static_cast<std::size_t>(o[0]);
    if (count > t.k_) throw Error(who, "neuron holds more than k entries", "corrupt buffer");
    for (std::size_t q = 0; q < count; ++q) {
      t.offer(j,
              TopKEntry{static_cast<float>(o[1 + 4 * q]), static_cast<std::int64_t>(o[2 + 4 * q]),
                        static_cast<std::int32_t>(o[3 + 4 * q]),
                        static_cast<std::int32_t>(o[4 + 4 * q])});
    }
  }
  return t;
}

}  // namespace neurolens::stats
