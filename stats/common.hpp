// stats/common.hpp — shared vocabulary of the statistics engine.
// Owns: the Tail enum of hypothesis tests, the per-neuron result Flag bits, and the input checks
// (shape and finiteness) every statistic applies to a batch before touching it.
// Shapes: N samples, K neurons; a batch is a row-major [N, K] span (sample n, neuron k at n*K + k).
// Example:
//   check_batch(x, n, k, "stats::GroupMoments::add");   // throws neurolens::Error on NaN/inf
//   if (has_flag(result.flags[k], Flag::ZeroVariance)) { ... }
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "io/error.hpp"

namespace neurolens::stats {

// Which alternative a test reports. Greater: mean(a) > mean(b) (or > mu0); Less: the reverse.
enum class Tail { TwoSided, Greater, Less };

// Per-neuron result flags; a result vector stores them OR-ed into one std::uint8_t per neuron.
enum class Flag : std::uint8_t {
  None = 0,
  TooFewSamples = 1,       // a group has n < 2 (or the test has no degrees of freedom): NaN result
  ZeroVariance = 2,        // the neuron is constant where a variance is needed: NaN result
  Separated = 4,           // logistic: x separates the classes (complete or quasi-complete)
  NotConverged = 8,        // logistic: iteration limit reached, or a singular Hessian
  ConstantPredictor = 16,  // logistic: x is constant, so slope and intercept are not identified
  SingleClass = 32,        // logistic: all y are equal
  Firth = 64,  // logistic: the estimate is Firth-penalized, not plain maximum likelihood
};

inline std::uint8_t operator|(std::uint8_t a, Flag b) {
  return static_cast<std::uint8_t>(a | static_cast<std::uint8_t>(b));
}
inline bool has_flag(std::uint8_t flags, Flag f) {
  return (flags & static_cast<std::uint8_t>(f)) != 0;
}
inline void set_flag(std::uint8_t& flags, Flag f) {
  flags = flags | f;
}

// Throws neurolens::Error unless x.size() == n * k and every value is finite.
template <typename T>
void check_batch(std::span<const T> x, std::size_t n, std::size_t k, const char* who);

// Throws unless `k == expected_k` (a batch for a statistic built over a different neuron count).
void check_neurons(std::size_t k, std::size_t expected_k, const char* who);

// Throws unless a serialized buffer has at least `need` values.
void check_buffer(std::size_t have, std::size_t need, const char* who);

}  // namespace neurolens::stats
