// t-tests, effect sizes and AUC against scipy (tests/fixtures/stats/ttest.txt), plus the
// degenerate cases: n = 1, constant neurons, NaN/inf input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "stats/auc.hpp"
#include "stats/effect_size.hpp"
#include "stats/moments.hpp"
#include "stats/ttest.hpp"
#include "tests/stats/fixture.hpp"

namespace neurolens::stats {
namespace {

using testing::all_close;
using testing::Fixture;

constexpr double kTRel = 1e-9, kPRel = 1e-6, kTiny = 1e-300;

struct Data {
  Fixture f{"ttest.txt"};
  std::size_t na = static_cast<std::size_t>(f.scalar("na"));
  std::size_t nb = static_cast<std::size_t>(f.scalar("nb"));
  std::size_t k = static_cast<std::size_t>(f.scalar("k"));
  std::vector<float> a = f.floats("a"), b = f.floats("b");
  GroupMoments ma{k}, mb{k};
  Data() {
    // a in two uneven batches, so the Chan update is exercised on the fixture itself.
    ma.add(std::span<const float>(a).first(7 * k), 7, k);
    ma.add(std::span<const float>(a).subspan(7 * k), na - 7, k);
    mb.add(std::span<const float>(b), nb, k);
  }
};

TEST(TTest, WelchAndStudentMatchScipy) {
  Data d;
  const std::pair<Tail, const char*> tails[] = {
      {Tail::TwoSided, "two_sided"}, {Tail::Greater, "greater"}, {Tail::Less, "less"}};
  for (const auto& [tail, tag] : tails) {
    SCOPED_TRACE(tag);
    const std::string t(tag);
    const TTestResult w = welch_ttest(d.ma, d.mb, tail);
    EXPECT_TRUE(all_close(d.f["welch_" + t + "_t"], w.t, kTRel)) << "welch t";
    EXPECT_TRUE(all_close(d.f["welch_" + t + "_df"], w.df, kTRel)) << "welch df";
    EXPECT_TRUE(all_close(d.f["welch_" + t + "_p"], w.p, kPRel, 0.0, kTiny)) << "welch p";
    const TTestResult s = student_ttest(d.ma, d.mb, tail);
    EXPECT_TRUE(all_close(d.f["student_" + t + "_t"], s.t, kTRel)) << "student t";
    EXPECT_TRUE(all_close(d.f["student_" + t + "_p"], s.p, kPRel, 0.0, kTiny)) << "student p";
  }
}

TEST(TTest, ConstantNeuronsAreFlaggedNaN) {
  Data d;
  const TTestResult w = welch_ttest(d.ma, d.mb);
  for (std::size_t j : {4u, 11u}) {  // constant in both groups (equal / different values)
    EXPECT_TRUE(std::isnan(w.t[j]) && std::isnan(w.p[j]) && std::isnan(w.df[j])) << j;
    EXPECT_TRUE(has_flag(w.flags[j], Flag::ZeroVariance)) << j;
  }
  EXPECT_EQ(w.flags[5], 0) << "one constant group is a valid Welch test";
  EXPECT_EQ(w.flags[0], 0);
}

TEST(TTest, OneSampleAndPairedMatchScipy) {
  Data d;
  const TTestResult o = one_sample_ttest(d.ma, d.f.scalar("one_sample_mu"));
  EXPECT_TRUE(all_close(d.f["one_sample_t"], o.t, kTRel));
  EXPECT_TRUE(all_close(d.f["one_sample_p"], o.p, kPRel, 0.0, kTiny));
  GroupMoments diff(d.k);
  diff.add_differences(std::span<const float>(d.a).first(d.nb * d.k), d.b, d.nb, d.k);
  const TTestResult p = paired_ttest(diff);
  EXPECT_TRUE(all_close(d.f["paired_t"], p.t, kTRel));
  EXPECT_TRUE(all_close(d.f["paired_p"], p.p, kPRel, 0.0, kTiny));
}

TEST(TTest, EffectSizesMatchReference) {
  Data d;
  const EffectSizeResult e = cohens_d(d.ma, d.mb);
  EXPECT_TRUE(all_close(d.f["cohen_d"], e.d, kTRel));
  EXPECT_TRUE(all_close(d.f["hedges_g"], e.g, kTRel));
  EXPECT_TRUE(has_flag(e.flags[4], Flag::ZeroVariance));
}

TEST(TTest, AucMatchesMannWhitney) {
  Data d;
  AucAccumulator acc(d.k);
  acc.add_a(std::span<const float>(d.a).first(10 * d.k), 10, d.k);
  acc.add_b(d.b, d.nb, d.k);
  acc.add_a(std::span<const float>(d.a).subspan(10 * d.k), d.na - 10, d.k);
  const AucResult r = acc.finalize();
  EXPECT_TRUE(all_close(d.f["auc"], r.auc, 1e-12));
  EXPECT_TRUE(all_close(d.f["mwu_u"], r.u, 1e-12));
  EXPECT_TRUE(all_close(d.f["mwu_p"], r.p, kPRel, 0.0, kTiny));
  EXPECT_TRUE(has_flag(r.flags[4], Flag::ZeroVariance));
  EXPECT_DOUBLE_EQ(r.auc[4], 0.5);
}

TEST(TTest, TooFewSamplesGiveNaNAndFlag) {
  const std::size_t k = 2;
  GroupMoments one(k), many(k);
  const std::vector<float> x1 = {1.0f, 2.0f};
  const std::vector<float> x5 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11};
  one.add(x1, 1, k);
  many.add(x5, 5, k);
  for (const TTestResult& r : {welch_ttest(one, many), student_ttest(one, many),
                               welch_ttest(many, GroupMoments(k)), one_sample_ttest(one)}) {
    for (std::size_t j = 0; j < k; ++j) {
      EXPECT_TRUE(std::isnan(r.t[j]) && std::isnan(r.p[j]));
      EXPECT_TRUE(has_flag(r.flags[j], Flag::TooFewSamples));
    }
  }
  EXPECT_TRUE(has_flag(cohens_d(one, many).flags[0], Flag::TooFewSamples));
}

TEST(TTest, NonFiniteInputIsRejected) {
  GroupMoments m(2);
  std::vector<float> x = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  try {
    m.add(x, 1, 2);
    FAIL() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN activation at sample 0, neuron 1"), std::string::npos)
        << e.what();
  }
  x[1] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(m.add(x, 1, 2), Error);
  EXPECT_THROW(m.add(x, 2, 2), Error);  // wrong shape
  AucAccumulator acc(2);
  EXPECT_THROW(acc.add_a(x, 1, 2), Error);
  EXPECT_EQ(m.count(), 0.0);
}

TEST(TTest, PValueTails) {
  EXPECT_NEAR(t_pvalue(0.0, 10, Tail::TwoSided), 1.0, 1e-15);
  EXPECT_NEAR(t_pvalue(2.0, 10, Tail::Greater) + t_pvalue(2.0, 10, Tail::Less), 1.0, 1e-15);
  EXPECT_TRUE(std::isnan(t_pvalue(std::nan(""), 10, Tail::TwoSided)));
}

}  // namespace
}  // namespace neurolens::stats
