// Logistic regression against statsmodels Logit (tests/fixtures/stats/logistic.txt): estimates,
// SEs, z, p, log-likelihood; separation and constant-predictor flags; Firth against an
// independent root-finding reference; the data-parallel form over shards.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "stats/logistic.hpp"
#include "tests/stats/fixture.hpp"

namespace neurolens::stats {
namespace {

using testing::all_close;
using testing::Fixture;

struct Data {
  Fixture f{"logistic.txt"};
  std::size_t n = static_cast<std::size_t>(f.scalar("n"));
  std::size_t k = static_cast<std::size_t>(f.scalar("k"));
  std::vector<float> x = f.floats("x");
  std::vector<std::uint8_t> y;
  Data() {
    for (double v : f["y"]) y.push_back(static_cast<std::uint8_t>(v));
  }
};

class LogisticFromEachStart : public ::testing::TestWithParam<LogisticStart> {};

TEST_P(LogisticFromEachStart, MatchesStatsmodels) {
  Data d;
  LogisticOptions opt;
  opt.start = GetParam();
  const LogisticFit fit = fit_logistic(d.x, d.y, d.n, d.k, opt);
  constexpr double kRel = 1e-6;
  EXPECT_TRUE(all_close(d.f["b0"], fit.beta0, kRel)) << "intercept";
  EXPECT_TRUE(all_close(d.f["b1"], fit.beta1, kRel)) << "slope";
  EXPECT_TRUE(all_close(d.f["se0"], fit.se0, kRel)) << "se intercept";
  EXPECT_TRUE(all_close(d.f["se1"], fit.se1, kRel)) << "se slope";
  EXPECT_TRUE(all_close(d.f["z0"], fit.z0, kRel)) << "z intercept";
  EXPECT_TRUE(all_close(d.f["z1"], fit.z1, kRel)) << "z slope";
  EXPECT_TRUE(all_close(d.f["p0"], fit.p0, kRel)) << "p intercept";
  EXPECT_TRUE(all_close(d.f["p1"], fit.p1, kRel)) << "p slope";
  EXPECT_TRUE(all_close(d.f["llf"], fit.loglik, 1e-9)) << "log-likelihood";
  for (std::size_t j = 0; j < d.k; ++j) {
    const bool sep = d.f["separated"][j] != 0.0, cst = d.f["constant"][j] != 0.0;
    EXPECT_EQ(has_flag(fit.flags[j], Flag::Separated), sep) << "neuron " << j;
    EXPECT_EQ(has_flag(fit.flags[j], Flag::ConstantPredictor), cst) << "neuron " << j;
    if (d.f["converged"][j] != 0.0) {
      EXPECT_EQ(fit.flags[j], 0) << "neuron " << j;
    }
    if (sep || cst) {
      EXPECT_TRUE(std::isnan(fit.beta1[j]) && std::isnan(fit.p1[j])) << "neuron " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stats, LogisticFromEachStart,
                         ::testing::Values(LogisticStart::Zero, LogisticStart::Discriminant));

TEST(Logistic, FirthMatchesReference) {
  Data d;
  LogisticOptions opt;
  opt.firth = FirthMode::Always;
  const LogisticFit all = fit_logistic(d.x, d.y, d.n, d.k, opt);
  EXPECT_TRUE(all_close(d.f["firth_b0"], all.beta0, 1e-6));
  EXPECT_TRUE(all_close(d.f["firth_b1"], all.beta1, 1e-6));
  EXPECT_TRUE(all_close(d.f["firth_se0"], all.se0, 1e-6));
  EXPECT_TRUE(all_close(d.f["firth_se1"], all.se1, 1e-6));

  opt.firth = FirthMode::Separated;
  const LogisticFit sep = fit_logistic(d.x, d.y, d.n, d.k, opt);
  const LogisticFit ml = fit_logistic(d.x, d.y, d.n, d.k);
  for (std::size_t j = 0; j < d.k; ++j) {
    if (d.f["separated"][j] != 0.0) {
      EXPECT_TRUE(has_flag(sep.flags[j], Flag::Firth) && has_flag(sep.flags[j], Flag::Separated));
      EXPECT_NEAR(sep.beta1[j], d.f["firth_b1"][j], 1e-6 * std::fabs(d.f["firth_b1"][j]));
      EXPECT_TRUE(std::isfinite(sep.p1[j]));
    } else if (std::isfinite(ml.beta1[j])) {
      EXPECT_EQ(sep.beta1[j], ml.beta1[j]) << "non-separated neurons keep the ML fit";
    }
  }
}

// Runs the data-parallel protocol with the samples split into `parts` shards: partials of each
// shard summed (as MPI_SUM would), then one solver step.
LogisticFit fit_sharded(const Data& d, std::size_t parts, const LogisticOptions& opt,
                        std::mt19937& rng) {
  std::vector<std::size_t> cut = {0, d.n};
  std::uniform_int_distribution<std::size_t> pick(0, d.n);
  for (std::size_t p = 1; p < parts; ++p) cut.push_back(pick(rng));
  std::sort(cut.begin(), cut.end());
  const auto shard_x = [&](std::size_t s) {
    return std::span<const float>(d.x).subspan(cut[s] * d.k, (cut[s + 1] - cut[s]) * d.k);
  };
  const auto shard_y = [&](std::size_t s) {
    return std::span<const std::uint8_t>(d.y).subspan(cut[s], cut[s + 1] - cut[s]);
  };
  GroupMoments c0(d.k), c1(d.k);
  for (std::size_t i = 0; i < d.n; ++i) {
    (d.y[i] ? c1 : c0).add(std::span<const float>(d.x).subspan(i * d.k, d.k), 1, d.k);
  }
  LogisticSolver solver(d.k, opt, logistic_precheck(c0, c1));
  if (parts % 2 == 1) {  // odd splits start from the discriminant estimate of the class moments
    std::vector<double> b0(d.k), b1(d.k);
    logistic_start(c0, c1, b0, b1);
    solver.set_start(b0, b1);
  }
  const auto summed = [&](std::span<const std::uint8_t> active, bool ll,
                          std::span<const double> inv) {
    std::vector<double> buffer(LogisticPartials::kFields * d.k, 0.0);
    for (std::size_t s = 0; s + 1 < cut.size(); ++s) {
      const std::vector<double> part =
          logistic_partials(solver.beta0(), solver.beta1(), shard_x(s), shard_y(s),
                            cut[s + 1] - cut[s], d.k, active, ll, inv)
              .serialize();
      for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] += part[i];
    }
    return LogisticPartials::deserialize(buffer, d.k);
  };
  while (!solver.done()) {
    const LogisticPartials p = summed(solver.active(), false, {});
    if (solver.needs_firth_pass()) {
      const LogisticPartials q = summed(solver.firth_active(), false, solver.firth_inverse_info(p));
      solver.step(p, &q);
    } else {
      solver.step(p);
    }
  }
  return solver.finalize(summed(solver.fitted(), true, {}));
}

TEST(Logistic, AnySplitOfSamplesGivesTheSameFit) {
  Data d;
  std::mt19937 rng(5);
  for (FirthMode mode : {FirthMode::Never, FirthMode::Separated}) {
    LogisticOptions opt;
    opt.firth = mode;
    const LogisticFit whole = fit_logistic(d.x, d.y, d.n, d.k, opt);
    for (std::size_t parts = 1; parts <= 8; ++parts) {
      SCOPED_TRACE("parts " + std::to_string(parts));
      const LogisticFit split = fit_sharded(d, parts, opt, rng);
      EXPECT_TRUE(all_close(whole.beta1, split.beta1, 1e-10));
      EXPECT_TRUE(all_close(whole.se1, split.se1, 1e-10));
      EXPECT_TRUE(all_close(whole.p0, split.p0, 1e-8));
      EXPECT_EQ(whole.flags, split.flags);
    }
  }
}

TEST(Logistic, PartialsRoundTripAndMerge) {
  Data d;
  std::vector<double> b0(d.k, 0.1), b1(d.k, -0.2);
  const LogisticPartials all = logistic_partials(b0, b1, d.x, d.y, d.n, d.k, {}, true);
  LogisticPartials a =
      logistic_partials(b0, b1, std::span<const float>(d.x).first(50 * d.k),
                        std::span<const std::uint8_t>(d.y).first(50), 50, d.k, {}, true);
  const LogisticPartials b =
      logistic_partials(b0, b1, std::span<const float>(d.x).subspan(50 * d.k),
                        std::span<const std::uint8_t>(d.y).subspan(50), d.n - 50, d.k, {}, true);
  a.merge(b);
  const std::vector<double> ser = a.serialize();
  const LogisticPartials back = LogisticPartials::deserialize(ser, d.k);
  EXPECT_TRUE(all_close(std::vector<double>(all.data().begin(), all.data().end()),
                        std::vector<double>(back.data().begin(), back.data().end()), 1e-12, 1e-12));
}

TEST(Logistic, RankWithoutSamplesGivesZeroPartials) {
  // A rank that holds no samples passes empty spans (null data); found by UBSan on 3 ranks.
  const std::size_t k = 7;
  std::vector<double> b0(k, 0.1), b1(k, -0.2);
  const LogisticPartials none = logistic_partials(b0, b1, {}, {}, 0, k, {}, true);
  for (double v : none.data()) EXPECT_EQ(v, 0.0);
}

TEST(Logistic, RejectsBadInput) {
  Data d;
  std::vector<std::uint8_t> y = d.y;
  y[3] = 2;
  EXPECT_THROW(fit_logistic(d.x, y, d.n, d.k), Error);
  std::vector<float> x = d.x;
  x[17] = std::nanf("");
  EXPECT_THROW(fit_logistic(x, d.y, d.n, d.k), Error);
  std::vector<std::uint8_t> ones(d.n, 1);
  const LogisticFit f = fit_logistic(d.x, ones, d.n, d.k);
  EXPECT_TRUE(has_flag(f.flags[0], Flag::SingleClass));
  EXPECT_TRUE(std::isnan(f.beta1[0]));
}

}  // namespace
}  // namespace neurolens::stats
