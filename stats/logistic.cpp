#include "stats/logistic.hpp"

#include <algorithm>
#include <bit>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace neurolens::stats {
namespace {
using NormalPolicy = boost::math::policies::policy<
    boost::math::policies::promote_double<false>,
    boost::math::policies::underflow_error<boost::math::policies::ignore_error>>;
}  // namespace
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// exp(x) in a form the compiler vectorizes (the libm call is not): Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2/2, degree-11 Taylor polynomial (truncation < 1e-14 relative),
// 2^n built in the exponent bits. Clamped to [-708, 708] (results 3e-308 .. 3e307).
inline double vexp(double x) {
  x = x < -708.0 ? -708.0 : (x > 708.0 ? 708.0 : x);
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52: rounds to an integer in the ulp
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double kd = x * kLog2e + kShift;
  const double nd = kd - kShift;
  const double r = (x - nd * kLn2Hi) - nd * kLn2Lo;
  double p = 1.0 / 39916800.0;  // 1/11!
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const std::uint64_t bits = (std::bit_cast<std::uint64_t>(kd) + 1023u) << 52;
  return p * std::bit_cast<double>(bits);
}

// log(1 + u) for u in [0, 1], vectorizable: w = 1 + u, log w by the atanh series on the mantissa
// (reduced to [sqrt(2)/2, sqrt(2)]), plus the correction for the rounding of 1 + u.
inline double vlog1p(double u) {
  const double w = 1.0 + u;
  const bool big = w > 1.4142135623730951;
  const double m = big ? 0.5 * w : w;  // w in [1, 2]: one halving suffices
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double q = 1.0 / 21.0;
  q = q * s2 + 1.0 / 19.0;
  q = q * s2 + 1.0 / 17.0;
  q = q * s2 + 1.0 / 15.0;
  q = q * s2 + 1.0 / 13.0;
  q = q * s2 + 1.0 / 11.0;
  q = q * s2 + 1.0 / 9.0;
  q = q * s2 + 1.0 / 7.0;
  q = q * s2 + 1.0 / 5.0;
  q = q * s2 + 1.0 / 3.0;
  q = q * s2 + 1.0;
  const double log_w = 2.0 * s * q + (big ? 0.6931471805599453 : 0.0);
  return log_w - ((w - 1.0) - u) / w;
}

constexpr std::size_t kBlock = 256;  // neurons per block: the accumulators stay in L1

template <bool kFirth, bool kLogLik>
void accumulate_block(const double* b0, const double* b1, const float* x, const double* yv,
                      std::size_t n, std::size_t k, std::size_t len, const double* a00,
                      const double* a01, const double* a11, double* out[6]) {
  alignas(64) double g0[kBlock] = {}, g1[kBlock] = {}, h00[kBlock] = {}, h01[kBlock] = {},
                     h11[kBlock] = {}, ll[kBlock] = {};
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = x + i * k;
    const double yi = yv[i];
    for (std::size_t j = 0; j < len; ++j) {
      const double xv = row[j];
      const double eta = b0[j] + b1[j] * xv;
      const double e = vexp(-eta);           // exp(-eta)
      const double p = 1.0 / (1.0 + e);      // P(y = 1)
      const double w = e * p * p;            // p (1 - p) without cancellation
      double r = p * (yi * e - (1.0 - yi));  // y - p without cancellation
      if constexpr (kFirth) {
        const double h = w * (a00[j] + 2.0 * a01[j] * xv + a11[j] * xv * xv);
        r += h * (0.5 - p);
      }
      g0[j] += r;
      g1[j] += r * xv;
      h00[j] += w;
      h01[j] += w * xv;
      h11[j] += w * xv * xv;
      if constexpr (kLogLik) {
        // y eta - log(1 + e^eta) = y eta - max(eta, 0) - log1p(e^-|eta|)
        // e^-|eta| is e (eta >= 0) or 1 / e (eta < 0): no second exp
        ll[j] += yi * eta - std::max(eta, 0.0) - vlog1p(eta >= 0.0 ? e : 1.0 / e);
      }
    }
  }
  for (std::size_t j = 0; j < len; ++j) {
    out[0][j] = g0[j];
    out[1][j] = g1[j];
    out[2][j] = h00[j];
    out[3][j] = h01[j];
    out[4][j] = h11[j];
    out[5][j] = ll[j];
  }
}

}  // namespace

void LogisticPartials::merge(const LogisticPartials& other) {
  if (k_ == 0 && data_.empty()) {
    *this = other;
    return;
  }
  check_neurons(other.k_, k_, "stats::LogisticPartials::merge");
  for (std::size_t i = 0; i < data_.size(); ++i) data_[i] += other.data_[i];
}

LogisticPartials LogisticPartials::deserialize(std::span<const double> in, std::size_t k) {
  check_buffer(in.size(), kFields * k, "stats::LogisticPartials::deserialize");
  LogisticPartials p(k);
  std::copy(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(kFields * k), p.data_.begin());
  return p;
}

namespace {

std::uint8_t precheck_one(double n0, double n1, double lo0, double hi0, double lo1, double hi1) {
  std::uint8_t f = 0;
  if (n0 == 0 || n1 == 0) {
    set_flag(f, Flag::SingleClass);
  } else if (std::min(lo0, lo1) == std::max(hi0, hi1)) {
    set_flag(f, Flag::ConstantPredictor);
  } else if (hi0 <= lo1 || hi1 <= lo0) {  // complete (<) or quasi-complete (==) separation
    set_flag(f, Flag::Separated);
  }
  return f;
}

}  // namespace

namespace {

void start_one(double n0, double n1, double mean0, double mean1, double pooled_var, double& b0,
               double& b1) {
  b0 = b1 = 0.0;
  if (!(n0 > 0 && n1 > 0 && pooled_var > 0.0)) return;
  const double slope = (mean1 - mean0) / pooled_var;
  const double intercept = std::log(n1 / n0) - slope * (mean0 + mean1) / 2.0;
  if (std::isfinite(slope) && std::isfinite(intercept) &&
      std::fabs(slope) * std::sqrt(pooled_var) <= 3.0) {
    b0 = intercept;
    b1 = slope;
  }
}

}  // namespace

void logistic_start(const GroupMoments& class0, const GroupMoments& class1, std::span<double> beta0,
                    std::span<double> beta1) {
  const std::size_t k = class0.neurons();
  check_neurons(class1.neurons(), k, "stats::logistic_start");
  check_neurons(beta0.size(), k, "stats::logistic_start");
  check_neurons(beta1.size(), k, "stats::logistic_start");
  const double n0 = class0.count(), n1 = class1.count();
  for (std::size_t j = 0; j < k; ++j) {
    const double pooled =
        n0 + n1 > 2 ? (class0.variance(j, 0.0) * n0 + class1.variance(j, 0.0) * n1) / (n0 + n1 - 2)
                    : 0.0;
    start_one(n0, n1, class0.mean()[j], class1.mean()[j], pooled, beta0[j], beta1[j]);
  }
}

void LogisticSolver::set_start(std::span<const double> beta0, std::span<const double> beta1) {
  check_neurons(beta0.size(), k_, "stats::LogisticSolver::set_start");
  check_neurons(beta1.size(), k_, "stats::LogisticSolver::set_start");
  for (std::size_t j = 0; j < k_; ++j) {
    if (iterations_[j] == 0 && active_[j]) {
      beta0_[j] = beta0[j];
      beta1_[j] = beta1[j];
    }
  }
}

std::vector<std::uint8_t> logistic_precheck(const GroupMoments& class0,
                                            const GroupMoments& class1) {
  check_neurons(class1.neurons(), class0.neurons(), "stats::logistic_precheck");
  const std::size_t k = class0.neurons();
  std::vector<std::uint8_t> flags(k, 0);
  for (std::size_t j = 0; j < k; ++j) {
    flags[j] = precheck_one(class0.count(), class1.count(), class0.min()[j], class0.max()[j],
                            class1.min()[j], class1.max()[j]);
  }
  return flags;
}

namespace {

// logistic_partials without the input checks (fit_logistic checks once, not every iteration).
LogisticPartials accumulate(std::span<const double> beta0, std::span<const double> beta1,
                            std::span<const float> x, const std::vector<double>& yv, std::size_t n,
                            std::size_t k, std::span<const std::uint8_t> active, bool with_loglik,
                            std::span<const double> firth_inverse_info) {
  LogisticPartials out(k);
  // A rank may hold no samples (its partial sums are zero); x.data() is then null and must not
  // be offset.
  if (n == 0) return out;
  const bool firth = !firth_inverse_info.empty();
  for (std::size_t j0 = 0; j0 < k; j0 += kBlock) {
    const std::size_t len = std::min(kBlock, k - j0);
    if (!active.empty() && std::none_of(active.begin() + static_cast<std::ptrdiff_t>(j0),
                                        active.begin() + static_cast<std::ptrdiff_t>(j0 + len),
                                        [](std::uint8_t a) { return a != 0; })) {
      continue;
    }
    double* fields[6];
    for (std::size_t f = 0; f < 6; ++f) {
      fields[f] = out.field(static_cast<LogisticPartials::Field>(f)).data() + j0;
    }
    const double* a00 = firth ? firth_inverse_info.data() + j0 : nullptr;
    const double* a01 = firth ? firth_inverse_info.data() + k + j0 : nullptr;
    const double* a11 = firth ? firth_inverse_info.data() + 2 * k + j0 : nullptr;
    const double* b0 = beta0.data() + j0;
    const double* b1 = beta1.data() + j0;
    const float* xb = x.data() + j0;
    if (firth) {
      if (with_loglik) {
        accumulate_block<true, true>(b0, b1, xb, yv.data(), n, k, len, a00, a01, a11, fields);
      } else {
        accumulate_block<true, false>(b0, b1, xb, yv.data(), n, k, len, a00, a01, a11, fields);
      }
    } else if (with_loglik) {
      accumulate_block<false, true>(b0, b1, xb, yv.data(), n, k, len, a00, a01, a11, fields);
    } else {
      accumulate_block<false, false>(b0, b1, xb, yv.data(), n, k, len, a00, a01, a11, fields);
    }
    if (!active.empty()) {  // zero the skipped neurons of a partially active block
      for (std::size_t j = 0; j < len; ++j) {
        if (active[j0 + j] == 0) {
          for (std::size_t f = 0; f < 6; ++f) fields[f][j] = 0.0;
        }
      }
    }
  }
  return out;
}

}  // namespace

LogisticPartials logistic_partials(std::span<const double> beta0, std::span<const double> beta1,
                                   std::span<const float> x, std::span<const std::uint8_t> y,
                                   std::size_t n, std::size_t k,
                                   std::span<const std::uint8_t> active, bool with_loglik,
                                   std::span<const double> firth_inverse_info) {
  const char* who = "stats::logistic_partials";
  check_batch(x, n, k, who);
  if (y.size() != n) {
    throw Error(
        who, "y has " + std::to_string(y.size()) + " labels for " + std::to_string(n) + " samples",
        "pass one label per sample");
  }
  if (beta0.size() != k || beta1.size() != k || (!active.empty() && active.size() != k) ||
      (!firth_inverse_info.empty() && firth_inverse_info.size() != 3 * k)) {
    throw Error(who,
                "betas/active/firth_inverse_info do not have K = " + std::to_string(k) + " entries",
                "pass per-neuron arrays of the solver");
  }
  std::vector<double> yv(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (y[i] > 1) {
      throw Error(who,
                  "label y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + " is not 0 or 1",
                  "encode group a as 0 and group b as 1");
    }
    yv[i] = y[i];
  }
  return accumulate(beta0, beta1, x, yv, n, k, active, with_loglik, firth_inverse_info);
}

LogisticSolver::LogisticSolver(std::size_t k, const LogisticOptions& options,
                               std::span<const std::uint8_t> precheck)
    : k_(k),
      options_(options),
      beta0_(k, 0.0),
      beta1_(k, 0.0),
      flags_(k, 0),
      active_(k, 1),
      fitted_(k, 1),
      firth_(k, 0),
      firth_active_(k, 0),
      iterations_(k, 0) {
  if (!precheck.empty()) {
    check_neurons(precheck.size(), k, "stats::LogisticSolver");
    std::copy(precheck.begin(), precheck.end(), flags_.begin());
  }
  if (options_.max_iter < 1 || !(options_.tol > 0.0)) {
    throw Error("stats::LogisticSolver", "max_iter must be >= 1 and tol > 0",
                "use the defaults (35, 1e-8) unless you need otherwise");
  }
  for (std::size_t j = 0; j < k; ++j) {
    const std::uint8_t f = flags_[j];
    const bool unusable = has_flag(f, Flag::SingleClass) || has_flag(f, Flag::ConstantPredictor);
    const bool separated = has_flag(f, Flag::Separated);
    const bool use_firth = !unusable && (options_.firth == FirthMode::Always ||
                                         (options_.firth == FirthMode::Separated && separated));
    if (unusable || (separated && !use_firth)) {
      active_[j] = fitted_[j] = 0;
    } else if (use_firth) {
      firth_[j] = firth_active_[j] = 1;
      set_flag(flags_[j], Flag::Firth);
    }
  }
}

bool LogisticSolver::done() const {
  return std::none_of(active_.begin(), active_.end(), [](std::uint8_t a) { return a != 0; });
}

bool LogisticSolver::needs_firth_pass() const {
  return std::any_of(firth_active_.begin(), firth_active_.end(),
                     [](std::uint8_t a) { return a != 0; });
}

std::vector<double> LogisticSolver::firth_inverse_info(const LogisticPartials& at_beta) const {
  check_neurons(at_beta.neurons(), k_, "stats::LogisticSolver::firth_inverse_info");
  std::vector<double> inv(3 * k_, 0.0);
  const auto h00 = at_beta.field(LogisticPartials::H00);
  const auto h01 = at_beta.field(LogisticPartials::H01);
  const auto h11 = at_beta.field(LogisticPartials::H11);
  for (std::size_t j = 0; j < k_; ++j) {
    if (!firth_active_[j]) continue;
    const double det = h00[j] * h11[j] - h01[j] * h01[j];
    inv[j] = h11[j] / det;
    inv[k_ + j] = -h01[j] / det;
    inv[2 * k_ + j] = h00[j] / det;
  }
  return inv;
}

void LogisticSolver::step(const LogisticPartials& at_beta, const LogisticPartials* firth) {
  check_neurons(at_beta.neurons(), k_, "stats::LogisticSolver::step");
  if (firth == nullptr && needs_firth_pass()) {
    throw Error("stats::LogisticSolver::step", "Firth neurons are active but no Firth pass given",
                "call logistic_partials with firth_inverse_info() and pass it to step()");
  }
  const auto g0 = at_beta.field(LogisticPartials::G0);
  const auto g1 = at_beta.field(LogisticPartials::G1);
  const auto h00 = at_beta.field(LogisticPartials::H00);
  const auto h01 = at_beta.field(LogisticPartials::H01);
  const auto h11 = at_beta.field(LogisticPartials::H11);
  for (std::size_t j = 0; j < k_; ++j) {
    if (!active_[j]) continue;
    double s0 = g0[j], s1 = g1[j];
    if (firth_[j]) {
      s0 = firth->field(LogisticPartials::G0)[j];
      s1 = firth->field(LogisticPartials::G1)[j];
    }
    const double det = h00[j] * h11[j] - h01[j] * h01[j];
    double d0 = (h11[j] * s0 - h01[j] * s1) / det;
    double d1 = (h00[j] * s1 - h01[j] * s0) / det;
    if (!(det > 0.0) || !std::isfinite(d0) || !std::isfinite(d1)) {
      set_flag(flags_[j], Flag::NotConverged);
      active_[j] = firth_active_[j] = 0;
      fitted_[j] = 0;
      continue;
    }
    if (firth_[j]) {
      // Step size in units of the linear predictor (scale-free in x): |d0| + |d1| rms_w(x).
      const double size = std::fabs(d0) + std::fabs(d1) * std::sqrt(h11[j] / h00[j]);
      if (size > options_.firth_max_step) {
        d0 *= options_.firth_max_step / size;
        d1 *= options_.firth_max_step / size;
      }
    }
    beta0_[j] += d0;
    beta1_[j] += d1;
    ++iterations_[j];
    // statsmodels: loop while iterations < maxiter and any |change| > tol;
    // converged iff it stopped before maxiter.
    const bool small = std::fabs(d0) <= options_.tol && std::fabs(d1) <= options_.tol;
    if (iterations_[j] >= options_.max_iter) {
      set_flag(flags_[j], Flag::NotConverged);
      active_[j] = firth_active_[j] = 0;
    } else if (small) {
      active_[j] = firth_active_[j] = 0;
    }
  }
}

LogisticFit LogisticSolver::finalize(const LogisticPartials& at_beta) const {
  check_neurons(at_beta.neurons(), k_, "stats::LogisticSolver::finalize");
  LogisticFit r;
  for (auto* v : {&r.beta0, &r.beta1, &r.se0, &r.se1, &r.z0, &r.z1, &r.p0, &r.p1, &r.loglik}) {
    v->assign(k_, kNaN);
  }
  r.iterations = iterations_;
  r.flags = flags_;
  const auto h00 = at_beta.field(LogisticPartials::H00);
  const auto h01 = at_beta.field(LogisticPartials::H01);
  const auto h11 = at_beta.field(LogisticPartials::H11);
  const auto ll = at_beta.field(LogisticPartials::LogLik);
  const boost::math::normal_distribution<double, NormalPolicy> normal;
  const auto two_sided = [&](double z) {
    return std::isfinite(z) ? 2.0 * boost::math::cdf(boost::math::complement(normal, std::fabs(z)))
                            : kNaN;
  };
  for (std::size_t j = 0; j < k_; ++j) {
    if (!fitted_[j]) continue;
    const double det = h00[j] * h11[j] - h01[j] * h01[j];
    r.beta0[j] = beta0_[j];
    r.beta1[j] = beta1_[j];
    r.loglik[j] = ll[j];
    if (!(det > 0.0)) {
      set_flag(r.flags[j], Flag::NotConverged);
      continue;
    }
    r.se0[j] = std::sqrt(h11[j] / det);
    r.se1[j] = std::sqrt(h00[j] / det);
    r.z0[j] = beta0_[j] / r.se0[j];
    r.z1[j] = beta1_[j] / r.se1[j];
    r.p0[j] = two_sided(r.z0[j]);
    r.p1[j] = two_sided(r.z1[j]);
  }
  return r;
}

LogisticFit fit_logistic(std::span<const float> x, std::span<const std::uint8_t> y, std::size_t n,
                         std::size_t k, const LogisticOptions& options) {
  const char* who = "stats::fit_logistic";
  check_batch(x, n, k, who);
  if (y.size() != n) {
    throw Error(
        who, "y has " + std::to_string(y.size()) + " labels for " + std::to_string(n) + " samples",
        "pass one label per sample");
  }
  std::vector<double> yv(n);
  std::size_t n1 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (y[i] > 1) {
      throw Error(who,
                  "label y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + " is not 0 or 1",
                  "encode group a as 0 and group b as 1");
    }
    yv[i] = y[i];
    n1 += y[i];
  }
  // Precheck from the per-class min/max of x (one pass; the same rule as logistic_precheck).
  // and the starting values from per-class sums (the same rule as logistic_start).
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> lo0(k, kInf), hi0(k, -kInf), lo1(k, kInf), hi1(k, -kInf);
  std::vector<double> s0(k, 0.0), s1(k, 0.0), q(k, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = x.data() + i * k;
    double* lo = y[i] ? lo1.data() : lo0.data();
    double* hi = y[i] ? hi1.data() : hi0.data();
    double* sum = y[i] ? s1.data() : s0.data();
    for (std::size_t j = 0; j < k; ++j) {
      const double v = row[j];
      lo[j] = std::min(lo[j], v);
      hi[j] = std::max(hi[j], v);
      sum[j] += v;
      q[j] += v * v;
    }
  }
  const double n0 = static_cast<double>(n - n1), dn1 = static_cast<double>(n1);
  std::vector<std::uint8_t> flags(k, 0);
  std::vector<double> start0(k), start1(k);
  for (std::size_t j = 0; j < k; ++j) {
    flags[j] = precheck_one(n0, dn1, lo0[j], hi0[j], lo1[j], hi1[j]);
    const double m0 = n0 > 0 ? s0[j] / n0 : 0.0, m1 = dn1 > 0 ? s1[j] / dn1 : 0.0;
    // sum of squares within classes (single pass: only a starting value, precision is not vital)
    const double within = q[j] - n0 * m0 * m0 - dn1 * m1 * m1;
    const double pooled = n > 2 ? within / static_cast<double>(n - 2) : 0.0;
    start_one(n0, dn1, m0, m1, pooled, start0[j], start1[j]);
  }
  LogisticSolver solver(k, options, flags);
  if (options.start == LogisticStart::Discriminant) solver.set_start(start0, start1);
  while (!solver.done()) {
    const LogisticPartials at_beta =
        accumulate(solver.beta0(), solver.beta1(), x, yv, n, k, solver.active(), false, {});
    if (solver.needs_firth_pass()) {
      const LogisticPartials firth =
          accumulate(solver.beta0(), solver.beta1(), x, yv, n, k, solver.firth_active(), false,
                     solver.firth_inverse_info(at_beta));
      solver.step(at_beta, &firth);
    } else {
      solver.step(at_beta);
    }
  }
  return solver.finalize(
      accumulate(solver.beta0(), solver.beta1(), x, yv, n, k, solver.fitted(), true, {}));
}

}  // namespace neurolens::stats
