#include "runner/report/report_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "runner/results/reader.hpp"

namespace neurolens::runner {

// ---- markup primitives ------------------------------------------------------------------------

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&#39;";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x80) {
      // Control characters other than tab / newline / CR are not allowed in HTML text.
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        out += "\xef\xbf\xbd";
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence; invalid bytes become U+FFFD.
    size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = len > 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (ok && len == 3) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

namespace {

// "Nice" tick values covering [lo, hi], about n of them.
std::vector<double> ticks(double lo, double hi, int n) {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, n);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  }
  return out;
}

// Linear map of [d0, d1] onto [r0, r1].
struct Scale {
  double d0, d1, r0, r1;
  double operator()(double v) const {
    return d1 == d0 ? (r0 + r1) / 2 : r0 + (v - d0) / (d1 - d0) * (r1 - r0);
  }
};

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

std::string svg_open(int w, int h, const std::string& label) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) + "\" height=\"" +
         std::to_string(h) + "\" viewBox=\"0 0 " + std::to_string(w) + " " + std::to_string(h) +
         "\" role=\"img\" aria-label=\"" + html_escape(label) + "\">";
}

std::string text_at(double x, double y, const std::string& s, const char* anchor = "middle",
                    const char* cls = "ax") {
  return "<text x=\"" + trimmed_number(x) + "\" y=\"" + trimmed_number(y) + "\" text-anchor=\"" +
         anchor + "\" class=\"" + cls + "\">" + html_escape(s) + "</text>";
}

std::string line(double x1, double y1, double x2, double y2, const char* cls) {
  return "<line x1=\"" + trimmed_number(x1) + "\" y1=\"" + trimmed_number(y1) + "\" x2=\"" +
         trimmed_number(x2) + "\" y2=\"" + trimmed_number(y2) + "\" class=\"" + cls + "\"/>";
}

// Axes with ticks for a plot area [left, right] x [top, bottom].
std::string axes(const Scale& x, const Scale& y, bool x_ticks, const std::string& x_label,
                 const std::string& y_label) {
  std::string s;
  const double left = x.r0, right = x.r1, bottom = y.r0, top = y.r1;
  s += line(left, bottom, right, bottom, "axis");
  s += line(left, bottom, left, top, "axis");
  if (x_ticks) {
    for (double v : ticks(x.d0, x.d1, 8)) {
      s += line(x(v), bottom, x(v), bottom + 4, "axis");
      s += text_at(x(v), bottom + 16, format_number(v));
    }
  }
  for (double v : ticks(y.d0, y.d1, 6)) {
    s += line(left - 4, y(v), left, y(v), "axis");
    s += line(left, y(v), right, y(v), "grid");
    s += text_at(left - 7, y(v) + 4, format_number(v), "end");
  }
  if (!x_label.empty()) s += text_at((left + right) / 2, bottom + 34, x_label, "middle", "lbl");
  if (!y_label.empty()) {
    s += "<text transform=\"translate(14," + trimmed_number((top + bottom) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" class=\"lbl\">" + html_escape(y_label) + "</text>";
  }
  return s;
}

double percentile_sorted(const std::vector<double>& v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto i = static_cast<size_t>(std::floor(pos));
  const size_t j = std::min(i + 1, v.size() - 1);
  return v[i] + (v[j] - v[i]) * (pos - static_cast<double>(i));
}

}  // namespace

// ---- charts -----------------------------------------------------------------------------------

DensityGrid::DensityGrid(int cols_, int rows_, double x0_, double x1_, double y0_, double y1_)
    : cols(cols_),
      rows(rows_),
      x0(x0_),
      x1(x1_),
      y0(y0_),
      y1(y1_),
      counts(static_cast<size_t>(cols_) * static_cast<size_t>(rows_), 0) {}

void DensityGrid::add(double x, double y) {
  auto cell = [](double v, double lo, double hi, int n) {
    if (!(hi > lo)) return 0;
    const double f = (v - lo) / (hi - lo) * n;
    return std::clamp(static_cast<int>(std::floor(f)), 0, n - 1);
  };
  const int c = cell(x, x0, x1, cols), r = cell(y, y0, y1, rows);
  ++counts[static_cast<size_t>(r) * static_cast<size_t>(cols) + static_cast<size_t>(c)];
}

std::string volcano_svg(const VolcanoData& d) {
  constexpr int kW = 820, kH = 530, kLeft = 60, kRight = 20, kTop = 46, kBottom = 50;
  constexpr int kCell = 4, kCols = (kW - kLeft - kRight) / kCell,
                kRows = (kH - kTop - kBottom) / kCell;
  constexpr int kBand = 18;  // band for p = 0 above the plot area
  const size_t n = std::min(d.x.size(), d.p.size());
  double x_max = 0, y_max = 0;
  int64_t underflow = 0, skipped = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(d.x[i]) || std::isnan(d.p[i])) continue;
    x_max = std::max(x_max, std::fabs(d.x[i]));
    if (d.p[i] > 0) y_max = std::max(y_max, -std::log10(d.p[i]));
  }
  const double line_y = d.threshold > 0 ? -std::log10(d.threshold) : 0;
  y_max = std::max({y_max, line_y, 1.0}) * 1.06;
  x_max = x_max > 0 ? x_max * 1.05 : 1.0;
  const Scale sx{-x_max, x_max, kLeft, static_cast<double>(kLeft + kCols * kCell)};
  const Scale sy{0, y_max, static_cast<double>(kTop + kRows * kCell), kTop};
  auto y_of = [&](double p) { return p > 0 ? sy(-std::log10(p)) : kTop - kBand / 2.0; };

  std::vector<bool> marked(n, false);
  for (const VolcanoMark& m : d.marks) {
    if (m.index < n) marked[m.index] = true;
  }
  // Rows of the grid: kRows for the plot, one more for the p = 0 band.
  DensityGrid grid(kCols, kRows, -x_max, x_max, 0, y_max);
  std::vector<int64_t> band(kCols, 0);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(d.x[i]) || std::isnan(d.p[i])) {
      ++skipped;
      continue;
    }
    if (d.p[i] <= 0) ++underflow;
    if (marked[i]) continue;
    if (d.p[i] <= 0) {
      DensityGrid one(kCols, 1, -x_max, x_max, 0, 1);
      one.add(d.x[i], 0.5);
      for (int c = 0; c < kCols; ++c) band[static_cast<size_t>(c)] += one.at(c, 0);
    } else {
      grid.add(d.x[i], -std::log10(d.p[i]));
    }
  }
  int64_t max_count = 0;
  for (int64_t c : grid.counts) max_count = std::max(max_count, c);
  for (int64_t c : band) max_count = std::max(max_count, c);

  std::string s = svg_open(kW, kH, "volcano plot");
  s += axes(sx, sy, true, d.x_label, "-log10 p");
  // Density: one path per shade (8 shades on a log scale of the count).
  constexpr int kShades = 8;
  std::vector<std::string> paths(kShades);
  auto shade = [&](int64_t c) {
    const double f =
        std::log1p(static_cast<double>(c)) / std::log1p(static_cast<double>(max_count));
    return std::clamp(static_cast<int>(std::ceil(f * kShades)) - 1, 0, kShades - 1);
  };
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      const int64_t count = grid.at(c, r);
      if (count == 0) continue;
      paths[static_cast<size_t>(shade(count))] += "M" + std::to_string(kLeft + c * kCell) + " " +
                                                  std::to_string(kTop + (kRows - 1 - r) * kCell) +
                                                  "h4v4h-4z";
    }
  }
  for (int c = 0; c < kCols; ++c) {
    const int64_t count = band[static_cast<size_t>(c)];
    if (count == 0) continue;
    paths[static_cast<size_t>(shade(count))] += "M" + std::to_string(kLeft + c * kCell) + " " +
                                                std::to_string(kTop - kBand + 3) + "h4v12h-4z";
  }
  for (int k = 0; k < kShades; ++k) {
    if (paths[static_cast<size_t>(k)].empty()) continue;
    s += "<path fill=\"#4a5a6a\" fill-opacity=\"" +
         trimmed_number(0.12 + 0.88 * (k + 1) / kShades, 2) + "\" d=\"" +
         paths[static_cast<size_t>(k)] + "\"/>";
  }
  if (underflow > 0) {
    s += line(sx.r0, kTop - kBand, sx.r1, kTop - kBand, "grid");
    s += text_at(sx.r0, kTop - kBand - 6,
                 "p = 0 (underflow, -log10 p > 308): " + std::to_string(underflow) + " neurons",
                 "start");
  }
  if (d.threshold > 0) {
    s += line(sx.r0, sy(line_y), sx.r1, sy(line_y), "thr");
    s += text_at(sx.r0 + 6, sy(line_y) - 5, d.threshold_label, "start");
  }
  s += line(sx(0), sy.r0, sx(0), sy.r1, "grid");
  // Marked neurons: the least significant first so significant ones are on top.
  std::vector<const VolcanoMark*> order;
  for (const VolcanoMark& m : d.marks) {
    if (m.index < n && std::isfinite(d.x[m.index]) && !std::isnan(d.p[m.index]))
      order.push_back(&m);
  }
  std::stable_sort(order.begin(), order.end(), [&](const VolcanoMark* a, const VolcanoMark* b) {
    return a->planted < b->planted || (a->planted == b->planted && d.p[a->index] > d.p[b->index]);
  });
  for (const VolcanoMark* m : order) {
    const double px = sx(d.x[m->index]), py = y_of(d.p[m->index]);
    const bool sig = d.threshold > 0 && d.p[m->index] <= d.threshold;
    s += "<circle cx=\"" + trimmed_number(px) + "\" cy=\"" + trimmed_number(py) + "\" r=\"" +
         (m->planted ? "5" : "3") + "\" fill=\"" + (sig ? "#d62728" : "#1f77b4") +
         "\" fill-opacity=\"0.8\"" + (m->planted ? " stroke=\"#000\" stroke-width=\"2\"" : "") +
         "><title>" + html_escape(m->label) + "</title></circle>";
    if (m->planted) {
      const bool right = px > sx.r1 - 150;
      s += text_at(right ? px - 8 : px + 8, py - 6, "planted: " + m->concept_name,
                   right ? "end" : "start", "lbl");
    }
  }
  if (skipped > 0) {
    s += text_at(kW - kRight, kH - 4,
                 std::to_string(skipped) + " neurons with NaN statistics not drawn", "end");
  }
  s += "</svg>\n";
  return s;
}

std::string bar_chart_svg(const std::vector<std::string>& labels, const std::vector<double>& values,
                          const std::string& y_label) {
  constexpr int kLeft = 60, kTop = 16, kBottom = 46, kH = 240;
  const size_t n = values.size();
  const int bar = n > 0 ? std::clamp(static_cast<int>(760 / n), 6, 40) : 10;
  const int w = kLeft + bar * static_cast<int>(n) + 20;
  double hi = 1;
  for (double v : values) hi = std::max(hi, v);
  const Scale sy{0, hi * 1.1, kH - kBottom, kTop};
  const Scale sx{0, static_cast<double>(n), kLeft,
                 static_cast<double>(kLeft + bar * static_cast<int>(n))};
  std::string s = svg_open(std::max(w, 200), kH, y_label);
  s += axes(sx, sy, false, "layer", y_label);
  const size_t every = std::max<size_t>(1, n / 40 + 1);
  for (size_t i = 0; i < n; ++i) {
    const double x = sx(static_cast<double>(i)) + 1, y = sy(values[i]);
    s += "<rect x=\"" + trimmed_number(x) + "\" y=\"" + trimmed_number(y) + "\" width=\"" +
         std::to_string(bar - 2) + "\" height=\"" + trimmed_number(sy.r0 - y) +
         "\" fill=\"#1f77b4\"><title>" + html_escape(labels[i]) + ": " + format_number(values[i]) +
         "</title></rect>";
    if (i % every == 0) s += text_at(x + (bar - 2) / 2.0, sy.r0 + 14, labels[i]);
    if (values[i] > 0 && bar >= 16)
      s += text_at(x + (bar - 2) / 2.0, y - 3, format_number(values[i]));
  }
  return s + "</svg>\n";
}

BoxStats box_stats(std::vector<double> values) {
  values.erase(
      std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }),
      values.end());
  BoxStats b;
  b.n = static_cast<int64_t>(values.size());
  if (values.empty()) {
    b.min = b.p01 = b.q1 = b.median = b.q3 = b.p99 = b.max =
        std::numeric_limits<double>::quiet_NaN();
    return b;
  }
  std::sort(values.begin(), values.end());
  b.min = values.front();
  b.max = values.back();
  b.p01 = percentile_sorted(values, 0.01);
  b.q1 = percentile_sorted(values, 0.25);
  b.median = percentile_sorted(values, 0.5);
  b.q3 = percentile_sorted(values, 0.75);
  b.p99 = percentile_sorted(values, 0.99);
  return b;
}

std::string box_plot_svg(const std::vector<std::string>& labels, const std::vector<BoxStats>& boxes,
                         const std::string& y_label) {
  constexpr int kLeft = 60, kTop = 14, kBottom = 46, kH = 280;
  const size_t n = boxes.size();
  const int slot = n > 0 ? std::clamp(static_cast<int>(760 / n), 8, 48) : 10;
  const int w = kLeft + slot * static_cast<int>(n) + 20;
  double lo = INFINITY, hi = -INFINITY;
  for (const BoxStats& b : boxes) {
    if (b.n == 0) continue;
    lo = std::min(lo, b.min);
    hi = std::max(hi, b.max);
  }
  if (!(hi > lo)) {
    lo = std::isfinite(lo) ? lo - 1 : -1;
    hi = std::isfinite(hi) ? hi + 1 : 1;
  }
  const double pad = (hi - lo) * 0.05;
  const Scale sy{lo - pad, hi + pad, kH - kBottom, kTop};
  const Scale sx{0, static_cast<double>(n), kLeft,
                 static_cast<double>(kLeft + slot * static_cast<int>(n))};
  std::string s = svg_open(std::max(w, 200), kH, y_label + " per layer");
  s += axes(sx, sy, false, "layer", y_label);
  if (lo < 0 && hi > 0) s += line(sx.r0, sy(0), sx.r1, sy(0), "axis");
  const size_t every = std::max<size_t>(1, n / 40 + 1);
  for (size_t i = 0; i < n; ++i) {
    const BoxStats& b = boxes[i];
    const double cx = sx(static_cast<double>(i) + 0.5), half = std::max(2.0, slot * 0.3);
    if (i % every == 0) s += text_at(cx, sy.r0 + 14, labels[i]);
    if (b.n == 0) continue;
    s += "<g><title>layer " + html_escape(labels[i]) + ": median " + format_number(b.median) +
         ", quartiles " + format_number(b.q1) + " to " + format_number(b.q3) +
         ", 1st-99th percentile " + format_number(b.p01) + " to " + format_number(b.p99) +
         ", min " + format_number(b.min) + ", max " + format_number(b.max) + " (" +
         std::to_string(b.n) + " neurons)</title>";
    s += line(cx, sy(b.p01), cx, sy(b.q1), "axis") + line(cx, sy(b.q3), cx, sy(b.p99), "axis");
    s += "<rect x=\"" + trimmed_number(cx - half) + "\" y=\"" + trimmed_number(sy(b.q3)) +
         "\" width=\"" + trimmed_number(2 * half) + "\" height=\"" +
         trimmed_number(std::max(1.0, sy(b.q1) - sy(b.q3))) +
         "\" fill=\"#cfe2f3\" stroke=\"#1f77b4\"/>";
    s += "<line x1=\"" + trimmed_number(cx - half) + "\" y1=\"" + trimmed_number(sy(b.median)) +
         "\" x2=\"" + trimmed_number(cx + half) + "\" y2=\"" + trimmed_number(sy(b.median)) +
         "\" stroke=\"#d62728\" stroke-width=\"2\"/>";
    s += "<circle cx=\"" + trimmed_number(cx) + "\" cy=\"" + trimmed_number(sy(b.min)) +
         "\" r=\"2\" fill=\"#555\"/>";
    s += "<circle cx=\"" + trimmed_number(cx) + "\" cy=\"" + trimmed_number(sy(b.max)) +
         "\" r=\"2\" fill=\"#555\"/></g>";
  }
  return s + "</svg>\n";
}

std::string histogram_svg(const std::vector<double>& edges, const std::vector<Series>& series,
                          const std::string& title, int width, int height) {
  const int kLeft = 52, kRight = 10, kTop = 22, kBottom = 36;
  std::string s = svg_open(width, height, title);
  s += text_at(width / 2.0, 14, title, "middle", "lbl");
  if (edges.size() < 2) return s + "</svg>\n";
  const size_t bins = edges.size() - 1;
  std::vector<std::vector<double>> frac;
  double hi = 0;
  for (const Series& ser : series) {
    double total = 0;
    for (double v : ser.values) total += v;
    std::vector<double> f(bins, 0.0);
    for (size_t k = 0; k < bins && k < ser.values.size(); ++k)
      f[k] = total > 0 ? ser.values[k] / total : 0;
    for (double v : f) hi = std::max(hi, v);
    frac.push_back(std::move(f));
  }
  const Scale sx{edges.front(), edges.back(), static_cast<double>(kLeft),
                 static_cast<double>(width - kRight)};
  const Scale sy{0, hi > 0 ? hi * 1.1 : 1, static_cast<double>(height - kBottom),
                 static_cast<double>(kTop)};
  s += axes(sx, sy, true, "", "fraction");
  for (size_t g = 0; g < frac.size(); ++g) {
    std::string pts = trimmed_number(sx(edges[0])) + "," + trimmed_number(sy(0));
    for (size_t k = 0; k < bins; ++k) {
      pts += " " + trimmed_number(sx(edges[k])) + "," + trimmed_number(sy(frac[g][k])) + " " +
             trimmed_number(sx(edges[k + 1])) + "," + trimmed_number(sy(frac[g][k]));
    }
    pts += " " + trimmed_number(sx(edges[bins])) + "," + trimmed_number(sy(0));
    s += "<polyline fill=\"none\" stroke=\"" + std::string(kPalette[g % 6]) +
         "\" stroke-width=\"1.5\" points=\"" + pts + "\"><title>" + html_escape(series[g].name) +
         "</title></polyline>";
    s += "<rect x=\"" + trimmed_number(width - kRight - 90.0) + "\" y=\"" +
         trimmed_number(kTop + 4 + 14.0 * g) + "\" width=\"10\" height=\"10\" fill=\"" +
         kPalette[g % 6] + "\"/>" +
         text_at(width - kRight - 76.0, kTop + 13 + 14.0 * g, series[g].name, "start");
  }
  return s + "</svg>\n";
}

std::string phase_time_svg(const std::vector<std::pair<std::string, double>>& phases) {
  double total = 0;
  for (const auto& [_, t] : phases) total += std::isnan(t) ? 0 : t;
  if (!(total > 0)) return "";
  std::string s = svg_open(760, 46, "time per phase");
  double x = 0;
  for (size_t i = 0; i < phases.size(); ++i) {
    const double t = std::isnan(phases[i].second) ? 0 : phases[i].second;
    const double w = t / total * 740;
    s += "<rect x=\"" + trimmed_number(10 + x) + "\" y=\"4\" width=\"" + trimmed_number(w) +
         "\" height=\"18\" fill=\"" + kPalette[i % 6] + "\"><title>" +
         html_escape(phases[i].first) + " " + trimmed_number(t, 3) + " s</title></rect>";
    if (w > 60)
      s += text_at(10 + x + w / 2, 38, phases[i].first + " " + trimmed_number(t, 2) + " s");
    x += w;
  }
  return s + "</svg>\n";
}

}  // namespace neurolens::runner
