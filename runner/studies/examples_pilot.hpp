// Examples pilot — what the examples study (docs/examples.md) fixes before its pass, from the
// corpus's first windows: per neuron the exact quantiles (levels 0, .5, .9, .99, .999; numpy's
// linear rule) of the per-window maxima — its reservoirs' bucket boundaries — the histogram range
// (the activations' [min, max] widened by 10% of the range each side) and the mean the power sums
// are taken about. PilotAccumulator gathers each rank's windows; pilot_ranges reduces them by
// neuron slice (each rank sorts only its neurons' maxima) and shares the result.
// Legend: K neurons of a site, P pilot windows.
// Example:
//   PilotAccumulator acc(sites);  run_batches(pilot_ctx, pilot_plan, acc);
//   std::vector<PilotRanges> r = pilot_ranges(comm, acc, 40);   // per site
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "runner/engine/engine.hpp"

namespace neurolens::runner {

inline constexpr std::array<double, 5> kLevels = {0.0, 0.5, 0.9, 0.99, 0.999};

// numpy.quantile(..., method="linear") of sorted values (NaN when empty).
double linear_quantile(const std::vector<float>& sorted, double level);

// The pilot: per local window and neuron the window max; per neuron min, max, sum, count.
class PilotAccumulator : public Accumulator {
 public:
  explicit PilotAccumulator(const std::vector<SiteSpace>& sites) : maxima(sites.size()) {
    for (const SiteSpace& s : sites) {
      const auto K = static_cast<size_t>(s.neurons());
      min.emplace_back(K, std::numeric_limits<double>::infinity());
      max.emplace_back(K, -std::numeric_limits<double>::infinity());
      sum.emplace_back(K, 0.0);
    }
  }
  void add(const SampleBatch& b) override {
    size_t i = 0;
    while (i < b.samples.size()) {
      const int64_t w = b.samples[i].window;
      size_t end = i;
      while (end < b.samples.size() && b.samples[end].window == w) ++end;
      for (size_t s = 0; s < maxima.size(); ++s) {
        const size_t K = min[s].size();
        const size_t base = maxima[s].size();
        maxima[s].resize(base + K, -std::numeric_limits<float>::infinity());
        float* m = maxima[s].data() + base;
        for (size_t r = i; r < end; ++r) {
          const float* row = b.rows[s].data() + r * K;
          for (size_t k = 0; k < K; ++k) {
            m[k] = std::max(m[k], row[k]);
            min[s][k] = std::min(min[s][k], static_cast<double>(row[k]));
            max[s][k] = std::max(max[s][k], static_cast<double>(row[k]));
            sum[s][k] += row[k];
          }
        }
      }
      count += static_cast<int64_t>(end - i);
      ++windows;
      i = end;
    }
  }
  std::vector<double> save_state() const override { return {}; }
  void load_state(std::span<const double> /*state*/) override {}
  void finalize(RunContext&, const Plan&, ResultsWriter&) override {}

  std::vector<std::vector<float>> maxima;  // [site][local windows, K]
  std::vector<std::vector<double>> min, max, sum;
  int64_t count = 0, windows = 0;
};

// Per site, every rank the same.
struct PilotRanges {
  std::vector<double> shift;       // [K] the pilot's mean
  std::vector<float> boundaries;   // [K, 5] quantiles of the window maxima
  std::vector<float> edges;        // [K, bins + 1]
  std::vector<float> lo, hi, inv;  // [K] edges[0], edges[bins], bins / (hi - lo)
};

// Collective: the ranges of every site from every rank's pilot windows (frees the maxima).
std::vector<PilotRanges> pilot_ranges(const Comm& comm, PilotAccumulator& pilot, size_t bins);

}  // namespace neurolens::runner
