#include "stats/moments.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "stats/common.hpp"

namespace neurolens::stats {

GroupMoments::GroupMoments(std::size_t k)
    : k_(k),
      mean_(k, 0.0),
      m2_(k, 0.0),
      min_(k, std::numeric_limits<double>::infinity()),
      max_(k, -std::numeric_limits<double>::infinity()) {}

template <typename T>
void GroupMoments::add_impl(std::span<const T> x, std::size_t n, std::size_t k) {
  check_neurons(k, k_, "stats::GroupMoments::add");
  check_batch(x, n, k, "stats::GroupMoments::add");
  if (n == 0) return;
  std::vector<double> mean(k, 0.0), m2(k, 0.0), lo(k), hi(k);
  for (std::size_t j = 0; j < k; ++j) lo[j] = hi[j] = static_cast<double>(x[j]);
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = x.data() + i * k;
    for (std::size_t j = 0; j < k; ++j) {
      const double v = static_cast<double>(row[j]);
      mean[j] += v;
      lo[j] = std::min(lo[j], v);
      hi[j] = std::max(hi[j], v);
    }
  }
  const double inv_n = 1.0 / static_cast<double>(n);
  for (std::size_t j = 0; j < k; ++j) mean[j] = lo[j] == hi[j] ? lo[j] : mean[j] * inv_n;
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = x.data() + i * k;
    for (std::size_t j = 0; j < k; ++j) {
      const double d = static_cast<double>(row[j]) - mean[j];
      m2[j] += d * d;
    }
  }
  merge_batch(static_cast<double>(n), mean.data(), m2.data(), lo.data(), hi.data());
}

void GroupMoments::add(std::span<const float> x, std::size_t n, std::size_t k) {
  add_impl(x, n, k);
}
void GroupMoments::add(std::span<const double> x, std::size_t n, std::size_t k) {
  add_impl(x, n, k);
}

void GroupMoments::add_differences(std::span<const float> a, std::span<const float> b,
                                   std::size_t n, std::size_t k) {
  check_batch(a, n, k, "stats::GroupMoments::add_differences (a)");
  check_batch(b, n, k, "stats::GroupMoments::add_differences (b)");
  std::vector<double> d(n * k);
  for (std::size_t i = 0; i < n * k; ++i) d[i] = static_cast<double>(a[i]) - b[i];
  add_impl(std::span<const double>(d), n, k);
}

void GroupMoments::merge_batch(double nb, const double* mean_b, const double* m2_b,
                               const double* min_b, const double* max_b) {
  if (nb == 0.0) return;
  for (std::size_t j = 0; j < k_; ++j) {
    const MomentCell m = merged_moments({n_, mean_[j], m2_[j], min_[j], max_[j]},
                                        {nb, mean_b[j], m2_b[j], min_b[j], max_b[j]});
    mean_[j] = m.mean;
    m2_[j] = m.m2;
    min_[j] = m.min;
    max_[j] = m.max;
  }
  n_ += nb;
}

void GroupMoments::merge(const GroupMoments& other) {
  if (other.n_ == 0.0) return;
  if (k_ == 0 && n_ == 0.0) {
    *this = other;
    return;
  }
  check_neurons(other.k_, k_, "stats::GroupMoments::merge");
  merge_batch(other.n_, other.mean_.data(), other.m2_.data(), other.min_.data(), other.max_.data());
}

void GroupMoments::serialize(std::span<double> out) const {
  check_buffer(out.size(), serialized_size(), "stats::GroupMoments::serialize");
  out[0] = static_cast<double>(k_);
  out[1] = n_;
  std::copy(mean_.begin(), mean_.end(), out.begin() + 2);
  std::copy(m2_.begin(), m2_.end(), out.begin() + 2 + k_);
  std::copy(min_.begin(), min_.end(), out.begin() + 2 + 2 * k_);
  std::copy(max_.begin(), max_.end(), out.begin() + 2 + 3 * k_);
}

std::vector<double> GroupMoments::serialize() const {
  std::vector<double> out(serialized_size());
  serialize(out);
  return out;
}

GroupMoments GroupMoments::deserialize(std::span<const double> in) {
  const char* who = "stats::GroupMoments::deserialize";
  check_buffer(in.size(), 2, who);
  const auto k = static_cast<std::size_t>(in[0]);
  check_buffer(in.size(), 2 + 4 * k, who);
  GroupMoments m(k);
  m.n_ = in[1];
  const auto at = [&](std::size_t block) { return in.begin() + 2 + block * k; };
  std::copy(at(0), at(1), m.mean_.begin());
  std::copy(at(1), at(2), m.m2_.begin());
  std::copy(at(2), at(3), m.min_.begin());
  std::copy(at(3), at(4), m.max_.begin());
  return m;
}

double GroupMoments::variance(std::size_t neuron, double ddof) const {
  if (n_ <= ddof) return std::numeric_limits<double>::quiet_NaN();
  if (min_[neuron] == max_[neuron]) return 0.0;
  return m2_[neuron] / (n_ - ddof);
}

}  // namespace neurolens::stats
