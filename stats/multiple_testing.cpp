#include "stats/multiple_testing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "io/error.hpp"

namespace neurolens::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_inputs(std::span<const double> p, double alpha, const char* who) {
  if (!(alpha > 0.0 && alpha < 1.0)) {
    throw Error(who, "alpha " + std::to_string(alpha) + " is not in (0, 1)",
                "pass a significance level such as 0.05");
  }
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!std::isnan(p[i]) && !(p[i] >= 0.0 && p[i] <= 1.0)) {
      throw Error(who,
                  "p-value " + std::to_string(p[i]) + " at index " + std::to_string(i) +
                      " is not in [0, 1]",
                  "pass p-values (NaN marks a degenerate neuron)");
    }
  }
}

std::vector<double> concat(const std::vector<std::span<const double>>& family) {
  std::vector<double> all;
  for (const auto& s : family) all.insert(all.end(), s.begin(), s.end());
  return all;
}

}  // namespace

MultipleTestingResult bonferroni(std::span<const double> p, double alpha) {
  check_inputs(p, alpha, "stats::bonferroni");
  MultipleTestingResult r;
  r.reject.assign(p.size(), 0);
  r.adjusted.assign(p.size(), kNaN);
  for (double v : p) r.family_size += std::isnan(v) ? 0 : 1;
  if (r.family_size == 0) return r;
  const double m = static_cast<double>(r.family_size);
  r.threshold = alpha / m;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (std::isnan(p[i])) continue;
    r.adjusted[i] = std::min(1.0, p[i] * m);
    r.reject[i] = p[i] <= r.threshold ? 1 : 0;
    r.rejected += r.reject[i];
  }
  return r;
}

MultipleTestingResult benjamini_hochberg(std::span<const double> p, double alpha) {
  check_inputs(p, alpha, "stats::benjamini_hochberg");
  MultipleTestingResult r;
  r.reject.assign(p.size(), 0);
  r.adjusted.assign(p.size(), kNaN);
  std::vector<std::size_t> order;
  order.reserve(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!std::isnan(p[i])) order.push_back(i);
  }
  r.family_size = order.size();
  if (order.empty()) return r;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return p[x] < p[y]; });
  const double m = static_cast<double>(order.size());
  // Largest rank k (1-based) with p_(k) <= k/m alpha; everything up to it is rejected.
  std::size_t last = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (p[order[i]] <= static_cast<double>(i + 1) / m * alpha) last = i + 1;
  }
  r.threshold = last == 0 ? 0.0 : static_cast<double>(last) / m * alpha;
  for (std::size_t i = 0; i < last; ++i) r.reject[order[i]] = 1;
  r.rejected = last;
  // Step-up adjusted p: running minimum of p_(i) m / i from the largest rank down.
  double running = 1.0;
  for (std::size_t i = order.size(); i-- > 0;) {
    running = std::min(running, p[order[i]] * m / static_cast<double>(i + 1));
    r.adjusted[order[i]] = running;
  }
  return r;
}

MultipleTestingResult bonferroni(const std::vector<std::span<const double>>& family, double alpha) {
  const std::vector<double> all = concat(family);
  return bonferroni(std::span<const double>(all), alpha);
}

MultipleTestingResult benjamini_hochberg(const std::vector<std::span<const double>>& family,
                                         double alpha) {
  const std::vector<double> all = concat(family);
  return benjamini_hochberg(std::span<const double>(all), alpha);
}

}  // namespace neurolens::stats
