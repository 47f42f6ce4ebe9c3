#include "stats/argmax_tally.hpp"

#include <algorithm>
#include <string>

#include "stats/common.hpp"

namespace neurolens::stats {

void ArgmaxTally::bump(std::vector<TokenCount>& t, std::int32_t token, std::uint64_t count) {
  auto it = std::lower_bound(t.begin(), t.end(), token,
                             [](const TokenCount& a, std::int32_t b) { return a.first < b; });
  if (it != t.end() && it->first == token) {
    it->second += count;
  } else {
    t.insert(it, {token, count});
  }
}

void ArgmaxTally::add_batch(std::span<const float> x, std::size_t n, std::size_t k,
                            std::span<const std::int32_t> token) {
  const char* who = "stats::ArgmaxTally::add_batch";
  check_neurons(k, k_, who);
  check_batch(x, n, k, who);
  if (token.size() != n) {
    throw Error(who, "token ids must have one entry per sample (N = " + std::to_string(n) + ")",
                "pass [N] token ids");
  }
  if (n == 0) return;
  std::vector<float> best(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(k));
  std::vector<std::int32_t> win(k, token[0]);
  for (std::size_t i = 1; i < n; ++i) {
    const float* row = x.data() + i * k;
    for (std::size_t j = 0; j < k; ++j) {
      if (row[j] > best[j] || (row[j] == best[j] && token[i] < win[j])) {
        best[j] = row[j];
        win[j] = token[i];
      }
    }
  }
  for (std::size_t j = 0; j < k; ++j) bump(tally_[j], win[j], 1);
  ++batches_;
}

void ArgmaxTally::add_batches(std::span<const float> x, std::size_t n, std::size_t k,
                              std::span<const std::int32_t> token, std::size_t batch) {
  if (batch == 0) {
    throw Error("stats::ArgmaxTally::add_batches", "batch size 0", "pass a positive batch size");
  }
  check_batch(x, n, k, "stats::ArgmaxTally::add_batches");
  for (std::size_t start = 0; start < n; start += batch) {
    const std::size_t m = std::min(batch, n - start);
    add_batch(x.subspan(start * k, m * k), m, k, token.subspan(start, m));
  }
}

void ArgmaxTally::merge(const ArgmaxTally& other) {
  if (k_ == 0 && batches_ == 0) {  // a default-constructed tally takes the other's shape
    *this = other;
    return;
  }
  check_neurons(other.k_, k_, "stats::ArgmaxTally::merge");
  for (std::size_t j = 0; j < k_; ++j) {
    for (const auto& [tok, c] : other.tally_[j]) bump(tally_[j], tok, c);
  }
  batches_ += other.batches_;
}

std::size_t ArgmaxTally::serialized_size() const {
  std::size_t s = 2 + k_;
  for (const auto& t : tally_) s += 2 * t.size();
  return s;
}

void ArgmaxTally::serialize(std::span<double> out) const {
  check_buffer(out.size(), serialized_size(), "stats::ArgmaxTally::serialize");
  std::size_t o = 0;
  out[o++] = static_cast<double>(k_);
  out[o++] = static_cast<double>(batches_);
  for (const auto& t : tally_) {
    out[o++] = static_cast<double>(t.size());
    for (const auto& [tok, c] : t) {
      out[o++] = tok;
      out[o++] = static_cast<double>(c);
    }
  }
}

std::vector<double> ArgmaxTally::serialize() const {
  std::vector<double> out(serialized_size());
  serialize(out);
  return out;
}

ArgmaxTally ArgmaxTally::deserialize(std::span<const double> in) {
  const char* who = "stats::ArgmaxTally::deserialize";
  check_buffer(in.size(), 2, who);
  ArgmaxTally a(static_cast<std::size_t>(in[0]));
  a.batches_ = static_cast<std::uint64_t>(in[1]);
  std::size_t o = 2;
  for (std::size_t j = 0; j < a.k_; ++j) {
    check_buffer(in.size(), o + 1, who);
    const auto m = static_cast<std::size_t>(in[o++]);
    check_buffer(in.size(), o + 2 * m, who);
    a.tally_[j].reserve(m);
    for (std::size_t q = 0; q < m; ++q, o += 2) {
      a.tally_[j].emplace_back(static_cast<std::int32_t>(in[o]),
                               static_cast<std::uint64_t>(in[o + 1]));
    }
  }
  return a;
}

std::vector<ArgmaxTally::TokenCount> ArgmaxTally::most_frequent(std::size_t neuron,
                                                                std::size_t limit) const {
  std::vector<TokenCount> out = tally_[neuron];
  std::stable_sort(out.begin(), out.end(),
                   [](const TokenCount& a, const TokenCount& b) { return a.second > b.second; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace neurolens::stats
