// bench/stats_bench.cpp — per-neuron statistics at GPT-2 Large scale, single-threaded.
// Problem: L = 36 layers x 5120 neurons = 184,320 neurons, N = 440 samples (220 per group),
// x = effect_k * y + N(0, 1) as float32, seeded. Times (wall clock, one thread):
//   welch: GroupMoments of both groups + welch_ttest (Boost.Math p-values)
//   logistic: fit_logistic (precheck, Newton iterations, SEs, Wald p)
// Usage: stats_bench [--layers 36] [--neurons 5120] [--samples 440] [--seed 1]
// Prints "key value" lines; bench/stats_reference.py runs it beside scipy / statsmodels.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "io/text.hpp"
#include "stats/logistic.hpp"
#include "stats/moments.hpp"
#include "stats/ttest.hpp"

using neurolens::seconds_since;
using neurolens::stats::Flag;

namespace {

// CPU time of this process: on a shared, oversubscribed machine it is steadier than wall time.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t layers = 36, neurons = 5120, n = 440;
  unsigned seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const auto v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--layers")
      layers = v;
    else if (a == "--neurons")
      neurons = v;
    else if (a == "--samples")
      n = v;
    else if (a == "--seed")
      seed = static_cast<unsigned>(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const std::size_t k = layers * neurons;
  const std::size_t na = n / 2, nb = n - na;
  std::printf("neurons %zu\nsamples %zu\n", k, n);

  // Data: rows [0, na) are group a (y = 0), rows [na, n) group b (y = 1).
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> effect_dist(-0.5f, 0.5f);
  std::vector<float> effect(k);
  for (auto& e : effect) e = effect_dist(rng);
  std::vector<float> x(n * k);
  std::vector<std::uint8_t> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = i >= na ? 1 : 0;
    for (std::size_t j = 0; j < k; ++j) x[i * k + j] = effect[j] * y[i] + normal(rng);
  }
  const std::span<const float> xa(x.data(), na * k), xb(x.data() + na * k, nb * k);

  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_seconds();
  neurolens::stats::GroupMoments ma(k), mb(k);
  ma.add(xa, na, k);
  mb.add(xb, nb, k);
  const auto welch = neurolens::stats::welch_ttest(ma, mb);
  const double welch_s = seconds_since(t0);
  const double welch_cpu = cpu_seconds() - c0;
  std::size_t significant = 0;
  for (double p : welch.p) significant += p < 0.05 ? 1 : 0;
  std::printf("welch_seconds %.6f\nwelch_cpu_seconds %.6f\nwelch_significant %zu\n", welch_s,
              welch_cpu, significant);

  t0 = std::chrono::steady_clock::now();
  c0 = cpu_seconds();
  const auto fit = neurolens::stats::fit_logistic(x, y, n, k);
  const double logit_s = seconds_since(t0);
  const double logit_cpu = cpu_seconds() - c0;
  std::size_t converged = 0, iterations = 0;
  for (std::size_t j = 0; j < k; ++j) {
    converged += fit.flags[j] == 0 ? 1 : 0;
    iterations = std::max<std::size_t>(iterations, static_cast<std::size_t>(fit.iterations[j]));
  }
  std::printf("logistic_seconds %.6f\nlogistic_cpu_seconds %.6f\n", logit_s, logit_cpu);
  std::printf("logistic_converged %zu\nlogistic_max_iterations %zu\n", converged, iterations);
  std::printf("logistic_neuron0 beta1 %.10g se1 %.10g p1 %.10g\n", fit.beta1[0], fit.se1[0],
              fit.p1[0]);
  return 0;
}
