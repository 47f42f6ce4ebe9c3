// SeededRng — the random numbers of synthetic checkpoints and planted neurons.
// Owns: splitmix64 integers, uniforms in (0, 1), Box-Muller normals and integers below n, the
// same on every platform and standard library (std:: distributions are not), so a seed names one
// checkpoint everywhere.
// Example:
//   SeededRng rng(7);
//   float w = 0.02f * rng.normal();
//   int word = rng.below(n_words);
#pragma once

#include <cmath>
#include <cstdint>

namespace neurolens::model {

class SeededRng {
 public:
  explicit SeededRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  float normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double t = 2.0 * 3.14159265358979323846 * uniform();
    spare_ = static_cast<float>(r * std::sin(t));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(t));
  }

 private:
  std::uint64_t state_;
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

}  // namespace neurolens::model
