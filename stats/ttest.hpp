// stats/ttest.hpp — per-neuron t-tests computed from GroupMoments.
// Owns: Welch and Student two-sample tests, the one-sample test, and the paired test (a one-sample
// test on per-pair differences, see GroupMoments::add_differences). t has the sign of
// mean(a) - mean(b) (or mean - mu0); p comes from the Student t distribution (Boost.Math, upper
// tail through the complement, so p is accurate down to ~1e-300 and below).
// Degenerate neurons (a group with n < 2, or zero variance) give t = df = p = NaN and a Flag,
// never a crash or a fake 0. Same numbers as scipy.stats.ttest_ind / ttest_1samp / ttest_rel.
// Shapes: results are arrays over K neurons.
// Example:
//   TTestResult r = welch_ttest(moments_a, moments_b);          // two-sided
//   TTestResult g = welch_ttest(moments_a, moments_b, Tail::Greater);
//   r.t[k], r.df[k], r.p[k], r.flags[k]
#pragma once

#include <cstdint>
#include <vector>

#include "stats/common.hpp"
#include "stats/moments.hpp"

namespace neurolens::stats {

struct TTestResult {
  std::vector<double> t;            // [K]
  std::vector<double> df;           // [K]
  std::vector<double> p;            // [K]
  std::vector<std::uint8_t> flags;  // [K], Flag bits
};

// p-value of a t statistic with df degrees of freedom for the given tail (NaN in, NaN out).
double t_pvalue(double t, double df, Tail tail);

TTestResult welch_ttest(const GroupMoments& a, const GroupMoments& b, Tail tail = Tail::TwoSided);
TTestResult student_ttest(const GroupMoments& a, const GroupMoments& b, Tail tail = Tail::TwoSided);
TTestResult one_sample_ttest(const GroupMoments& x, double mu0 = 0.0, Tail tail = Tail::TwoSided);
// Paired test: `differences` holds the moments of a - b (GroupMoments::add_differences).
TTestResult paired_ttest(const GroupMoments& differences, Tail tail = Tail::TwoSided);

}  // namespace neurolens::stats
