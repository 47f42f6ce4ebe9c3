// neurolens inspect RESULTS.h5 [--top N]
// A terminal summary of a results file: study, model, run facts, per site the significant
// neurons per layer, and the top neurons with their statistics (planted neurons of the demo
// model marked "planted: negation"; an examples result: by max activation, with the best text).
// Sections a study did not write are skipped.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "io/format.hpp"
#include "runner/cli/commands.hpp"
#include "runner/results/reader.hpp"

namespace neurolens::runner {
namespace {

const char* kUsage =
    "usage: neurolens inspect RESULTS.h5 [--top N]\n"
    "  prints the study, model, run facts, significant neurons per layer and the top N (10)\n"
    "  neurons of a results file written by 'neurolens run'\n";

// Printable, one-line token text: quoted, control characters escaped.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

// A table printed with columns padded to their widest cell (first column left-aligned).
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out, const std::string& indent) const {
    std::vector<size_t> width;
    std::vector<bool> text;  // columns with a non-numeric cell are left-aligned
    for (const auto& row : rows_) {
      text.resize(std::max(text.size(), row.size()), false);
      if (&row == &rows_.front()) continue;
      for (size_t c = 0; c < row.size(); ++c) {
        char* end = nullptr;
        std::strtod(row[c].c_str(), &end);
        if (!row[c].empty() && (end == row[c].c_str() || *end != '\0')) text[c] = true;
      }
    }
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()), 0);
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    for (const auto& row : rows_) {
      std::string line = indent;
      for (size_t c = 0; c < row.size(); ++c) {
        const std::string pad(width[c] - row[c].size(), ' ');
        const bool left = text[c];
        line += left ? row[c] + (c + 1 == row.size() ? "" : pad) : pad + row[c];
        if (c + 1 < row.size()) line += "  ";
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << '\n';
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

void print_run(std::ostream& out, const Results& r) {
  const RunInfo& run = r.run;
  out << "file     " << r.path.string() << '\n';
  out << "study    " << run.study;
  if (!run.test.empty() && run.test != "none") out << " (test " << run.test << ")";
  out << '\n';
  out << "model    " << run.model;
  if (!run.model_type.empty()) out << " (" << run.model_type << ")";
  out << '\n';
  std::ostringstream facts;
  if (run.n_ranks >= 0) facts << run.n_ranks << " rank(s), ";
  if (run.tokens_processed >= 0) facts << run.tokens_processed << " tokens, ";
  if (run.n_windows >= 0) facts << run.n_windows << " windows, ";
  if (run.n_samples >= 0) facts << run.n_samples << " samples, ";
  if (!std::isnan(run.wall_time)) facts << "wall " << fixed_number(run.wall_time, 2) << " s";
  out << "run      " << facts.str();
  if (!std::isnan(run.time_forward)) {
    out << " (load " << fixed_number(run.time_load, 2) << ", plan "
        << fixed_number(run.time_plan, 2) << ", forward " << fixed_number(run.time_forward, 2)
        << ", reduce " << fixed_number(run.time_reduce, 2) << ", write "
        << fixed_number(run.time_write, 2) << ")";
  }
  out << '\n';
  if (!run.created.empty())
    out << "created  " << run.created << " by neurolens " << run.version << '\n';
  if (!run.correction.empty()) {
    out << "tests    " << run.correction << ", alpha " << format_number(run.alpha)
        << ", p threshold " << format_number(run.threshold) << ", family of " << run.family_size
        << " neurons\n";
  }
}

void print_site(std::ostream& out, const Results& r, const SiteResults& s) {
  out << "\nsite " << s.name << ": " << s.layers.size() << " layer(s) x " << s.width << " = "
      << s.neurons() << " neurons";
  for (const char* key : {"n_a", "n_b", "n_equal"}) {
    auto it = s.attributes.find(key);
    if (it != s.attributes.end()) out << ", " << key << " " << format_number(it->second);
  }
  out << '\n';
  const std::string stat = r.statistic();
  if (!s.has("significant") || stat.empty() || !s.has(stat)) return;
  const auto& sig = s.columns.at("significant");
  const auto& v = s.columns.at(stat);
  Table t({"layer", "significant", "of", "max " + stat, "min " + stat});
  int64_t total = 0;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    int64_t n = 0;
    double hi = -INFINITY, lo = INFINITY;
    for (int64_t j = 0; j < s.width; ++j) {
      const size_t k = i * static_cast<size_t>(s.width) + static_cast<size_t>(j);
      n += sig[k] != 0;
      if (!std::isnan(v[k])) {
        hi = std::max(hi, v[k]);
        lo = std::min(lo, v[k]);
      }
    }
    total += n;
    t.add({std::to_string(s.layers[i]), std::to_string(n), std::to_string(s.width),
           std::isinf(hi) ? "NaN" : fixed_number(hi, 3),
           std::isinf(lo) ? "NaN" : fixed_number(lo, 3)});
  }
  t.add({"all", std::to_string(total), std::to_string(s.neurons()), "", ""});
  t.print(out, "  ");
}

// One best text on one line: the tokens around the max, the max token in [[ ]].
std::string marked_text(const ExampleText& t) {
  std::string s;
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    s += i == t.marked ? "[[" + t.tokens[i] + "]]" : t.tokens[i];
  }
  const std::string& text = s;
  return quoted(text);
}

// Examples study: the top neurons by max activation with their best text (docs/examples.md).
void print_top_examples(std::ostream& out, const Results& r, size_t n) {
  const std::vector<ExampleNeuron> top = top_example_neurons(r, n, 1);
  if (top.empty()) return;
  out << "\ntop " << top.size()
      << " neurons (by max activation; best text: the top window around its max, in [[ ]])\n";
  Table t({"#", "site", "layer", "neuron", "max", "mean", "frac>0", "best text", "planted"});
  for (size_t i = 0; i < top.size(); ++i) {
    const SiteResults& s = r.sites[top[i].ref.site];
    const int64_t k = top[i].ref.flat;
    const std::string planted = r.planted_at(top[i].ref);
    t.add({std::to_string(i + 1), s.name, std::to_string(s.layer_of(k)),
           std::to_string(s.neuron_of(k)), fixed_number(s.value("max_activation", k), 3),
           fixed_number(s.value("mean", k), 3), fixed_number(s.value("frac_positive", k), 3),
           top[i].texts.empty() ? "" : marked_text(top[i].texts[0]),
           planted.empty() ? "" : "planted: " + planted});
  }
  t.print(out, "  ");
}

void print_top(std::ostream& out, const Results& r, size_t n) {
  if (r.run.study == "examples") {
    print_top_examples(out, r, n);
    return;
  }
  const std::vector<NeuronRef> top = top_neurons(r, n);
  if (top.empty()) return;
  const std::string stat = r.statistic();
  if (!stat.empty()) {
    out << "\ntop " << top.size() << " neurons (by p, then |" << stat << "|)\n";
    std::vector<std::string> header = {"#", "site", "layer", "neuron", stat, "p", "p_adjusted"};
    std::vector<std::string> extra;
    for (const char* c : {"mean_a", "mean_b", "mean_diff", "cohens_d", "auc_batch1"}) {
      for (const NeuronRef& ref : top) {
        if (r.sites[ref.site].has(c)) {
          extra.push_back(c);
          break;
        }
      }
    }
    header.insert(header.end(), extra.begin(), extra.end());
    header.push_back("sig");
    header.push_back("planted");
    Table t(header);
    for (size_t i = 0; i < top.size(); ++i) {
      const SiteResults& s = r.sites[top[i].site];
      const int64_t k = top[i].flat;
      std::vector<std::string> row = {std::to_string(i + 1),
                                      s.name,
                                      std::to_string(s.layer_of(k)),
                                      std::to_string(s.neuron_of(k)),
                                      fixed_number(s.value(stat, k), 3),
                                      format_number(s.value("p", k)),
                                      format_number(s.value("p_adjusted", k))};
      for (const std::string& c : extra) row.push_back(fixed_number(s.value(c, k), 3));
      row.push_back(s.value("significant", k) == 1 ? "yes" : "no");
      const std::string planted = r.planted_at(top[i]);
      row.push_back(planted.empty() ? "" : "planted: " + planted);
      t.add(row);
    }
    t.print(out, "  ");
    return;
  }
  out << "\ntop " << top.size() << " neurons (by the winning token's share of repetitions)\n";
  Table t({"#", "site", "layer", "neuron", "wins", "distinct", "top tokens", "planted"});
  for (size_t i = 0; i < top.size(); ++i) {
    const SiteResults& s = r.sites[top[i].site];
    const int64_t k = top[i].flat;
    const auto depth = static_cast<size_t>(s.top_k);
    const double reps = s.attributes.count("repetitions") ? s.attributes.at("repetitions") : NAN;
    const double wins = static_cast<double>(s.top_count[static_cast<size_t>(k) * depth]);
    std::string tokens;
    for (size_t j = 0; j < std::min<size_t>(depth, 4); ++j) {
      const size_t at = static_cast<size_t>(k) * depth + j;
      if (s.top_count[at] <= 0) break;
      if (!tokens.empty()) tokens += ", ";
      tokens += quoted(r.token_text(s.top_token[at])) + " " + std::to_string(s.top_count[at]);
    }
    const std::string share =
        std::isnan(reps) ? format_number(wins) : format_number(wins) + "/" + format_number(reps);
    const std::string planted = r.planted_at(top[i]);
    t.add({std::to_string(i + 1), s.name, std::to_string(s.layer_of(k)),
           std::to_string(s.neuron_of(k)), share, format_number(s.value("distinct_tokens", k)),
           tokens, planted.empty() ? "" : "planted: " + planted});
  }
  t.print(out, "  ");
}

void print_planted(std::ostream& out, const Results& r) {
  if (!r.planted_warning.empty()) out << "\nplanted.json unreadable: " << r.planted_warning << '\n';
  if (r.planted.empty()) return;
  const std::vector<NeuronRef> order = top_neurons(r, SIZE_MAX);
  out << "\nplanted neurons of the model (planted.json)\n";
  Table t({"concept", "site", "layer", "neuron", "rank", "value"});
  for (const model::PlantedNeuron& p : r.planted) {
    std::string rank = "not in this file";
    std::string value;
    for (size_t i = 0; i < order.size(); ++i) {
      const SiteResults& s = r.sites[order[i].site];
      if (s.name == p.site && s.layer_of(order[i].flat) == p.layer &&
          s.neuron_of(order[i].flat) == p.neuron) {
        rank = std::to_string(i + 1) + " of " + std::to_string(order.size());
        const std::string stat = r.statistic();
        value = stat.empty() ? "" : stat + " " + fixed_number(s.value(stat, order[i].flat), 3);
        break;
      }
    }
    t.add({p.concept_name, p.site, std::to_string(p.layer), std::to_string(p.neuron), rank, value});
  }
  t.print(out, "  ");
}

void print_extras(std::ostream& out, const Results& r) {
  if (r.heatmap) {
    out << "\nheatmap: " << r.heatmap->tokens.size() << " tokens of " << r.heatmap->source << '\n';
    for (const HeatmapRow& row : r.heatmap->rows) {
      out << "  " << row.role << ": " << row.site << " layer " << row.layer << " neuron "
          << row.neuron << " (" << format_number(row.statistic) << ")\n";
    }
  }
  if (r.out_of_sample) {
    const OutOfSample& o = *r.out_of_sample;
    out << "\nout of sample (chosen on batch 1, measured on batch 2)\n";
    std::vector<std::string> header = {"layer", "neuron"};
    for (const auto& [name, _] : o.columns) header.push_back(name);
    Table t(header);
    for (size_t i = 0; i < o.layer.size(); ++i) {
      std::vector<std::string> row = {std::to_string(o.layer[i]), std::to_string(o.neuron[i])};
      for (const auto& [name, v] : o.columns) row.push_back(format_number(v[i]));
      t.add(row);
    }
    t.print(out, "  ");
  }
}

}  // namespace

int run_inspect(const Args& args) {
  std::string path;
  size_t top = 10;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (args[i] == "--top" || args[i].rfind("--top=", 0) == 0) {
      std::string v;
      if (args[i] == "--top") {
        if (i + 1 >= args.size()) throw Error("inspect: --top", "needs a number", "--top 20");
        v = args[++i];
      } else {
        v = args[i].substr(6);
      }
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0) {
        throw Error("inspect: --top", "'" + v + "' is not a non-negative integer", "--top 20");
      }
      top = static_cast<size_t>(n);
    } else if (args[i].rfind("--", 0) == 0) {
      throw Error("inspect", "unknown option '" + args[i] + "'", "neurolens inspect --help");
    } else if (path.empty()) {
      path = args[i];
    } else {
      throw Error("inspect", "more than one results file given", "neurolens inspect RESULTS.h5");
    }
  }
  if (path.empty()) throw Error("inspect", "no results file given", "neurolens inspect RESULTS.h5");
  const Results r = read_results(path);
  std::ostringstream out;
  print_run(out, r);
  for (const SiteResults& s : r.sites) print_site(out, r, s);
  print_top(out, r, top);
  print_planted(out, r);
  print_extras(out, r);
  std::cout << out.str();
  return 0;
}

}  // namespace neurolens::runner
