// Text helpers shared by every layer: trimming, splitting comma lists, and the wall clock of a
// phase. Header-only, no dependencies beyond the standard library.
// Example:
//   split(" not, never ,", ',') == {"not", "never"};   trim(" a ") == "a"
//   const auto t0 = std::chrono::steady_clock::now();  ...;  double s = seconds_since(t0);
#pragma once

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

namespace neurolens {

// `s` without leading and trailing spaces, tabs and line ends.
inline std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// The trimmed, non-empty items of `s` between separators.
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::stringstream ss(s);
  while (std::getline(ss, item, sep)) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Seconds of steady-clock time since `t`.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace neurolens
