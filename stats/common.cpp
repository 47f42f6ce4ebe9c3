#include "stats/common.hpp"

#include <cmath>

namespace neurolens::stats {

template <typename T>
void check_batch(std::span<const T> x, std::size_t n, std::size_t k, const char* who) {
  if (x.size() != n * k) {
    throw Error(who,
                "batch has " + std::to_string(x.size()) +
                    " values, expected N*K = " + std::to_string(n) + "*" + std::to_string(k),
                "pass a row-major [N, K] batch");
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      throw Error(who,
                  std::string(std::isnan(x[i]) ? "NaN" : "infinite") + " activation at sample " +
                      std::to_string(i / k) + ", neuron " + std::to_string(i % k),
                  "statistics reject non-finite input; check the model outputs or drop the sample");
    }
  }
}

template void check_batch<float>(std::span<const float>, std::size_t, std::size_t, const char*);
template void check_batch<double>(std::span<const double>, std::size_t, std::size_t, const char*);

void check_neurons(std::size_t k, std::size_t expected_k, const char* who) {
  if (k != expected_k) {
    throw Error(who,
                "batch has " + std::to_string(k) + " neurons, the statistic was built for " +
                    std::to_string(expected_k),
                "use one statistic per neuron set");
  }
}

void check_buffer(std::size_t have, std::size_t need, const char* who) {
  if (have < need) {
    throw Error(
        who,
        "serialized buffer has " + std::to_string(have) + " values, needs " + std::to_string(need),
        "pass the buffer produced by serialize() of the same statistic");
  }
}

}  // namespace neurolens::stats
