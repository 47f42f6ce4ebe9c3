// stats/logistic.hpp — per-neuron logistic regression y ~ intercept + slope * activation.
// Owns: maximum likelihood by Newton's method for all K neurons at once, in a data-parallel form:
//   1. logistic_precheck(moments of x where y=0, moments of x where y=1) flags neurons that
//      cannot be fitted: both classes present? x constant? x separating the classes?
//   2. per iteration: every shard of samples calls logistic_partials(beta, x, y) -> per-neuron
//      gradient and information sums (LogisticPartials, a plain sum: MPI_SUM of data()), and
//      LogisticSolver::step(partials) updates the betas of the neurons still iterating;
//   3. partials at the final betas (with log-likelihood) -> LogisticSolver::finalize.
// Any split of the samples gives the same fit (up to the rounding of the sums).
// fit_logistic() is the single-process driver built from exactly these pieces.
// Matches statsmodels Logit(y, add_constant(x)).fit() (Newton from zeros, maxiter 35, stop when
// every |parameter change| <= 1e-8, converged = iterations < maxiter; SE from the inverse
// information at the optimum; z = beta / SE; two-sided Wald p from the normal distribution).
// Separation (max x of one class <= min x of the other: complete or quasi-complete) is reported
// by Flag::Separated with NaN results — never a huge beta with a tiny p — unless Firth
// penalization is requested for those neurons (FirthMode::Separated): then the Firth (Jeffreys
// prior) estimate is returned with Flag::Firth, SEs from the inverse information at that
// estimate and Wald p (logistf's default is profile-likelihood p; Wald is reported here).
// Shapes: x is row-major [N, K] float, y is [N] in {0, 1} (y = 1 is group b), betas are [K].
// Example:
//   LogisticFit fit = fit_logistic(x, y, N, K);          // fit.beta1[k], fit.p1[k], fit.flags[k]
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "stats/common.hpp"
#include "stats/moments.hpp"

namespace neurolens::stats {

enum class FirthMode { Never, Separated, Always };
// Where fit_logistic starts Newton: Zero (statsmodels) or Discriminant (logistic_start; fewer
// iterations, the same estimate).
enum class LogisticStart { Zero, Discriminant };

struct LogisticOptions {
  int max_iter = 35;  // statsmodels Logit.fit default
  double tol = 1e-8;  // on max |parameter change|, as statsmodels' Newton
  FirthMode firth = FirthMode::Never;
  LogisticStart start = LogisticStart::Discriminant;
  // Firth steps are scaled down so |d intercept| + |d slope| * rms(x) <= this: a step changes
  // the linear predictor by at most about this much (logistf caps |change| at 5 in beta units).
  double firth_max_step = 5.0;
};

// Per-neuron sums over samples at given betas; fields are [K] each:
//   g0 = sum r, g1 = sum r x         (gradient of the (penalized) log-likelihood; r = y - p,
//                                      or y - p + h (1/2 - p) for a Firth pass)
//   h00 = sum w, h01 = sum w x, h11 = sum w x^2   (information matrix, w = p (1 - p))
//   loglik = sum y eta - log(1 + exp(eta))          (only when requested, else 0)
class LogisticPartials {
 public:
  enum Field : std::size_t { G0, G1, H00, H01, H11, LogLik, kFields };

  LogisticPartials() = default;
  explicit LogisticPartials(std::size_t k) : k_(k), data_(kFields * k, 0.0) {}

  std::size_t neurons() const { return k_; }
  std::span<double> field(Field f) { return {data_.data() + f * k_, k_}; }
  std::span<const double> field(Field f) const { return {data_.data() + f * k_, k_}; }
  // The flat buffer [6, K] (fields in the order above). Every entry is a plain sum over samples:
  // MPI_Allreduce(MPI_IN_PLACE, data().data(), data().size(), MPI_DOUBLE, MPI_SUM) merges shards.
  std::span<double> data() { return data_; }
  std::span<const double> data() const { return data_; }

  void merge(const LogisticPartials& other);  // elementwise sum
  // Serialized layout: exactly data() ([6 * K] doubles, no header; K is known to every rank).
  std::vector<double> serialize() const { return data_; }
  static LogisticPartials deserialize(std::span<const double> in, std::size_t k);

 private:
  std::size_t k_ = 0;
  std::vector<double> data_;
};

// Flags of neurons that cannot be fitted by plain maximum likelihood, from the moments of x over
// the samples with y = 0 (class0) and y = 1 (class1): SingleClass, ConstantPredictor, Separated.
std::vector<std::uint8_t> logistic_precheck(const GroupMoments& class0, const GroupMoments& class1);

// Starting values from the class moments of x: the linear-discriminant (equal-variance normal)
// estimate beta1 = (mean1 - mean0) / pooled variance, beta0 = log(n1 / n0) - beta1 (mean0 +
// mean1) / 2 — the logistic MLE's close neighbour, which saves Newton iterations. Where it is
// large (|beta1| sd > 3) or undefined, 0 (statsmodels' start) is used instead.
void logistic_start(const GroupMoments& class0, const GroupMoments& class1, std::span<double> beta0,
                    std::span<double> beta1);

// Sums over the N samples of this shard at betas [K]. Neurons with active[k] == 0 are skipped
// (their fields are 0); an empty `active` means all. With `firth_inverse_info` ([3, K]: the
// inverse information entries a00, a01, a11 at the same betas, from LogisticSolver) the gradient
// is Firth's modified score. Throws neurolens::Error on NaN/inf x or y not in {0, 1}.
LogisticPartials logistic_partials(std::span<const double> beta0, std::span<const double> beta1,
                                   std::span<const float> x, std::span<const std::uint8_t> y,
                                   std::size_t n, std::size_t k,
                                   std::span<const std::uint8_t> active = {},
                                   bool with_loglik = false,
                                   std::span<const double> firth_inverse_info = {});

struct LogisticFit {
  std::vector<double> beta0, beta1;  // [K] intercept, slope
  std::vector<double> se0, se1;      // [K] standard errors
  std::vector<double> z0, z1;        // [K] Wald z
  std::vector<double> p0, p1;        // [K] two-sided Wald p
  std::vector<double> loglik;        // [K] log-likelihood at the estimate (unpenalized)
  std::vector<int> iterations;       // [K] Newton iterations done
  std::vector<std::uint8_t> flags;   // [K] Flag bits; no flag = converged ML fit
};

class LogisticSolver {
 public:
  // `precheck` from logistic_precheck (or empty: nothing flagged).
  LogisticSolver(std::size_t k, const LogisticOptions& options,
                 std::span<const std::uint8_t> precheck = {});

  // Optional starting values (default 0, as statsmodels), e.g. from logistic_start(); call before
  // the first step(). The estimate does not depend on the start, only the iteration count does.
  void set_start(std::span<const double> beta0, std::span<const double> beta1);

  std::span<const double> beta0() const { return beta0_; }
  std::span<const double> beta1() const { return beta1_; }
  std::span<const std::uint8_t> active() const { return active_; }  // [K] still iterating
  std::span<const std::uint8_t> fitted() const { return fitted_; }  // [K] will get an estimate
  bool done() const;

  // Firth neurons need a second pass per iteration: after the plain partials P at the current
  // betas, call logistic_partials(..., firth_active(), false, firth_inverse_info(P)) and pass its
  // result to step() as `firth`.
  bool needs_firth_pass() const;
  std::span<const std::uint8_t> firth_active() const { return firth_active_; }
  std::vector<double> firth_inverse_info(const LogisticPartials& at_beta) const;

  // One Newton step for every active neuron from partials at the current betas.
  void step(const LogisticPartials& at_beta, const LogisticPartials* firth = nullptr);
  // Results from partials (with loglik) at the final betas over fitted().
  LogisticFit finalize(const LogisticPartials& at_beta) const;

 private:
  std::size_t k_;
  LogisticOptions options_;
  std::vector<double> beta0_, beta1_;
  std::vector<std::uint8_t> flags_, active_, fitted_, firth_, firth_active_;
  std::vector<int> iterations_;
};

// Single-process driver: precheck, Newton iterations, finalize.
LogisticFit fit_logistic(std::span<const float> x, std::span<const std::uint8_t> y, std::size_t n,
                         std::size_t k, const LogisticOptions& options = {});

}  // namespace neurolens::stats
