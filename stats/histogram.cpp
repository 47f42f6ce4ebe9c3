#include "stats/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "stats/common.hpp"

namespace neurolens::stats {
namespace {

void check_edges(const std::vector<double>& edges, const char* who) {
  if (edges.size() < 2) {
    throw Error(who, "needs at least 2 edges, got " + std::to_string(edges.size()),
                "pass bins + 1 edges or use Histogram::uniform_edges");
  }
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (!std::isfinite(edges[i]) || (i > 0 && !(edges[i] > edges[i - 1]))) {
      throw Error(who, "edge " + std::to_string(i) + " is not finite and strictly increasing",
                  "pass sorted finite edges");
    }
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> edges, std::size_t k, Scope scope)
    : k_(k), scope_(scope), edges_(std::move(edges)) {
  check_edges(edges_, "stats::Histogram");
  const std::size_t rows = scope_ == Scope::PerNeuron ? k_ : 1;
  counts_.assign(rows * (edges_.size() + 1), 0);
}

std::vector<double> Histogram::uniform_edges(double lo, double hi, std::size_t bins) {
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo < hi) || bins == 0) {
    throw Error("stats::Histogram::uniform_edges",
                "range [" + std::to_string(lo) + ", " + std::to_string(hi) + "] with " +
                    std::to_string(bins) + " bins is empty",
                "pass finite lo < hi (widen a constant range by hand) and bins >= 1");
  }
  std::vector<double> e(bins + 1);
  for (std::size_t i = 0; i <= bins; ++i) {
    e[i] = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(bins);
  }
  e.back() = hi;
  return e;
}

void Histogram::add(std::span<const float> x, std::size_t n, std::size_t k) {
  check_neurons(k, k_, "stats::Histogram::add");
  check_batch(x, n, k, "stats::Histogram::add");
  const std::size_t width = edges_.size() + 1;
  const std::size_t bins_n = edges_.size() - 1;
  const double first = edges_.front(), last = edges_.back();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      const double v = x[i * k + j];
      std::size_t col;
      if (v < first) {
        col = 0;
      } else if (v > last) {
        col = width - 1;
      } else if (v == last) {
        col = bins_n;  // last bin is closed
      } else {
        col = static_cast<std::size_t>(std::upper_bound(edges_.begin(), edges_.end(), v) -
                                       edges_.begin());  // 1..B
      }
      const std::size_t row = scope_ == Scope::PerNeuron ? j : 0;
      ++counts_[row * width + col];
    }
  }
}

void Histogram::merge(const Histogram& other) {
  if (edges_.empty()) {  // default-constructed
    *this = other;
    return;
  }
  if (k_ != other.k_ || scope_ != other.scope_ || edges_ != other.edges_) {
    throw Error("stats::Histogram::merge", "histograms have different neurons, scope or edges",
                "merge histograms built with the same edges");
  }
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

void Histogram::serialize(std::span<double> out) const {
  check_buffer(out.size(), serialized_size(), "stats::Histogram::serialize");
  out[0] = static_cast<double>(k_);
  out[1] = scope_ == Scope::PerNeuron ? 0.0 : 1.0;
  out[2] = static_cast<double>(edges_.size());
  std::copy(edges_.begin(), edges_.end(), out.begin() + 3);
  auto it = out.begin() + 3 + static_cast<std::ptrdiff_t>(edges_.size());
  for (std::uint64_t c : counts_) *it++ = static_cast<double>(c);
}

std::vector<double> Histogram::serialize() const {
  std::vector<double> out(serialized_size());
  serialize(out);
  return out;
}

Histogram Histogram::deserialize(std::span<const double> in) {
  const char* who = "stats::Histogram::deserialize";
  check_buffer(in.size(), 3, who);
  const auto k = static_cast<std::size_t>(in[0]);
  const Scope scope = in[1] == 0.0 ? Scope::PerNeuron : Scope::Pooled;
  const auto e = static_cast<std::size_t>(in[2]);
  check_buffer(in.size(), 3 + e, who);
  Histogram h(std::vector<double>(in.begin() + 3, in.begin() + 3 + static_cast<std::ptrdiff_t>(e)),
              k, scope);
  check_buffer(in.size(), 3 + e + h.counts_.size(), who);
  for (std::size_t i = 0; i < h.counts_.size(); ++i) {
    h.counts_[i] = static_cast<std::uint64_t>(in[3 + e + i]);
  }
  return h;
}

std::span<const std::uint64_t> Histogram::counts(std::size_t row) const {
  const std::size_t width = edges_.size() + 1;
  return {counts_.data() + row * width, width};
}

}  // namespace neurolens::stats
