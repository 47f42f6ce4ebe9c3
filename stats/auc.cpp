#include "stats/auc.hpp"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <utility>

#include "stats/common.hpp"

namespace neurolens::stats {
namespace {
using NormalPolicy = boost::math::policies::policy<
    boost::math::policies::promote_double<false>,
    boost::math::policies::underflow_error<boost::math::policies::ignore_error>>;
}  // namespace

void AucAccumulator::add_a(std::span<const float> x, std::size_t n, std::size_t k) {
  check_neurons(k, k_, "stats::AucAccumulator::add_a");
  check_batch(x, n, k, "stats::AucAccumulator::add_a");
  a_.insert(a_.end(), x.begin(), x.end());
}

void AucAccumulator::add_b(std::span<const float> x, std::size_t n, std::size_t k) {
  check_neurons(k, k_, "stats::AucAccumulator::add_b");
  check_batch(x, n, k, "stats::AucAccumulator::add_b");
  b_.insert(b_.end(), x.begin(), x.end());
}

void AucAccumulator::merge(const AucAccumulator& other) {
  if (k_ == 0 && a_.empty() && b_.empty()) {
    *this = other;
    return;
  }
  check_neurons(other.k_, k_, "stats::AucAccumulator::merge");
  a_.insert(a_.end(), other.a_.begin(), other.a_.end());
  b_.insert(b_.end(), other.b_.begin(), other.b_.end());
}

void AucAccumulator::serialize(std::span<double> out) const {
  check_buffer(out.size(), serialized_size(), "stats::AucAccumulator::serialize");
  out[0] = static_cast<double>(k_);
  out[1] = static_cast<double>(count_a());
  out[2] = static_cast<double>(count_b());
  std::copy(a_.begin(), a_.end(), out.begin() + 3);
  std::copy(b_.begin(), b_.end(), out.begin() + 3 + static_cast<std::ptrdiff_t>(a_.size()));
}

std::vector<double> AucAccumulator::serialize() const {
  std::vector<double> out(serialized_size());
  serialize(out);
  return out;
}

AucAccumulator AucAccumulator::deserialize(std::span<const double> in) {
  const char* who = "stats::AucAccumulator::deserialize";
  check_buffer(in.size(), 3, who);
  const auto k = static_cast<std::size_t>(in[0]);
  const auto na = static_cast<std::size_t>(in[1]);
  const auto nb = static_cast<std::size_t>(in[2]);
  check_buffer(in.size(), 3 + (na + nb) * k, who);
  AucAccumulator acc(k);
  acc.a_.assign(in.begin() + 3, in.begin() + 3 + static_cast<std::ptrdiff_t>(na * k));
  acc.b_.assign(in.begin() + 3 + static_cast<std::ptrdiff_t>(na * k),
                in.begin() + 3 + static_cast<std::ptrdiff_t>((na + nb) * k));
  return acc;
}

AucResult AucAccumulator::finalize() const {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const std::size_t na = count_a(), nb = count_b(), n = na + nb;
  AucResult r{std::vector<double>(k_, kNaN), std::vector<double>(k_, kNaN),
              std::vector<double>(k_, kNaN), std::vector<std::uint8_t>(k_, 0)};
  if (na == 0 || nb == 0) {
    for (auto& f : r.flags) set_flag(f, Flag::TooFewSamples);
    return r;
  }
  const double dna = static_cast<double>(na), dnb = static_cast<double>(nb);
  const double dn = static_cast<double>(n);
  const double mu = dna * dnb / 2.0;
  const boost::math::normal_distribution<double, NormalPolicy> normal;
  std::vector<std::pair<float, bool>> v(n);  // (value, is_b)
  for (std::size_t j = 0; j < k_; ++j) {
    for (std::size_t i = 0; i < na; ++i) v[i] = {a_[i * k_ + j], false};
    for (std::size_t i = 0; i < nb; ++i) v[na + i] = {b_[i * k_ + j], true};
    std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    double rank_sum_b = 0.0, tie_term = 0.0;
    for (std::size_t i = 0; i < n;) {
      std::size_t e = i + 1;
      while (e < n && v[e].first == v[i].first) ++e;
      const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(e)) / 2.0;
      std::size_t in_b = 0;
      for (std::size_t q = i; q < e; ++q) in_b += v[q].second ? 1 : 0;
      rank_sum_b += mid_rank * static_cast<double>(in_b);
      const double t = static_cast<double>(e - i);
      tie_term += t * t * t - t;
      i = e;
    }
    const double u_b = rank_sum_b - dnb * (dnb + 1.0) / 2.0;
    r.u[j] = u_b;
    r.auc[j] = u_b / (dna * dnb);
    const double s2 = dna * dnb / 12.0 * ((dn + 1.0) - tie_term / (dn * (dn - 1.0)));
    if (!(s2 > 0.0)) {
      set_flag(r.flags[j], Flag::ZeroVariance);
      continue;
    }
    const double u_big = std::max(u_b, dna * dnb - u_b);
    const double z = (u_big - mu - 0.5) / std::sqrt(s2);
    r.p[j] = std::min(1.0, 2.0 * boost::math::cdf(boost::math::complement(normal, z)));
  }
  return r;
}

}  // namespace neurolens::stats
