#include "stats/ttest.hpp"

#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>

namespace neurolens::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Compute in double (Boost's default promotes to long double: slower, no accuracy needed here);
// underflow to 0 instead of raising.
using Policy = boost::math::policies::policy<
    boost::math::policies::promote_double<false>,
    boost::math::policies::underflow_error<boost::math::policies::ignore_error>>;

TTestResult make_result(std::size_t k) {
  TTestResult r;
  r.t.assign(k, kNaN);
  r.df.assign(k, kNaN);
  r.p.assign(k, kNaN);
  r.flags.assign(k, 0);
  return r;
}

void fill(TTestResult& r, std::size_t j, double t, double df, Tail tail) {
  r.t[j] = t;
  r.df[j] = df;
  r.p[j] = t_pvalue(t, df, tail);
}

void check_pair(const GroupMoments& a, const GroupMoments& b, const char* who) {
  check_neurons(b.neurons(), a.neurons(), who);
}

}  // namespace

double t_pvalue(double t, double df, Tail tail) {
  if (std::isnan(t) || std::isnan(df) || !(df > 0.0)) return kNaN;
  const boost::math::students_t_distribution<double, Policy> dist(df);
  switch (tail) {
    case Tail::TwoSided: {
      const double upper = boost::math::cdf(boost::math::complement(dist, std::fabs(t)));
      return std::min(1.0, 2.0 * upper);
    }
    case Tail::Greater:
      return boost::math::cdf(boost::math::complement(dist, t));
    case Tail::Less:
      return boost::math::cdf(dist, t);
  }
  return kNaN;
}

TTestResult welch_ttest(const GroupMoments& a, const GroupMoments& b, Tail tail) {
  check_pair(a, b, "stats::welch_ttest");
  const std::size_t k = a.neurons();
  TTestResult r = make_result(k);
  const double na = a.count(), nb = b.count();
  for (std::size_t j = 0; j < k; ++j) {
    if (na < 2 || nb < 2) {
      set_flag(r.flags[j], Flag::TooFewSamples);
      continue;
    }
    const double va = a.variance(j) / na, vb = b.variance(j) / nb;
    const double se2 = va + vb;
    if (!(se2 > 0.0)) {
      set_flag(r.flags[j], Flag::ZeroVariance);
      continue;
    }
    const double t = (a.mean()[j] - b.mean()[j]) / std::sqrt(se2);
    const double df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1));
    fill(r, j, t, df, tail);
  }
  return r;
}

TTestResult student_ttest(const GroupMoments& a, const GroupMoments& b, Tail tail) {
  check_pair(a, b, "stats::student_ttest");
  const std::size_t k = a.neurons();
  TTestResult r = make_result(k);
  const double na = a.count(), nb = b.count();
  const double df = na + nb - 2;
  for (std::size_t j = 0; j < k; ++j) {
    if (na < 2 || nb < 2) {
      set_flag(r.flags[j], Flag::TooFewSamples);
      continue;
    }
    const double ma2 = a.variance(j, 0.0) * na, mb2 = b.variance(j, 0.0) * nb;  // exact 0 if const
    const double pooled = (ma2 + mb2) / df;
    const double se2 = pooled * (1.0 / na + 1.0 / nb);
    if (!(se2 > 0.0)) {
      set_flag(r.flags[j], Flag::ZeroVariance);
      continue;
    }
    fill(r, j, (a.mean()[j] - b.mean()[j]) / std::sqrt(se2), df, tail);
  }
  return r;
}

TTestResult one_sample_ttest(const GroupMoments& x, double mu0, Tail tail) {
  const std::size_t k = x.neurons();
  TTestResult r = make_result(k);
  const double n = x.count();
  for (std::size_t j = 0; j < k; ++j) {
    if (n < 2) {
      set_flag(r.flags[j], Flag::TooFewSamples);
      continue;
    }
    const double se2 = x.variance(j) / n;
    if (!(se2 > 0.0)) {
      set_flag(r.flags[j], Flag::ZeroVariance);
      continue;
    }
    fill(r, j, (x.mean()[j] - mu0) / std::sqrt(se2), n - 1, tail);
  }
  return r;
}

TTestResult paired_ttest(const GroupMoments& differences, Tail tail) {
  return one_sample_ttest(differences, 0.0, tail);
}

}  // namespace neurolens::stats
