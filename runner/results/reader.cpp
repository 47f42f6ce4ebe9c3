#include "runner/results/reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "io/error.hpp"
#include "io/hdf5.hpp"
#include "runner/results/examples_reader.hpp"

namespace neurolens::runner {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string attr_string(const io::H5File& f, const std::string& obj, const std::string& name) {
  return f.has_attribute(obj, name) ? f.string_attribute(obj, name) : std::string();
}
double attr_number(const io::H5File& f, const std::string& obj, const std::string& name) {
  return f.has_attribute(obj, name) ? f.number_attribute(obj, name) : kNaN;
}
int64_t attr_count(const io::H5File& f, const std::string& obj, const std::string& name) {
  const double v = attr_number(f, obj, name);
  return std::isnan(v) ? -1 : static_cast<int64_t>(v);
}

// Every attribute of an object, in creation (or name) order, as text.
AttributeList all_attributes(const io::H5File& f, const std::string& obj) {
  const std::vector<std::string> names = f.attribute_names(obj);
  std::vector<bool> is_string;
  for (const std::string& n : names) is_string.push_back(f.is_string_attribute(obj, n));
  AttributeList out;
  for (size_t i = 0; i < names.size(); ++i) {
    out.emplace_back(names[i], is_string[i] ? f.string_attribute(obj, names[i])
                                            : format_number(f.number_attribute(obj, names[i])));
  }
  return out;
}

template <typename T>
std::vector<T> read_as(const io::H5Dataset& d, io::H5Type type) {
  size_t n = 1;
  for (hsize_t v : d.dims()) n *= static_cast<size_t>(v);
  std::vector<T> out(n);
  if (n > 0) d.read_all(type, out.data());
  return out;
}

bool is_string_dataset(const io::H5Dataset& d) {
  return d.is_string();
}

void read_site(const io::H5File& f, const std::string& name, SiteResults& site) {
  const std::string g = "/" + name;
  site.name = name;
  site.layers = f.open_dataset(g + "/layer").read_i64();
  site.width = static_cast<int64_t>(f.open_dataset(g + "/neuron").dims().at(0));
  const auto L = static_cast<hsize_t>(site.layers.size());
  const auto W = static_cast<hsize_t>(site.width);
  for (const std::string& member : f.list(g)) {
    const std::string path = g + "/" + member;
    if (member == "layer" || member == "neuron") continue;
    if (!f.is_dataset(path)) continue;
    io::H5Dataset d = f.open_dataset(path);
    const auto& dims = d.dims();
    if (is_string_dataset(d)) {
      if (member == "context_text") site.context_text = f.read_strings(path);
      continue;
    }
    if (dims.size() == 2 && dims[0] == L && dims[1] == W) {
      site.columns[member] = read_as<double>(d, io::H5Type::F64);
    } else if (member == "histogram" && dims.size() == 3 && dims[0] == L) {
      site.histogram = read_as<int64_t>(d, io::H5Type::I64);
      site.histogram_groups = static_cast<int64_t>(dims[1]);
      site.histogram_bins = static_cast<int64_t>(dims[2]);
      const std::string groups = attr_string(f, path, "groups");
      size_t start = 0;
      while (start <= groups.size() && !groups.empty()) {
        size_t comma = groups.find(',', start);
        if (comma == std::string::npos) comma = groups.size();
        std::string part = groups.substr(start, comma - start);
        part.erase(0, part.find_first_not_of(' '));
        site.histogram_group_names.push_back(part);
        start = comma + 1;
      }
    } else if (member == "histogram_edges" && dims.size() == 2 && dims[0] == L) {
      site.histogram_edges = read_as<double>(d, io::H5Type::F64);
    } else if (member == "top_token" && dims.size() == 3 && dims[0] == L && dims[1] == W) {
      site.top_token = read_as<int32_t>(d, io::H5Type::I32);
      site.top_k = static_cast<int64_t>(dims[2]);
    } else if (member == "top_token_count" && dims.size() == 3) {
      site.top_count = read_as<int64_t>(d, io::H5Type::I64);
    } else if (member == "context_value" && dims.size() == 3) {
      site.context_value = read_as<double>(d, io::H5Type::F64);
      site.n_contexts = static_cast<int64_t>(dims[2]);
    } else if (member == "distinct_tokens" && dims.size() == 3 && dims[2] == 1) {
      site.columns["distinct_tokens"] = read_as<double>(d, io::H5Type::F64);
    }
  }
  if (site.top_count.size() != site.top_token.size()) site.top_count.clear();
  for (const auto& [key, value] : all_attributes(f, g)) {
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str() && *end == '\0') site.attributes[key] = v;
  }
}

void read_heatmap(const io::H5File& f, Results& r) {
  if (!f.exists("/heatmap/activation") || !f.exists("/heatmap/token_text")) return;
  Heatmap h;
  h.source = attr_string(f, "/heatmap", "source");
  h.tokens = f.read_strings("/heatmap/token_text");
  if (f.exists("/heatmap/sequence")) h.sequence = f.open_dataset("/heatmap/sequence").read_i64();
  io::H5Dataset act = f.open_dataset("/heatmap/activation");
  h.activation = act.read_f32();
  const size_t R = act.dims().size() == 2 ? static_cast<size_t>(act.dims()[0]) : 0;
  const std::vector<std::string> sites =
      f.exists("/heatmap/site") ? f.read_strings("/heatmap/site") : std::vector<std::string>{};
  const std::vector<std::string> roles =
      f.exists("/heatmap/role") ? f.read_strings("/heatmap/role") : std::vector<std::string>{};
  const auto layers = f.exists("/heatmap/layer") ? f.open_dataset("/heatmap/layer").read_i64()
                                                 : std::vector<int64_t>{};
  const auto neurons = f.exists("/heatmap/neuron") ? f.open_dataset("/heatmap/neuron").read_i64()
                                                   : std::vector<int64_t>{};
  const auto statistic = f.exists("/heatmap/statistic")
                             ? f.open_dataset("/heatmap/statistic").read_f64()
                             : std::vector<double>{};
  for (size_t i = 0; i < R; ++i) {
    HeatmapRow row;
    row.site = i < sites.size() ? sites[i] : "";
    row.role = i < roles.size() ? roles[i] : "row " + std::to_string(i);
    row.layer = i < layers.size() ? layers[i] : 0;
    row.neuron = i < neurons.size() ? neurons[i] : 0;
    row.statistic = i < statistic.size() ? statistic[i] : kNaN;
    h.rows.push_back(row);
  }
  if (h.activation.size() != R * h.tokens.size()) {
    throw Error(r.path.string() + ": /heatmap/activation",
                "has " + std::to_string(h.activation.size()) +
                    " values, expected rows x tokens = " + std::to_string(R * h.tokens.size()),
                "rerun the job; the file is not a complete neurolens results file");
  }
  r.heatmap = std::move(h);
}

void read_out_of_sample(const io::H5File& f, Results& r) {
  if (!f.exists("/out_of_sample/layer") || !f.exists("/out_of_sample/neuron")) return;
  OutOfSample o;
  o.layer = f.open_dataset("/out_of_sample/layer").read_i64();
  o.neuron = f.open_dataset("/out_of_sample/neuron").read_i64();
  if (f.exists("/out_of_sample/site")) o.site = f.read_strings("/out_of_sample/site");
  for (const std::string& member : f.list("/out_of_sample")) {
    const std::string path = "/out_of_sample/" + member;
    io::H5Dataset d = f.open_dataset(path);
    if (is_string_dataset(d)) continue;
    if (member == "label") {
      o.label = read_as<int64_t>(d, io::H5Type::I64);
    } else if (member == "activation") {
      o.activation = d.read_f32();
    } else if (d.dims().size() == 1 && d.dims()[0] == o.layer.size() && member != "layer" &&
               member != "neuron") {
      o.columns[member] = read_as<double>(d, io::H5Type::F64);
    }
  }
  r.out_of_sample = std::move(o);
}

}  // namespace

double SiteResults::value(const std::string& column, int64_t flat) const {
  auto it = columns.find(column);
  if (it == columns.end() || flat < 0 || static_cast<size_t>(flat) >= it->second.size()) {
    return kNaN;
  }
  return it->second[static_cast<size_t>(flat)];
}

std::string Results::statistic() const {
  for (const char* s : {"t", "beta"}) {
    for (const SiteResults& site : sites) {
      if (site.has(s) && site.has("p")) return s;
    }
  }
  return "";
}

std::string Results::effect() const {
  if (statistic().empty()) return "";
  for (const char* s : {"cohens_d", "beta", "t"}) {
    for (const SiteResults& site : sites) {
      if (site.has(s)) return s;
    }
  }
  return "";
}

std::string Results::planted_at(const NeuronRef& n) const {
  const SiteResults& s = sites[n.site];
  for (const model::PlantedNeuron& p : planted) {
    if (p.site == s.name && p.layer == s.layer_of(n.flat) && p.neuron == s.neuron_of(n.flat)) {
      return p.concept_name;
    }
  }
  return "";
}

std::string Results::token_text(int32_t id) const {
  if (tokenizer && id >= 0 && id < tokenizer->vocab_size()) {
    try {
      return tokenizer->token_bytes(id);
    } catch (const Error&) {
    }
  }
  return "#" + std::to_string(id);
}

const std::vector<std::string>& StudyData::strings_of(const std::string& name) const {
  static const std::vector<std::string> none;
  const auto it = strings.find(name);
  return it == strings.end() ? none : it->second;
}

const std::vector<double>& StudyData::numbers_of(const std::string& name) const {
  static const std::vector<double> none;
  const auto it = numbers.find(name);
  return it == numbers.end() ? none : it->second;
}

Results read_results(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) {
    throw Error(path.string(), "no such file",
                "give the results file that 'neurolens run' wrote (the job key 'output')");
  }
  io::H5File f = io::H5File::open_read_only(path);
  if (!f.has_attribute("/", "study")) {
    throw Error(path.string(), "not a neurolens results file (no root attribute 'study')",
                "give the results file that 'neurolens run' wrote (the job key 'output')");
  }
  Results r;
  r.path = path;
  RunInfo& run = r.run;
  run.study = attr_string(f, "/", "study");
  run.test = attr_string(f, "/", "test");
  run.model = attr_string(f, "/", "model");
  run.model_type = attr_string(f, "/", "model_type");
  run.job = attr_string(f, "/", "job");
  run.job_file = attr_string(f, "/", "job_file");
  run.version = attr_string(f, "/", "version");
  run.created = attr_string(f, "/", "created");
  run.correction = attr_string(f, "/", "correction");
  run.n_ranks = attr_count(f, "/", "n_ranks");
  run.tokens_processed = attr_count(f, "/", "tokens_processed");
  run.corpus_tokens = attr_count(f, "/", "corpus_tokens");
  run.n_windows = attr_count(f, "/", "n_windows");
  run.n_samples = attr_count(f, "/", "n_samples");
  run.family_size = attr_count(f, "/", "family_size");
  run.wall_time = attr_number(f, "/", "wall_time");
  run.time_load = attr_number(f, "/", "time_load");
  run.time_plan = attr_number(f, "/", "time_plan");
  run.time_forward = attr_number(f, "/", "time_forward");
  run.time_reduce = attr_number(f, "/", "time_reduce");
  run.time_write = attr_number(f, "/", "time_write");
  run.alpha = attr_number(f, "/", "alpha");
  run.threshold = attr_number(f, "/", "threshold");
  if (f.exists("/run/peak_rss_bytes"))
    run.peak_rss_bytes = f.open_dataset("/run/peak_rss_bytes").read_f64();

  for (const std::string& member : f.list("/")) {
    // A site group: `layer` and `neuron` are dimension scales (not /heatmap's plain columns).
    const std::string g = "/" + member;
    if (f.exists(g + "/layer") && f.exists(g + "/neuron") &&
        f.has_attribute(g + "/layer", "CLASS")) {
      SiteResults site;
      read_site(f, member, site);
      r.sites.push_back(std::move(site));
    }
  }
  // Every other root group is a study's (/<study>, /out_of_sample, ...): its attributes, whatever
  // the study. The layout's own groups (/run, /samples, /heatmap) are read above and below.
  for (const std::string& member : f.list("/")) {
    const std::string g = "/" + member;
    if (member == "run" || member == "samples" || member == "heatmap") continue;
    if (std::any_of(r.sites.begin(), r.sites.end(),
                    [&](const SiteResults& site) { return site.name == member; })) {
      continue;
    }
    AttributeList attrs = all_attributes(f, g);
    if (!attrs.empty()) r.study_attributes[member] = std::move(attrs);
    if (f.is_dataset(g)) continue;
    // The examples study's /examples holds the vocabulary and the random sample (read by
    // ExamplesFile), not per-study 1-D columns.
    if (run.study == "examples" && member == "examples") continue;
    StudyData data;
    for (const std::string& name : f.list(g)) {
      const std::string dataset_path = g + "/" + name;
      if (!f.is_dataset(dataset_path)) continue;
      io::H5Dataset d = f.open_dataset(dataset_path);
      if (d.dims().size() != 1) continue;
      if (is_string_dataset(d)) {
        data.strings[name] = f.read_strings(dataset_path);
      } else {
        data.numbers[name] = read_as<double>(d, io::H5Type::F64);
      }
    }
    if (!data.strings.empty() || !data.numbers.empty()) r.study_data[member] = std::move(data);
  }
  read_heatmap(f, r);
  read_out_of_sample(f, r);

  if (!run.model.empty()) {
    const std::filesystem::path dir(run.model);
    std::error_code ec;
    if (std::filesystem::exists(dir / "planted.json", ec)) {
      try {
        r.planted = model::read_planted(dir);
      } catch (const Error& e) {
        r.planted_warning = e.what();
      }
    }
    if (model::Tokenizer::has_tokenizer(dir)) {
      try {
        r.tokenizer =
            std::make_shared<const model::Tokenizer>(model::Tokenizer::load_for_model(dir));
      } catch (const Error&) {
        // Token ids are shown as #id.
      }
    }
  }
  return r;
}

std::vector<NeuronRef> top_neurons(const Results& r, size_t n) {
  struct Scored {
    NeuronRef ref;
    double key1, key2;  // ascending key1, then ascending key2
  };
  std::vector<Scored> all;
  const std::string stat = r.statistic();
  for (size_t s = 0; s < r.sites.size(); ++s) {
    const SiteResults& site = r.sites[s];
    if (!stat.empty() && site.has(stat) && site.has("p")) {
      const auto& p = site.columns.at("p");
      const auto& v = site.columns.at(stat);
      for (size_t i = 0; i < p.size(); ++i) {
        const double k1 = std::isnan(p[i]) ? std::numeric_limits<double>::infinity() : p[i];
        const double k2 = std::isnan(v[i]) ? 0.0 : -std::fabs(v[i]);
        all.push_back({{s, static_cast<int64_t>(i)}, k1, k2});
      }
    } else if (stat.empty() && r.run.study == "examples" && site.has("max_activation")) {
      const auto& m = site.columns.at("max_activation");
      for (size_t i = 0; i < m.size(); ++i) {
        const double k1 = std::isnan(m[i]) ? std::numeric_limits<double>::infinity() : -m[i];
        all.push_back({{s, static_cast<int64_t>(i)}, k1, 0});
      }
    } else if (stat.empty() && site.top_k > 0 && !site.top_count.empty()) {
      const auto k = static_cast<size_t>(site.top_k);
      const auto& distinct = site.columns.count("distinct_tokens")
                                 ? site.columns.at("distinct_tokens")
                                 : std::vector<double>{};
      for (size_t i = 0; i < static_cast<size_t>(site.neurons()); ++i) {
        const double wins = static_cast<double>(site.top_count[i * k]);
        all.push_back({{s, static_cast<int64_t>(i)}, -wins, i < distinct.size() ? distinct[i] : 0});
      }
    }
  }
  auto less = [](const Scored& a, const Scored& b) {
    if (a.key1 != b.key1) return a.key1 < b.key1;
    if (a.key2 != b.key2) return a.key2 < b.key2;
    if (a.ref.site != b.ref.site) return a.ref.site < b.ref.site;
    return a.ref.flat < b.ref.flat;
  };
  n = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(n), all.end(), less);
  std::vector<NeuronRef> out;
  for (size_t i = 0; i < n; ++i) out.push_back(all[i].ref);
  return out;
}

std::vector<ExampleNeuron> top_example_neurons(const Results& r, size_t n, size_t texts,
                                               size_t context) {
  std::vector<ExampleNeuron> out;
  if (r.run.study != "examples") return out;
  const std::vector<NeuronRef> top = top_neurons(r, n);
  if (top.empty()) return out;
  const ExamplesFile file(r.path.string());
  for (const NeuronRef& ref : top) out.push_back({ref, {}});
  // One read_layer per (site, layer row) that holds a top neuron.
  std::map<std::pair<size_t, size_t>, std::vector<size_t>> by_row;
  for (size_t i = 0; i < top.size(); ++i) {
    const SiteResults& s = r.sites[top[i].site];
    by_row[{top[i].site, static_cast<size_t>(top[i].flat / s.width)}].push_back(i);
  }
  for (const auto& [key, members] : by_row) {
    const SiteResults& s = r.sites[key.first];
    size_t file_site = file.sites().size();
    for (size_t j = 0; j < file.sites().size(); ++j) {
      if (file.sites()[j].name == s.name) file_site = j;
    }
    if (file_site == file.sites().size()) continue;
    const std::vector<NeuronExamples> row = file.read_layer(file_site, key.second);
    for (size_t i : members) {
      const auto neuron = static_cast<size_t>(s.neuron_of(top[i].flat));
      if (neuron >= row.size()) continue;
      const std::vector<ExampleWindow>& windows = row[neuron].top;
      for (size_t w = 0; w < windows.size() && w < texts; ++w) {
        const ExampleWindow& x = windows[w];
        const std::vector<std::string> shown = file.display_tokens(x.tokens);
        size_t at = std::min(static_cast<size_t>(std::max(x.position, 0)),
                             shown.empty() ? size_t{0} : shown.size() - 1);
        // A max on the first bytes of a character split over tokens: mark the token showing it.
        while (at + 1 < shown.size() && shown[at].empty() && x.tokens[at] >= 0) ++at;
        const size_t begin = at > context ? at - context : 0;
        const size_t end = std::min(shown.size(), at + context + 1);
        ExampleText t;
        t.tokens.assign(shown.begin() + static_cast<long>(begin),
                        shown.begin() + static_cast<long>(end));
        t.activations.assign(x.activations.begin() + static_cast<long>(begin),
                             x.activations.begin() + static_cast<long>(end));
        t.marked = at - begin;
        t.value = x.value;
        t.document = x.document;
        t.token = x.start + x.position;
        out[i].texts.push_back(std::move(t));
      }
    }
  }
  return out;
}

}  // namespace neurolens::runner
