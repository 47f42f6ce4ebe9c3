#include "runner/report/site_page.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "runner/report/report_html.hpp"  // diverging_color, html_escape

namespace neurolens::runner {
namespace {

// The half-float bit pattern of v when v is exactly a half (activations are stored as f16).
bool half_bits(float v, uint16_t& bits) {
  const auto x = std::bit_cast<uint32_t>(v);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const int exponent = static_cast<int>((x >> 23) & 0xffu);
  const uint32_t mantissa = x & 0x7fffffu;
  if (exponent == 0xff) return false;  // inf / NaN: formatted directly
  if (exponent == 0 && mantissa == 0) {
    bits = sign;
    return true;
  }
  if (exponent == 0) return false;  // float subnormals are far below the half range
  const int e = exponent - 127;
  if (e > 15 || e < -24) return false;
  if (e >= -14) {
    if (mantissa & 0x1fffu) return false;
    bits = static_cast<uint16_t>(sign | ((e + 15) << 10) | (mantissa >> 13));
    return true;
  }
  const uint32_t full = mantissa | 0x800000u;
  const int shift = -14 - e + 13;
  if (full & ((1u << shift) - 1)) return false;
  bits = static_cast<uint16_t>(sign | (full >> shift));
  return true;
}

// SVG coordinates: one decimal.
void coord(PageText& out, double v) {
  const double r = std::round(v * 10) / 10;
  out.number(r == 0 ? 0.0 : r, 6);
}

constexpr const char* kLevelClass[] = {"",   "p1", "p2", "p3",  "p4", "p5", "p6",
                                       "p7", "p8", "p9", "p10", "n1", "n2", "n3",
                                       "n4", "n5", "n6", "n7",  "n8", "n9", "n10"};

void kv_row(PageText& out, std::string_view key, double value, int digits = 4) {
  out << "<tr><th>" << key << "</th><td>";
  out.number(value, digits);
  out << "</td></tr>";
}

}  // namespace

TokenPainter::TokenPainter(const ExamplesFile& file) : file_(file) {
  const int64_t vocab = file.vocab_size();
  html_.resize(static_cast<size_t>(std::max<int64_t>(vocab, 0)));
  whole_.assign(html_.size(), 0);
  for (int64_t id = 0; id < vocab; ++id) {
    const int32_t one[1] = {static_cast<int32_t>(id)};
    const std::vector<std::string> shown = file.display_tokens(one);
    const std::string_view bytes = file.token_bytes(one[0]);
    if (!shown.empty() && shown[0] == bytes) {
      whole_[static_cast<size_t>(id)] = 1;
      html_[static_cast<size_t>(id)] = visible_token_html(shown[0]);
    }
  }
  half_.resize(65536);
  half_ready_.assign(65536, 0);
}

std::string TokenPainter::vocab_js() const {
  PageText out;
  out << "// neurolens site: the display text of every vocabulary id (null: not whole UTF-8 "
         "alone)\n"
         "window.NL_VOCAB = [";
  for (size_t id = 0; id < whole_.size(); ++id) {
    out << (id ? "," : "") << (id % 16 == 0 ? "\n" : "");
    if (whole_[id]) {
      out << json_string(file_.token_bytes(static_cast<int32_t>(id)));
    } else {
      out << "null";
    }
  }
  out << "];\n";
  return std::move(out.text);
}

void TokenPainter::value_text(PageText& out, float v) {
  uint16_t bits = 0;
  if (!half_bits(v, bits)) {
    out.number(v, 3);
    return;
  }
  if (!half_ready_[bits]) {
    half_[bits] = short_number(v, 3);
    half_ready_[bits] = 1;
  }
  out << half_[bits];
}

bool TokenPainter::whole(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < whole_.size() && whole_[static_cast<size_t>(id)];
}

// A token that is whole UTF-8 alone starts and ends on character boundaries, so a run of other
// tokens between two whole ones shows the same through display_tokens alone as in the window.
void TokenPainter::display_runs(std::span<const int32_t> tokens) {
  display_.assign(tokens.size(), std::string());
  size_t i = 0;
  while (i < tokens.size()) {
    if (whole(tokens[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < tokens.size() && !whole(tokens[j])) ++j;
    std::vector<std::string> run = file_.display_tokens(tokens.subspan(i, j - i));
    for (size_t k = 0; k < run.size(); ++k) display_[i + k] = std::move(run[k]);
    i = j;
  }
}

std::string TokenPainter::token_at(std::span<const int32_t> tokens, size_t position) {
  if (position >= tokens.size()) return "";
  if (whole(tokens[position])) return std::string(file_.token_bytes(tokens[position]));
  display_runs(tokens);
  for (size_t j = position; j < display_.size(); ++j) {
    if (!display_[j].empty()) return display_[j];
  }
  return "";
}

std::string TokenPainter::token_html(int32_t id) const {
  if (id >= 0 && static_cast<size_t>(id) < whole_.size() && whole_[static_cast<size_t>(id)]) {
    return html_[static_cast<size_t>(id)];
  }
  const int32_t one[1] = {id};
  const std::vector<std::string> shown = file_.display_tokens(one);
  return shown.empty() ? std::string() : visible_token_html(shown[0]);
}

void TokenPainter::paint(PageText& out, PageText& hidden, const ExampleWindow& window,
                         double pos_scale, double neg_scale, WindowView view, int64_t id) {
  const std::vector<int32_t>& tokens = window.tokens;
  const size_t n = tokens.size();
  const auto is_whole = [&](int32_t t) { return whole(t); };
  bool all_whole = true;
  for (int32_t t : tokens) {
    if (!is_whole(t)) {
      all_whole = false;
      break;
    }
  }
  if (n == 0) {
    out << "<div class=w></div>";
    hidden << (id == 0 ? "\n0" : ",\n0");
    return;
  }
  if (!all_whole) display_runs(tokens);
  const size_t position =
      std::min(static_cast<size_t>(std::max<int32_t>(window.position, 0)), n - 1);
  const size_t lo = position > static_cast<size_t>(view.before) ? position - view.before : 0;
  const size_t hi = std::min(n, position + static_cast<size_t>(view.after) + 1);
  const double pos_inv = pos_scale > 0 ? 10.0 / pos_scale : 0;
  const double neg_inv = neg_scale > 0 ? 10.0 / neg_scale : 0;

  const auto token = [&](size_t i) {
    const float a = i < window.activations.size() ? window.activations[i] : NAN;
    const bool mark = i == position;
    if (std::isnan(a)) {
      out << (mark ? "<i class=\"s m\" title=special>" : "<i class=s title=special>");
    } else {
      int level = 0;
      if (a > 0) {
        level = std::min(10, static_cast<int>(a * pos_inv + 0.5));
      } else if (a < 0) {
        const int l = std::min(10, static_cast<int>(-a * neg_inv + 0.5));
        level = l == 0 ? 0 : 10 + l;
      }
      if (level != 0 && mark) {
        out << "<i class=\"" << kLevelClass[level] << " m\" title=";
      } else if (level != 0) {
        out << "<i class=" << kLevelClass[level] << " title=";
      } else {
        out << (mark ? "<i class=m title=" : "<i title=");
      }
      value_text(out, a);
      out << '>';
    }
    if (is_whole(tokens[i])) {
      out << html_[static_cast<size_t>(tokens[i])];
    } else if (i < display_.size()) {
      out << visible_token_html(display_[i]);
    }
    out << "</i>";
  };
  // The hidden tokens for the script: a vocabulary id, or the display text where a character
  // is split over tokens; values with 3 digits, null at special tokens.
  const auto data = [&](size_t from, size_t to) {
    hidden << '[';
    for (size_t i = from; i < to; ++i) {
      if (i > from) hidden << ',';
      if (is_whole(tokens[i])) {
        hidden << static_cast<int64_t>(tokens[i]);
      } else {
        hidden << json_string(i < display_.size() ? display_[i] : std::string());
      }
    }
    hidden << "],[";
    for (size_t i = from; i < to; ++i) {
      if (i > from) hidden << ',';
      const float a = i < window.activations.size() ? window.activations[i] : NAN;
      if (std::isnan(a)) {
        hidden << "null";
      } else if (std::isinf(a)) {
        hidden << (a > 0 ? "1e999" : "-1e999");  // JavaScript's +-Infinity
      } else {
        value_text(hidden, a);
      }
    }
    hidden << ']';
  };

  out << "<div class=w>";
  if (lo > 0 || hi < n) {
    out << "<input type=checkbox id=w" << id << "><label for=w" << id
        << " title=\"show the whole window\"></label>";
    hidden << (id == 0 ? "\n" : ",\n") << '[';
    data(0, lo);
    hidden << ',';
    data(hi, n);
    hidden << ']';
  } else {
    hidden << (id == 0 ? "\n0" : ",\n0");
  }
  if (lo > 0) out << "<span class=e>\xe2\x80\xa6</span><span class=\"x b\"></span>";
  for (size_t i = lo; i < hi; ++i) token(i);
  if (hi < n) out << "<span class=\"x a\"></span><span class=e>\xe2\x80\xa6</span>";
  out << "</div>";
}

void histogram_svg(PageText& out, const std::vector<float>& edges,
                   const std::vector<int64_t>& counts) {
  const size_t bins = edges.size() < 2 ? 0 : edges.size() - 1;
  if (bins == 0 || counts.size() != bins + 2 || !std::isfinite(edges.front()) ||
      !std::isfinite(edges.back()) || !(edges.back() > edges.front())) {
    out << "<p class=note>no histogram in the file</p>";
    return;
  }
  constexpr double x0 = 44, x1 = 436, y0 = 12, y1 = 122;
  int64_t top = 0;
  for (size_t i = 1; i <= bins; ++i) top = std::max(top, counts[i]);
  const double lo = edges.front(), hi = edges.back();
  const double bw = (x1 - x0) / static_cast<double>(bins);
  out << "<svg class=hist width=\"448\" height=\"164\" "
         "viewBox=\"0 0 448 164\" role=\"img\" aria-label=\"histogram of activations\">";
  for (size_t i = 0; i < bins; ++i) {
    const int64_t c = counts[i + 1];
    if (c == 0 || top == 0) continue;
    const double h = std::max(
        0.5, (y1 - y0) * std::log1p(static_cast<double>(c)) / std::log1p(static_cast<double>(top)));
    out << "<rect x=\"";
    coord(out, x0 + static_cast<double>(i) * bw);
    out << "\" y=\"";
    coord(out, y1 - h);
    out << "\" width=\"";
    coord(out, std::max(0.5, bw - 0.4));
    out << "\" height=\"";
    coord(out, h);
    out << "\"><title>[";
    out.number(edges[i], 4) << ", ";
    out.number(edges[i + 1], 4) << (i + 1 == bins ? "]" : ")") << ": " << counts[i + 1]
                                << "</title></rect>";
  }
  out << "<line class=ax x1=\"" << int64_t{44} << "\" y1=\"122\" x2=\"436\" y2=\"122\"/>";
  if (lo < 0 && hi > 0) {
    const double xz = x0 + (0 - lo) / (hi - lo) * (x1 - x0);
    out << "<line class=zero x1=\"";
    coord(out, xz);
    out << "\" y1=\"12\" x2=\"";
    coord(out, xz);
    out << "\" y2=\"122\"/><text x=\"";
    coord(out, xz);
    out << "\" y=\"136\" text-anchor=\"middle\">0</text>";
  }
  out << "<text x=\"44\" y=\"136\">";
  out.number(lo, 3) << "</text><text x=\"436\" y=\"136\" text-anchor=\"end\">";
  out.number(hi, 3) << "</text><text x=\"40\" y=\"20\" text-anchor=\"end\">" << top
                    << "</text><text x=\"40\" y=\"122\" text-anchor=\"end\">0</text>"
                       "<text x=\"44\" y=\"156\">counts on a log scale \xc2\xb7 below range "
                    << counts.front() << " \xc2\xb7 above range " << counts.back()
                    << " \xc2\xb7 bins " << int64_t(bins) << "</text></svg>";
}

std::string activation_css() {
  PageText css;
  for (int l = 1; l <= 10; ++l) {
    const char* ink = l >= 8 ? ";color:#fff" : "";
    css << ".p" << int64_t{l} << "{background:" << diverging_color(l / 10.0) << ink << "}\n";
    css << ".n" << int64_t{l} << "{background:" << diverging_color(-l / 10.0) << ink << "}\n";
  }
  return std::move(css.text);
}

void render_neuron_page(PageText& out, TokenPainter& painter, const ExamplesInfo& info,
                        const ExamplesSite& site, const NeuronExamples& neuron,
                        const NeuronLinks& links, WindowView view) {
  const std::string site_name = html_escape(site.name);
  const std::string& root = links.root;
  // One scale for both signs: the neuron's largest |activation| (its max for most neurons), so
  // the small negative values of GELU neurons stay pale.
  double scale = 0;
  if (std::isfinite(neuron.max_activation)) scale = std::fabs(neuron.max_activation);
  if (std::isfinite(neuron.min_activation)) scale = std::max<double>(scale, -neuron.min_activation);
  const double pos_scale = scale, neg_scale = scale;
  int64_t ids = 0;
  PageText hidden;  // the collapsed tokens of every window, for assets/site.js
  hidden.text.reserve(out.text.capacity() / 2);

  out << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << site_name
      << " L" << neuron.layer << " #" << neuron.neuron
      << " \xc2\xb7 neurolens</title>\n<link rel=\"stylesheet\" href=\"" << root
      << "assets/site.css\"><script src=\"" << root
      << "assets/vocab.js\" defer></script><script src=\"" << root
      << "assets/site.js\" defer></script></head>\n"
      << "<body class=neuron data-root=\"" << root << "\" data-flat=\"" << links.flat << "\">\n"
      << "<nav><a id=index href=\"" << root << "index.html\">index</a> <a id=prev href=\""
      << links.previous << "\" rel=prev>\xe2\x86\x90 previous</a> <a id=next href=\"" << links.next
      << "\" rel=next>next \xe2\x86\x92</a> <a id=random href=\"" << root
      << "index.html\">random neuron</a> <span class=pos>neuron " << links.flat + 1 << " of "
      << links.total << "</span></nav>\n"
      << "<h1>" << site_name << " \xc2\xb7 layer " << neuron.layer << " \xc2\xb7 neuron "
      << neuron.neuron << "</h1>\n";

  // Summary and histogram.
  out << "<section id=summary><h2>Summary</h2><div class=cols><table class=kv>";
  kv_row(out, "max activation", neuron.max_activation);
  kv_row(out, "min activation", neuron.min_activation);
  kv_row(out, "mean", neuron.mean);
  kv_row(out, "variance", neuron.variance);
  kv_row(out, "skewness", neuron.skewness);
  kv_row(out, "kurtosis (excess)", neuron.kurtosis);
  kv_row(out, "frac_positive (density)", neuron.frac_positive);
  out << "<tr><th>measured tokens</th><td>" << info.n_tokens << "</td></tr><tr><th>windows of "
      << info.seq_len << "</th><td>" << info.n_windows << "</td></tr></table>";
  histogram_svg(out, neuron.hist_edges, neuron.hist_counts);
  out << "</div></section>\n";

  const auto windows = [&](const std::vector<ExampleWindow>& list) {
    out << "<ol class=wins>";
    for (const ExampleWindow& w : list) {
      out << "<li><b class=v title=\"window " << w.window << " \xc2\xb7 document " << w.document
          << " \xc2\xb7 tokens " << w.start << "\xe2\x80\x93"
          << w.start + static_cast<int64_t>(w.tokens.size()) - 1 << "\">";
      out.number(w.value, 4) << "</b>";
      painter.paint(out, hidden, w, pos_scale, neg_scale, view, ids++);
      out << "</li>";
    }
    out << "</ol>\n";
  };

  out << "<section id=top><h2>Top " << int64_t(neuron.top.size())
      << " windows <small>by the neuron's max in the window</small></h2>";
  if (neuron.top.empty()) out << "<p class=note>no windows</p>";
  windows(neuron.top);
  out << "</section>\n";
  if (!neuron.bottom.empty()) {
    out << "<section id=bottom><h2>Bottom " << int64_t(neuron.bottom.size())
        << " windows <small>by the neuron's min in the window</small></h2>";
    windows(neuron.bottom);
    out << "</section>\n";
  }

  static constexpr const char* kLevels[] = {"0", ".5", ".9", ".99", ".999"};
  const auto share = [&](int64_t count) {
    if (info.n_windows > 0) {
      out << " (";
      out.number(100.0 * static_cast<double>(count) / static_cast<double>(info.n_windows), 3);
      out << "%)";
    }
  };
  out << "<section id=quantiles><h2>Quantile examples <small>random windows per bucket of the "
         "window's max</small></h2>";
  for (size_t b = 0; b < 4; ++b) {
    out << "<h3 class=bucket>bucket " << int64_t(b) << ": max in [";
    out.number(neuron.quantile_boundaries[b], 4) << ", ";
    out.number(neuron.quantile_boundaries[b + 1], 4)
        << ") <small>levels " << kLevels[b] << "\xe2\x80\x93" << kLevels[b + 1] << " \xc2\xb7 "
        << neuron.quantile_count[b] << " windows";
    share(neuron.quantile_count[b]);
    out << "</small></h3>";
    if (neuron.quantiles[b].empty()) {
      out << "<p class=note>no windows in this bucket</p>";
    } else {
      windows(neuron.quantiles[b]);
    }
  }
  out << "<p class=note>top bucket (max \xe2\x89\xa5 ";
  out.number(neuron.quantile_boundaries[4], 4)
      << ", level .999): " << neuron.quantile_count[4] << " windows";
  share(neuron.quantile_count[4]);
  out << ", represented by the top windows.</p></section>\n";

  out << "<section id=random-sample><h2>Random sample <small>the same windows for every "
         "neuron</small></h2>";
  if (neuron.random.empty()) out << "<p class=note>no random sample in the file</p>";
  windows(neuron.random);
  out << "</section>\n";

  if (!neuron.logit_top.empty() || !neuron.logit_bottom.empty()) {
    const auto table = [&](const char* title, const std::vector<LogitEffect>& effects) {
      out << "<table class=logit><caption>" << title << "</caption>";
      for (const LogitEffect& e : effects) {
        out << "<tr><td><code class=tok>" << painter.token_html(e.token) << "</code></td><td>";
        out.number(e.value, 4) << "</td></tr>";
      }
      out << "</table>";
    };
    out << "<section id=logits><h2>Logit effects <small>W_U w_out, no final norm</small></h2>"
           "<div class=cols>";
    table("promoted (top)", neuron.logit_top);
    table("suppressed (bottom)", neuron.logit_bottom);
    out << "</div></section>\n";
  }
  out << "<footer>neurolens site \xc2\xb7 colours: activation / the neuron's largest "
         "|activation| (red positive, blue negative); outlined: the window's max token (bottom "
         "windows: min)</footer>\n<script>window.NL_PAGE = {\"max\": ";
  out.number(pos_scale, 9) << ", \"min\": ";
  out.number(neg_scale, 9) << ", \"windows\": [" << hidden.text << "]};</script>\n</body></html>\n";
}

}  // namespace neurolens::runner
