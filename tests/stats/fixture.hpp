// tests/stats/fixture.hpp — reader for the plain-text fixtures of
// tests/reference/make_stats_fixtures.py and the comparison helper that prints the first mismatches
// (index, expected, actual).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace neurolens::stats::testing {

class Fixture {
 public:
  explicit Fixture(const std::string& name) {
    const std::string path = std::string(NEUROLENS_FIXTURES) + "/stats/" + name;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open fixture " + path);
    std::string line;
    std::string key;
    std::size_t left = 0;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ss(line);
      if (left == 0) {
        ss >> key >> left;
        blocks_[key].reserve(left);
        continue;
      }
      std::string tok;
      while (ss >> tok) {
        blocks_[key].push_back(std::strtod(tok.c_str(), nullptr));
        --left;
      }
    }
  }
  const std::vector<double>& operator[](const std::string& key) const {
    auto it = blocks_.find(key);
    if (it == blocks_.end()) throw std::runtime_error("fixture has no block " + key);
    return it->second;
  }
  double scalar(const std::string& key) const { return (*this)[key].at(0); }
  std::vector<float> floats(const std::string& key) const {
    const auto& v = (*this)[key];
    return std::vector<float>(v.begin(), v.end());
  }

 private:
  std::map<std::string, std::vector<double>> blocks_;
};

// Expected NaN needs actual NaN; otherwise |a - e| <= rtol |e| (+ atol). Values of |e| below
// `tiny` (p-values under the double range scipy reaches) only need |a| below tiny too.
inline ::testing::AssertionResult all_close(const std::vector<double>& expected,
                                            const std::vector<double>& actual, double rtol,
                                            double atol = 0.0, double tiny = 0.0) {
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != expected " << expected.size();
  }
  std::ostringstream msg;
  msg.precision(17);
  int bad = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], a = actual[i];
    bool ok;
    if (std::isnan(e)) {
      ok = std::isnan(a);
    } else if (std::fabs(e) < tiny) {
      ok = std::fabs(a) < tiny;
    } else {
      ok = std::fabs(a - e) <= rtol * std::fabs(e) + atol;
    }
    if (!ok && ++bad <= 5) {
      msg << "\n  neuron " << i << ": expected " << e << ", actual " << a << " (rel "
          << std::fabs(a - e) / std::fabs(e) << ")";
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " mismatches (rtol " << rtol << "):" << msg.str();
}

}  // namespace neurolens::stats::testing
