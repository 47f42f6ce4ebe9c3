// Numbers as text, the one set of formatting helpers of the program's output (summary lines,
// `inspect` tables, the report's HTML and SVG). Header-only, standard library only; every
// caller's strings depend on these exact formats (tests compare output byte for byte).
// Example:
//   format_number(3.0) == "3";  format_number(0.012345) == "0.0123";  format_number(NAN) == "NaN"
//   trimmed_number(2.50, 2) == "2.5";  fixed_number(1.234, 2) == "1.23";  format_p(0.5) == "p =
//   0.5"
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace neurolens {

// Human name of a number for tables: integers in full (below 1e15), else %.3g; "NaN", "inf".
inline std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

// `decimals` fixed decimals, trailing zeros (and a trailing '.') dropped, "-0" as "0" (SVG
// coordinates).
inline std::string trimmed_number(double v, int decimals = 1) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

// `decimals` fixed decimals; "NaN" for NaN.
inline std::string fixed_number(double v, int decimals) {
  if (std::isnan(v)) return "NaN";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A p-value for summary lines: "p = %.3g", or "p < 1e-300" when it underflowed to 0.
inline std::string format_p(double p) {
  char buf[64];
  if (p == 0.0) return "p < 1e-300";
  std::snprintf(buf, sizeof buf, "p = %.3g", p);
  return buf;
}

}  // namespace neurolens
