#include "runner/report/report_html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace neurolens::runner {
namespace {

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section id=\"" + id + "\"><h2>" + html_escape(title) + "</h2>\n" + body + "</section>\n";
}

std::string neuron_name(const SiteResults& s, int64_t flat) {
  return s.name + " L" + std::to_string(s.layer_of(flat)) + " #" +
         std::to_string(s.neuron_of(flat));
}

// A token for display in a table: visible spaces and newlines.
std::string token_html(const std::string& token) {
  std::string shown;
  for (char c : token) {
    if (c == '\n') {
      shown += "\xe2\x86\xb5";  // ↵
    } else if (c == ' ') {
      shown += "\xe2\x90\xa3";  // ␣
    } else {
      shown += c;
    }
  }
  return "<code class=\"tok\">" + html_escape(shown) + "</code>";
}

// ---- page sections --------------------------------------------------------------------------

std::string summary_section(const Results& r) {
  const RunInfo& run = r.run;
  std::ostringstream b;
  b << "<table class=\"kv\">";
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty())
      b << "<tr><th>" << html_escape(k) << "</th><td>" << html_escape(v) << "</td></tr>";
  };
  auto count = [](int64_t v) { return v < 0 ? std::string() : std::to_string(v); };
  row("file", r.path.string());
  row("study", run.study);
  row("test", run.test == "none" ? "" : run.test);
  row("model", run.model + (run.model_type.empty() ? "" : " (" + run.model_type + ")"));
  row("job file", run.job_file);
  row("ranks", count(run.n_ranks));
  row("tokens through the model", count(run.tokens_processed));
  row("corpus tokens read", count(run.corpus_tokens));
  row("windows", count(run.n_windows));
  row("samples", count(run.n_samples));
  std::string sites;
  for (const SiteResults& s : r.sites) {
    sites += (sites.empty() ? "" : "; ") + s.name + ": " + std::to_string(s.layers.size()) +
             " layers x " + std::to_string(s.width) + " neurons";
  }
  row("sites", sites);
  if (!run.correction.empty()) {
    row("correction", run.correction + ", alpha " + format_number(run.alpha) + ", p threshold " +
                          format_number(run.threshold) + ", family " + count(run.family_size));
  }
  if (!std::isnan(run.wall_time)) row("wall time", trimmed_number(run.wall_time, 2) + " s");
  if (!run.peak_rss_bytes.empty()) {
    std::string rss;
    for (double v : run.peak_rss_bytes)
      rss += (rss.empty() ? "" : ", ") + trimmed_number(v / 1e6, 0) + " MB";
    row("peak memory per rank", rss);
  }
  row("created", run.created.empty() ? "" : run.created + " by neurolens " + run.version);
  b << "</table>\n";
  // Timing as one stacked bar.
  const std::vector<std::pair<std::string, double>> phases = {{"load", run.time_load},
                                                              {"plan", run.time_plan},
                                                              {"forward", run.time_forward},
                                                              {"reduce", run.time_reduce},
                                                              {"write", run.time_write}};
  const std::string time_bar = phase_time_svg(phases);
  if (!time_bar.empty()) b << "<p>Time per phase (rank 0):</p>" << time_bar;
  if (!r.run.job.empty()) {
    b << "<details><summary>job (effective keys)</summary><pre>" << html_escape(r.run.job)
      << "</pre></details>\n";
  }
  return section("summary", "Run", b.str());
}

std::string volcano_section(const Results& r) {
  const std::string stat = r.statistic();
  const std::string effect = r.effect();
  if (stat.empty() || effect.empty()) return "";
  std::string body;
  const std::vector<NeuronRef> top = top_neurons(r, 400);
  for (size_t s = 0; s < r.sites.size(); ++s) {
    const SiteResults& site = r.sites[s];
    if (!site.has(effect) || !site.has("p")) continue;
    VolcanoData d;
    d.x_label = effect == "cohens_d" ? "effect size (Cohen's d)" : effect;
    d.x = site.columns.at(effect);
    d.p = site.columns.at("p");
    d.threshold = r.run.threshold;
    d.threshold_label = (r.run.correction == "bh" ? "BH" : "Bonferroni") +
                        std::string(" threshold p = ") + format_number(r.run.threshold);
    std::vector<bool> marked(d.x.size(), false);
    auto mark = [&](int64_t flat) {
      if (marked[static_cast<size_t>(flat)]) return;
      marked[static_cast<size_t>(flat)] = true;
      VolcanoMark m;
      m.index = static_cast<size_t>(flat);
      m.concept_name = r.planted_at({s, flat});
      m.planted = !m.concept_name.empty();
      m.label = neuron_name(site, flat) + ": " + stat + " = " +
                format_number(site.value(stat, flat)) + ", " + effect + " = " +
                format_number(site.value(effect, flat)) +
                ", p = " + format_number(site.value("p", flat)) +
                (m.planted ? " (planted: " + m.concept_name + ")" : "");
      d.marks.push_back(std::move(m));
    };
    for (const NeuronRef& n : top) {
      if (n.site == s) mark(n.flat);
    }
    for (const model::PlantedNeuron& p : r.planted) {
      if (p.site != site.name) continue;
      for (size_t i = 0; i < site.layers.size(); ++i) {
        if (site.layers[i] == p.layer && p.neuron < site.width) {
          mark(static_cast<int64_t>(i) * site.width + p.neuron);
        }
      }
    }
    body += "<h3>" + html_escape(site.name) + "</h3>\n" + volcano_svg(d);
  }
  body +=
      "<p class=\"note\">Each cell of the grey grid is shaded by how many neurons fall in it; "
      "the " +
      std::to_string(top.size()) +
      " neurons with the smallest p are drawn as points (red: significant; hover for layer, "
      "neuron and statistics); planted neurons of the demo model are ringed and named. "
      "p-values that underflow to 0 are drawn in the band above the axis.</p>\n";
  return section("volcano", "Volcano plot: " + effect + " against -log10 p", body);
}

std::string significant_section(const Results& r) {
  std::string body;
  for (const SiteResults& s : r.sites) {
    if (!s.has("significant")) continue;
    const auto& sig = s.columns.at("significant");
    std::vector<std::string> labels;
    std::vector<double> counts;
    double total = 0;
    for (size_t i = 0; i < s.layers.size(); ++i) {
      double n = 0;
      for (int64_t j = 0; j < s.width; ++j)
        n += sig[i * static_cast<size_t>(s.width) + static_cast<size_t>(j)] != 0;
      labels.push_back(std::to_string(s.layers[i]));
      counts.push_back(n);
      total += n;
    }
    body += "<h3>" + html_escape(s.name) + ": " + format_number(total) + " of " +
            std::to_string(s.neurons()) + " neurons significant</h3>\n" +
            bar_chart_svg(labels, counts, "significant neurons");
  }
  if (body.empty()) return "";
  return section("significant-per-layer", "Significant neurons per layer", body);
}

std::string distribution_section(const Results& r) {
  const std::string stat = r.statistic();
  if (stat.empty()) return "";
  std::string body;
  for (const SiteResults& s : r.sites) {
    if (!s.has(stat)) continue;
    const auto& v = s.columns.at(stat);
    std::vector<std::string> labels;
    std::vector<BoxStats> boxes;
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const auto begin = v.begin() + static_cast<long>(i * static_cast<size_t>(s.width));
      boxes.push_back(box_stats(std::vector<double>(begin, begin + s.width)));
      labels.push_back(std::to_string(s.layers[i]));
    }
    body += "<h3>" + html_escape(s.name) + "</h3>\n" + box_plot_svg(labels, boxes, stat);
  }
  if (body.empty()) return "";
  body +=
      "<p class=\"note\">Per layer: box from the first to the third quartile, line at the "
      "median, whiskers at the 1st and 99th percentiles, dots at the minimum and maximum.</p>\n";
  return section("distribution", "Distribution of " + stat + " per layer", body);
}

std::string top_section(const Results& r) {
  const std::vector<NeuronRef> top = top_neurons(r, 25);
  if (top.empty()) return "";
  const std::string stat = r.statistic();
  std::ostringstream b;
  if (stat.empty()) return "";  // sampling: its own tables
  std::vector<std::string> extra;
  for (const char* c : {"mean_a", "mean_b", "mean_diff", "cohens_d", "df", "auc_batch1"}) {
    for (const NeuronRef& n : top) {
      if (r.sites[n.site].has(c)) {
        extra.push_back(c);
        break;
      }
    }
  }
  b << "<table class=\"data\"><tr><th>#</th><th>site</th><th>layer</th><th>neuron</th><th>"
    << html_escape(stat) << "</th><th>p</th><th>p adjusted</th>";
  for (const auto& c : extra) b << "<th>" << html_escape(c) << "</th>";
  b << "<th>significant</th><th>planted</th></tr>\n";
  for (size_t i = 0; i < top.size(); ++i) {
    const SiteResults& s = r.sites[top[i].site];
    const int64_t k = top[i].flat;
    const std::string planted = r.planted_at(top[i]);
    b << "<tr" << (planted.empty() ? "" : " class=\"planted\"") << "><td>" << i + 1 << "</td><td>"
      << html_escape(s.name) << "</td><td>" << s.layer_of(k) << "</td><td>" << s.neuron_of(k)
      << "</td><td>" << format_number(s.value(stat, k)) << "</td><td>"
      << format_number(s.value("p", k)) << "</td><td>" << format_number(s.value("p_adjusted", k))
      << "</td>";
    for (const auto& c : extra) b << "<td>" << format_number(s.value(c, k)) << "</td>";
    b << "<td>" << (s.value("significant", k) == 1 ? "yes" : "no") << "</td><td>"
      << (planted.empty() ? "" : "planted: " + html_escape(planted)) << "</td></tr>\n";
  }
  b << "</table>\n";
  return section("top-neurons", "Top neurons (by p, then |" + stat + "|)", b.str());
}

// A best text's token on the text's one line: newlines as a visible return mark.
std::string one_line(const std::string& token) {
  std::string out;
  for (char c : token) out += c == '\n' ? std::string("\xe2\x86\xb5") : std::string(1, c);  // ↵
  return out;
}

// Examples study: the top neurons by max activation, each with its best texts (the top windows
// around their max, tokens coloured by activation, the max token outlined).
std::string examples_section(const Results& r) {
  const std::vector<ExampleNeuron> top = top_example_neurons(r, 25, 3);
  if (top.empty()) return "";
  std::ostringstream b;
  b << "<table class=\"data\"><tr><th>#</th><th>site</th><th>layer</th><th>neuron</th>"
    << "<th>max</th><th>mean</th><th>fraction &gt; 0</th><th>best texts</th></tr>\n";
  for (size_t i = 0; i < top.size(); ++i) {
    const SiteResults& s = r.sites[top[i].ref.site];
    const int64_t k = top[i].ref.flat;
    const std::string planted = r.planted_at(top[i].ref);
    b << "<tr" << (planted.empty() ? "" : " class=\"planted\"") << "><td>" << i + 1 << "</td><td>"
      << html_escape(s.name) << "</td><td>" << s.layer_of(k) << "</td><td>" << s.neuron_of(k)
      << (planted.empty() ? "" : " (planted: " + html_escape(planted) + ")") << "</td><td>"
      << format_number(s.value("max_activation", k)) << "</td><td>"
      << format_number(s.value("mean", k)) << "</td><td>"
      << format_number(s.value("frac_positive", k)) << "</td><td>";
    for (const ExampleText& t : top[i].texts) {
      double scale = 0;
      for (float v : t.activations) {
        if (std::isfinite(v)) scale = std::max(scale, std::fabs(static_cast<double>(v)));
      }
      b << "<div class=\"ex\">";
      for (size_t j = 0; j < t.tokens.size(); ++j) {
        const double v = j < t.activations.size() ? t.activations[j] : NAN;
        const double rel = scale > 0 && std::isfinite(v) ? v / scale : 0;
        b << "<span" << (j == t.marked ? " class=\"mx\"" : "")
          << " style=\"background:" << diverging_color(rel) << "\" title=\"" << format_number(v)
          << "\">" << html_escape(one_line(t.tokens[j])) << "</span>";
      }
      b << " <span class=\"val\">" << format_number(t.value) << " (document " << t.document
        << ", token " << t.token << ")</span></div>";
    }
    b << "</td></tr>\n";
  }
  b << "</table>\n<p class=\"note\">Best texts: each neuron's top windows (up to 3), 8 tokens "
       "either side of the max (outlined), coloured by the neuron's activation; a character "
       "split over tokens shows at the token with its last byte; \xe2\x86\xb5 is a line "
       "break.</p>\n";
  return section("examples", "Top neurons (by max activation) and their best texts", b.str());
}

std::string planted_section(const Results& r) {
  if (r.planted.empty() && r.planted_warning.empty()) return "";
  std::ostringstream b;
  if (!r.planted_warning.empty())
    b << "<p class=\"warn\">" << html_escape(r.planted_warning) << "</p>";
  if (!r.planted.empty()) {
    const std::vector<NeuronRef> order = top_neurons(r, std::numeric_limits<size_t>::max());
    b << "<p>The model directory has planted.json: neurons with a known concept.</p>"
      << "<table class=\"data\"><tr><th>concept</th><th>site</th><th>layer</th><th>neuron</th>"
      << "<th>rank in this file</th><th>description</th></tr>\n";
    for (const model::PlantedNeuron& p : r.planted) {
      std::string rank = "not analysed in this file";
      for (size_t i = 0; i < order.size(); ++i) {
        const SiteResults& s = r.sites[order[i].site];
        if (s.name == p.site && s.layer_of(order[i].flat) == p.layer &&
            s.neuron_of(order[i].flat) == p.neuron) {
          rank = std::to_string(i + 1) + " of " + std::to_string(order.size());
          break;
        }
      }
      b << "<tr><td>" << html_escape(p.concept_name) << "</td><td>" << html_escape(p.site)
        << "</td><td>" << p.layer << "</td><td>" << p.neuron << "</td><td>" << rank << "</td><td>"
        << html_escape(p.description) << "</td></tr>\n";
    }
    b << "</table>\n";
  }
  return section("planted", "Planted neurons", b.str());
}

std::string attributes_table(const AttributeList& attrs) {
  std::string s = "<table class=\"kv\">";
  for (const auto& [k, v] : attrs) {
    s += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>";
  }
  return s + "</table>\n";
}

std::string study_section(const Results& r) {
  std::ostringstream b;
  static const StudyData none;
  const auto data_of = [&](const std::string& name) -> const StudyData& {
    const auto it = r.study_data.find(name);
    return it == r.study_data.end() ? none : it->second;
  };
  // contrast: /contrast/word, label, count.
  const std::vector<std::string>& words = data_of("contrast").strings_of("word");
  const std::vector<double>& label = data_of("contrast").numbers_of("label");
  const std::vector<double>& count = data_of("contrast").numbers_of("count");
  if (!words.empty()) {
    b << "<table class=\"data\"><tr><th>word</th><th>group</th><th>targets found</th></tr>\n";
    for (size_t i = 0; i < words.size(); ++i) {
      b << "<tr><td>" << token_html(words[i]) << "</td><td>"
        << (i < label.size() ? (label[i] == 0 ? "a" : "b") : "") << "</td><td>"
        << (i < count.size() ? std::to_string(static_cast<int64_t>(count[i])) : "")
        << "</td></tr>\n";
    }
    b << "</table>\n";
  }
  // paired: /paired/noun, /paired/verb.
  const std::vector<std::string>& pair_a = data_of("paired").strings_of("noun");
  const std::vector<std::string>& pair_b = data_of("paired").strings_of("verb");
  if (!pair_a.empty()) {
    b << "<p>" << pair_a.size() << " pairs (group a - group b): ";
    for (size_t i = 0; i < pair_a.size() && i < 200; ++i) {
      b << (i ? ", " : "") << html_escape(pair_a[i]) << ":"
        << (i < pair_b.size() ? html_escape(pair_b[i]) : "");
    }
    b << "</p>\n";
  }
  for (const auto& [group, attrs] : r.study_attributes) {
    if (group == "out_of_sample") continue;
    b << "<h3>/" << html_escape(group) << "</h3>" << attributes_table(attrs);
  }
  const std::string body = b.str();
  if (body.empty()) return "";
  return section("study", "Study parameters (" + r.run.study + ")", body);
}

std::string length_section(const Results& r) {
  std::string body;
  for (const SiteResults& s : r.sites) {
    if (s.histogram.empty() || s.histogram_bins <= 0) continue;
    const auto G = static_cast<size_t>(s.histogram_groups),
               B = static_cast<size_t>(s.histogram_bins);
    body += "<h3>" + html_escape(s.name) + "</h3><div class=\"grid\">";
    for (size_t i = 0; i < s.layers.size(); ++i) {
      std::vector<double> edges;
      if (s.histogram_edges.size() >= (i + 1) * (B + 1)) {
        edges.assign(s.histogram_edges.begin() + static_cast<long>(i * (B + 1)),
                     s.histogram_edges.begin() + static_cast<long>((i + 1) * (B + 1)));
      } else {
        for (size_t e = 0; e <= B; ++e) edges.push_back(static_cast<double>(e));
      }
      std::vector<Series> series;
      for (size_t g = 0; g < G; ++g) {
        Series ser;
        ser.name = g < s.histogram_group_names.size() ? s.histogram_group_names[g]
                                                      : "group " + std::to_string(g);
        const size_t base = (i * G + g) * B;
        for (size_t k = 0; k < B; ++k)
          ser.values.push_back(static_cast<double>(s.histogram[base + k]));
        series.push_back(std::move(ser));
      }
      body += histogram_svg(edges, series, "layer " + std::to_string(s.layers[i]), 360, 200);
    }
    body += "</div>\n";
  }
  if (body.empty()) return "";
  body =
      "<p class=\"note\">Activations of all neurons of a layer, by token-length group, each "
      "group normalized to fractions of its values.</p>\n" +
      body;
  return section("length-histograms", "Activation histograms by group", body);
}

std::string sampling_sections(const Results& r) {
  if (!r.statistic().empty()) return "";
  bool any = false;
  for (const SiteResults& s : r.sites) any = any || (s.top_k > 0 && !s.top_count.empty());
  if (!any) return "";
  const std::vector<NeuronRef> top = top_neurons(r, 30);
  std::ostringstream b;
  b << "<table class=\"data\"><tr><th>#</th><th>site</th><th>layer</th><th>neuron</th>"
       "<th>wins of winner</th><th>distinct winners</th><th>top tokens "
       "(wins)</th><th>planted</th></tr>\n";
  for (size_t i = 0; i < top.size(); ++i) {
    const SiteResults& s = r.sites[top[i].site];
    const auto k = static_cast<size_t>(top[i].flat);
    const auto depth = static_cast<size_t>(s.top_k);
    const double reps = s.attributes.count("repetitions") ? s.attributes.at("repetitions") : 0;
    const std::string planted = r.planted_at(top[i]);
    b << "<tr" << (planted.empty() ? "" : " class=\"planted\"") << "><td>" << i + 1 << "</td><td>"
      << html_escape(s.name) << "</td><td>" << s.layer_of(top[i].flat) << "</td><td>"
      << s.neuron_of(top[i].flat) << "</td><td>" << s.top_count[k * depth]
      << (reps > 0 ? " / " + format_number(reps) : "") << "</td><td>"
      << format_number(s.value("distinct_tokens", top[i].flat)) << "</td><td>";
    for (size_t j = 0; j < std::min<size_t>(depth, 6); ++j) {
      const int64_t c = s.top_count[k * depth + j];
      if (c <= 0) break;
      const double share = reps > 0 ? static_cast<double>(c) / reps : 0;
      b << "<span class=\"bar\" style=\"--w:" << trimmed_number(share * 100, 0) << "%\">"
        << token_html(r.token_text(s.top_token[k * depth + j])) << " " << c << "</span> ";
    }
    b << "</td><td>" << (planted.empty() ? "" : "planted: " + html_escape(planted))
      << "</td></tr>\n";
  }
  b << "</table>\n";
  std::string out =
      section("sampling-top-tokens",
              "Most activating tokens (neurons whose winner wins most often)", b.str());
  std::ostringstream c;
  for (size_t i = 0; i < top.size() && i < 10; ++i) {
    const SiteResults& s = r.sites[top[i].site];
    if (s.n_contexts <= 0 || s.context_text.empty()) continue;
    const auto k = static_cast<size_t>(top[i].flat);
    const auto depth = static_cast<size_t>(s.n_contexts);
    c << "<h3>" << html_escape(neuron_name(s, top[i].flat)) << "</h3><ol class=\"ctx\">";
    for (size_t j = 0; j < depth; ++j) {
      const size_t at = k * depth + j;
      if (at >= s.context_text.size() || s.context_text[at].empty()) continue;
      const std::string& t = s.context_text[at];
      const size_t open = t.find("[["), close = t.rfind("]]");
      c << "<li><span class=\"val\">"
        << (at < s.context_value.size() ? format_number(s.context_value[at]) : "") << "</span> ";
      if (open != std::string::npos && close != std::string::npos && close > open) {
        c << html_escape(t.substr(0, open)) << "<mark>"
          << html_escape(t.substr(open + 2, close - open - 2)) << "</mark>"
          << html_escape(t.substr(close + 2));
      } else {
        c << html_escape(t);
      }
      c << "</li>";
    }
    c << "</ol>\n";
  }
  if (!c.str().empty()) out += section("sampling-contexts", "Top contexts", c.str());
  return out;
}

std::string heatmap_section(const Results& r) {
  if (!r.heatmap || r.heatmap->rows.empty()) return "";
  const Heatmap& h = *r.heatmap;
  const size_t n = h.tokens.size();
  std::ostringstream b;
  b << "<p>Text: " << html_escape(h.source) << " (" << n << " tokens). Colour: activation / "
    << "max |activation| of the neuron on this text (blue negative, red positive); hover a "
       "token for its value.</p>\n";
  for (size_t i = 0; i < h.rows.size(); ++i) {
    const HeatmapRow& row = h.rows[i];
    const std::vector<float> values(h.activation.begin() + static_cast<long>(i * n),
                                    h.activation.begin() + static_cast<long>((i + 1) * n));
    b << "<h3>" << html_escape(row.role) << ": " << html_escape(row.site) << " layer " << row.layer
      << " neuron " << row.neuron << " (" << format_number(row.statistic) << ")</h3>\n"
      << text_heatmap_html(h.tokens, values, h.sequence, 3000);
  }
  return section("heatmap", "Text heatmaps", b.str());
}

std::string out_of_sample_section(const Results& r) {
  if (!r.out_of_sample) return "";
  const OutOfSample& o = *r.out_of_sample;
  std::ostringstream b;
  b << "<p>Neurons chosen on batch 1, measured on the held-out batch 2.</p>";
  b << "<table class=\"data\"><tr><th>site</th><th>layer</th><th>neuron</th>";
  for (const auto& [name, _] : o.columns) b << "<th>" << html_escape(name) << "</th>";
  b << "</tr>\n";
  for (size_t i = 0; i < o.layer.size(); ++i) {
    b << "<tr><td>" << (i < o.site.size() ? html_escape(o.site[i]) : "") << "</td><td>"
      << o.layer[i] << "</td><td>" << o.neuron[i] << "</td>";
    for (const auto& [_, v] : o.columns) b << "<td>" << format_number(v[i]) << "</td>";
    b << "</tr>\n";
  }
  b << "</table>\n";
  const size_t N = o.label.size();
  if (N > 0 && o.activation.size() == o.layer.size() * N) {
    b << "<div class=\"grid\">";
    for (size_t i = 0; i < o.layer.size() && i < 6; ++i) {
      double lo = INFINITY, hi = -INFINITY;
      for (size_t k = 0; k < N; ++k) {
        const double v = o.activation[i * N + k];
        if (std::isfinite(v)) {
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
      }
      if (!(hi > lo)) continue;
      const size_t bins = 30;
      std::vector<double> edges;
      for (size_t e = 0; e <= bins; ++e)
        edges.push_back(lo + (hi - lo) * static_cast<double>(e) / bins);
      std::vector<Series> series = {{"label 0 (a)", std::vector<double>(bins)},
                                    {"label 1 (b)", std::vector<double>(bins)}};
      for (size_t k = 0; k < N; ++k) {
        const double v = o.activation[i * N + k];
        if (!std::isfinite(v)) continue;
        const auto bin = std::min(bins - 1, static_cast<size_t>((v - lo) / (hi - lo) * bins));
        series[o.label[k] == 0 ? 0 : 1].values[bin] += 1;
      }
      b << histogram_svg(
          edges, series,
          "L" + std::to_string(o.layer[i]) + " #" + std::to_string(o.neuron[i]) + " on batch 2",
          360, 200);
    }
    b << "</div>\n";
  }
  return section("out-of-sample", "Out of sample", b.str());
}

const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:12px 20px;color:#222;background:#fff}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:28px}h3{font-size:15px;margin:14px 0 4px}
nav a{margin-right:12px}table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
table.data td{font-variant-numeric:tabular-nums}table.kv th{color:#555;font-weight:normal}tr.planted{background:#fff4cc}
.note{color:#555;font-size:13px}.warn{color:#a00}.ax{font-size:11px;fill:#444}.lbl{font-size:12px;fill:#222}
.axis{stroke:#444;stroke-width:1}.grid{stroke:#eee;stroke-width:1}.thr{stroke:#d62728;stroke-dasharray:6 4;stroke-width:1.5}
div.grid{display:flex;flex-wrap:wrap;gap:8px}code.tok{background:#f3f3f3;padding:0 3px;border-radius:3px}
.bar{display:inline-block;margin:1px 0;padding:0 4px;background:linear-gradient(90deg,#cfe2f3 var(--w),transparent var(--w))}
.hm{font:13px/1.9 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word;border:1px solid #ddd;padding:6px;max-height:420px;overflow:auto}
.hm span{border-radius:2px}.ctx li{margin:3px 0;white-space:pre-wrap}.ctx .val{color:#777;font-size:12px}mark{background:#ffd24d}
pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:300px}
.ex{font:13px/1.8 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word;margin:2px 0}
.ex .mx{outline:2px solid #222}.ex .val{color:#777;font:12px system-ui,sans-serif}
)css";

}  // namespace

// ---- text heatmaps and the page ---------------------------------------------------------------

std::string diverging_color(double v) {
  if (std::isnan(v)) v = 0;
  v = std::clamp(v, -1.0, 1.0);
  // White to red (#d62728) for positive, white to blue (#1f77b4) for negative.
  const double r0 = v >= 0 ? 214 : 31, g0 = v >= 0 ? 39 : 119, b0 = v >= 0 ? 40 : 180;
  const double t = std::fabs(v);
  auto mix = [&](double c) { return static_cast<int>(std::lround(255 + (c - 255) * t)); };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", mix(r0), mix(g0), mix(b0));
  return buf;
}

std::string text_heatmap_html(const std::vector<std::string>& tokens,
                              const std::vector<float>& values,
                              const std::vector<int64_t>& sequence, size_t max_tokens) {
  const size_t n = std::min({tokens.size(), values.size(), max_tokens});
  double scale = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(values[i]))
      scale = std::max(scale, std::fabs(static_cast<double>(values[i])));
  }
  std::string s = "<div class=\"hm\">";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && i < sequence.size() && sequence[i] != sequence[i - 1]) s += "\n<hr>";
    const double v = values[i];
    const double rel = scale > 0 && std::isfinite(v) ? v / scale : 0;
    s += "<span style=\"background:" + diverging_color(rel) + "\" title=\"" + format_number(v) +
         "\">" + html_escape(tokens[i]) + "</span>";
  }
  if (n < tokens.size()) s += " <em>(" + std::to_string(tokens.size() - n) + " more tokens)</em>";
  return s + "</div>\n";
}

std::string render_report(const Results& r) {
  std::vector<std::pair<std::string, std::string>> parts = {
      {"Run", summary_section(r)},
      {"Volcano", volcano_section(r)},
      {"Significant per layer", significant_section(r)},
      {"Distributions", distribution_section(r)},
      {"Top neurons", top_section(r)},
      {"Examples", examples_section(r)},
      {"Planted", planted_section(r)},
      {"Histograms", length_section(r)},
      {"Sampling", sampling_sections(r)},
      {"Heatmaps", heatmap_section(r)},
      {"Out of sample", out_of_sample_section(r)},
      {"Study", study_section(r)},
  };
  std::string nav = "<nav>";
  std::string body;
  for (const auto& [title, html] : parts) {
    if (html.empty()) continue;
    const size_t at = html.find("id=\"") + 4;
    nav += "<a href=\"#" + html.substr(at, html.find('"', at) - at) + "\">" + html_escape(title) +
           "</a>";
    body += html;
  }
  nav += "</nav>\n";
  const std::string title = "neurolens " + r.run.study + " report: " + r.path.filename().string();
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
         html_escape(title) + "</title>\n<style>" + kStyle + "</style></head>\n<body>\n<h1>" +
         html_escape(title) + "</h1>\n" + nav + body +
         "<footer class=\"note\">Written by neurolens " + html_escape(r.run.version) + " from " +
         html_escape(r.path.string()) + ".</footer>\n</body></html>\n";
}

}  // namespace neurolens::runner
