// Bonferroni / Benjamini-Hochberg against statsmodels multipletests; histograms against numpy.
#include <gtest/gtest.h>

#include <cmath>

#include "io/error.hpp"
#include "stats/histogram.hpp"
#include "stats/multiple_testing.hpp"
#include "tests/stats/fixture.hpp"

namespace neurolens::stats {
namespace {

using testing::all_close;
using testing::Fixture;

std::vector<double> as_double(const std::vector<std::uint8_t>& v) {
  return std::vector<double>(v.begin(), v.end());
}

TEST(MultipleTesting, MatchesStatsmodels) {
  const Fixture f("multitest.txt");
  const double alpha = f.scalar("alpha");
  const std::vector<double>& p = f["p"];
  const MultipleTestingResult bonf = bonferroni(p, alpha);
  EXPECT_TRUE(all_close(f["bonf_adjusted"], bonf.adjusted, 1e-12));
  EXPECT_EQ(f["bonf_reject"], as_double(bonf.reject));
  EXPECT_DOUBLE_EQ(bonf.threshold, f.scalar("bonf_threshold"));
  EXPECT_EQ(bonf.family_size, p.size());
  const MultipleTestingResult bh = benjamini_hochberg(p, alpha);
  EXPECT_TRUE(all_close(f["bh_adjusted"], bh.adjusted, 1e-12));
  EXPECT_EQ(f["bh_reject"], as_double(bh.reject));
  EXPECT_DOUBLE_EQ(bh.threshold, f.scalar("bh_threshold"));
  EXPECT_GT(bh.rejected, bonf.rejected);
}

TEST(MultipleTesting, FamilyOverLayersAndNaN) {
  const Fixture f("multitest.txt");
  const std::vector<double>& p = f["p"];
  const std::size_t half = p.size() / 2;
  const std::vector<std::span<const double>> layers = {std::span<const double>(p).first(half),
                                                       std::span<const double>(p).subspan(half)};
  const MultipleTestingResult joint = benjamini_hochberg(layers, 0.05);
  EXPECT_EQ(joint.reject, benjamini_hochberg(p, 0.05).reject);
  // NaN (degenerate neurons) are outside the family.
  std::vector<double> with_nan = p;
  with_nan.insert(with_nan.begin() + 3, std::nan(""));
  const MultipleTestingResult r = benjamini_hochberg(with_nan, 0.05);
  EXPECT_EQ(r.family_size, p.size());
  EXPECT_EQ(r.reject[3], 0);
  EXPECT_TRUE(std::isnan(r.adjusted[3]));
  EXPECT_EQ(r.rejected, benjamini_hochberg(p, 0.05).rejected);
  EXPECT_THROW(bonferroni(p, 1.5), Error);
  EXPECT_THROW(bonferroni(std::vector<double>{0.1, 2.0}, 0.05), Error);
}

TEST(Histogram, MatchesNumpy) {
  const Fixture f("histogram.txt");
  const auto n = static_cast<std::size_t>(f.scalar("n"));
  const auto k = static_cast<std::size_t>(f.scalar("k"));
  const std::vector<float> x = f.floats("x");
  Histogram per(f["edges"], k, Histogram::Scope::PerNeuron);
  Histogram pooled(f["edges"], k, Histogram::Scope::Pooled);
  per.add(std::span<const float>(x).first(100 * k), 100, k);
  per.add(std::span<const float>(x).subspan(100 * k), n - 100, k);
  pooled.add(x, n, k);
  std::vector<double> got;
  for (std::size_t j = 0; j < k; ++j) {
    for (auto c : per.counts(j)) got.push_back(static_cast<double>(c));
  }
  EXPECT_EQ(f["per_neuron"], got);
  got.clear();
  for (auto c : pooled.counts()) got.push_back(static_cast<double>(c));
  EXPECT_EQ(f["pooled"], got);
}

TEST(Histogram, EdgesAndErrors) {
  const std::vector<double> e = Histogram::uniform_edges(-1.0, 3.0, 4);
  EXPECT_EQ(e, (std::vector<double>{-1, 0, 1, 2, 3}));
  EXPECT_THROW(Histogram::uniform_edges(1.0, 1.0, 4), Error);
  EXPECT_THROW(Histogram(std::vector<double>{0.0, 0.0}, 1, Histogram::Scope::Pooled), Error);
  Histogram a(e, 1, Histogram::Scope::Pooled),
      b(Histogram::uniform_edges(0, 1, 2), 1, Histogram::Scope::Pooled);
  EXPECT_THROW(a.merge(b), Error);
}

}  // namespace
}  // namespace neurolens::stats
