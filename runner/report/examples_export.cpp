#include "runner/report/examples_export.hpp"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "io/atomic_output.hpp"
#include "io/error.hpp"
#include "io/gzip.hpp"
#include "io/hdf5.hpp"

namespace neurolens::runner {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr const char* kManifest = "neurolens-export.json";

// The shortest decimal that reads back as the same float (3.25f -> 3.25, 0.1f -> 0.1).
double tidy(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  double out = 0;
  std::from_chars(buf, r.ptr, out);
  return out;
}

// `v` to 6 significant digits (a bin centre: -1.225, not -1.2250000052154064).
double round6(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

// NaN and infinities (never stored by the study) as JSON null.
Json number_or_null(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}
Json number_or_null(float v) {
  return std::isfinite(v) ? Json(tidy(v)) : Json(nullptr);
}

// Activations as both tools expect them: finite numbers, NaN (special tokens) as 0.
std::vector<double> activation_values(const std::vector<float>& a) {
  std::vector<double> out;
  out.reserve(a.size());
  for (float v : a) out.push_back(std::isfinite(v) ? tidy(v) : 0.0);
  return out;
}

Json openai_activation_record(const ExamplesFile& file, const ExampleWindow& w) {
  Json r;
  r["dataclass_name"] = "ActivationRecord";
  r["tokens"] = file.display_tokens(w.tokens);
  r["activations"] = activation_values(w.activations);
  return r;
}

Json openai_records(const ExamplesFile& file, const std::vector<ExampleWindow>& windows) {
  Json out = Json::array();
  for (const ExampleWindow& w : windows) out.push_back(openai_activation_record(file, w));
  return out;
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '.' || c == '_') ? '-' : c;
  return out;
}

void check_name(const std::string& value, const std::string& option) {
  const bool ok = !value.empty() && value != "." && value != ".." &&
                  value.find_first_not_of(
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") == std::string::npos;
  if (!ok) {
    throw Error("export: " + option, "'" + value + "' is not a plain name",
                "use letters, digits, '.', '_' and '-' only");
  }
}

std::string model_id_of(const ExamplesFile& file, const ExportOptions& o) {
  if (!o.model_id.empty()) return o.model_id;
  std::string m = file.info().model;
  while (!m.empty() && m.back() == '/') m.pop_back();
  std::string id = fs::path(m).filename().string();
  if (id.empty()) id = file.info().model_type;
  if (id.empty()) id = "model";
  return id;
}

std::string source_set_of(const ExamplesSite& site, const ExportOptions& o) {
  return o.source_set.empty() ? "neurolens-" + slug(site.name) : o.source_set;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) {
    throw Error(path.string(), "could not write the file",
                "check free disk space and permissions of the output directory");
  }
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char stamp[64];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return stamp;
}

// The file's `created` attribute (the run's time), else now: the rows' createdAt.
std::string created_at(const fs::path& input) {
  io::H5File f = io::H5File::open_read_only(input);
  if (f.has_attribute("/", "created") && f.is_string_attribute("/", "created")) {
    const std::string s = f.string_attribute("/", "created");
    if (!s.empty()) return s;
  }
  return utc_now();
}

// Moves the finished temporary directory to `target`, replacing an earlier export there.
void publish(const fs::path& tmp, const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    fs::rename(tmp, target);
    return;
  }
  fs::path old = target;
  old += ".old-" + std::to_string(::getpid());
  fs::remove_all(old, ec);
  fs::rename(target, old);
  fs::rename(tmp, target);
  fs::remove_all(old, ec);
}

void write_openai(const ExamplesFile& file, const fs::path& dir, ExportSummary& s) {
  for (size_t si = 0; si < file.sites().size(); ++si) {
    const ExamplesSite& site = file.sites()[si];
    for (size_t row = 0; row < site.layers.size(); ++row) {
      const fs::path layer_dir = dir / site.name / std::to_string(site.layers[row]);
      fs::create_directories(layer_dir);
      for (const NeuronExamples& n : file.read_layer(si, row)) {
        const Json record = openai_neuron_record(file, n);
        write_text(layer_dir / (std::to_string(n.neuron) + ".json"), record.dump() + "\n");
        ++s.neurons;
        ++s.files;
        s.records += static_cast<int64_t>(n.top.size() + n.random.size());
        for (const auto& q : n.quantiles) s.records += static_cast<int64_t>(q.size());
      }
    }
  }
}

// The release, model, source set and source rows of one source directory (one line each), as
// neuronpedia-utils' converter writes them beside features/ and activations/.
void write_neuronpedia_metadata(const ExamplesFile& file, const ExamplesSite& site, int64_t layer,
                                const fs::path& source, const ExportOptions& o,
                                const std::string& created, ExportSummary& s) {
  const std::string model_id = model_id_of(file, o);
  const std::string set = source_set_of(site, o);
  const std::string what = "neurolens examples study: " + site.name + " neurons of " + model_id;
  const Json none = nullptr;
  Json release;
  release["name"] = set;
  release["description"] = what;
  release["creatorName"] = "neurolens";
  release["creatorId"] = o.creator_id;
  release["visibility"] = "PUBLIC";
  release["isNewUi"] = false;
  release["featured"] = false;
  release["descriptionShort"] = what;
  release["urls"] = Json::array();
  release["creatorEmail"] = none;
  release["creatorNameShort"] = "neurolens";
  release["defaultSourceSetName"] = none;
  release["defaultSourceId"] = none;
  release["defaultUmapSourceIds"] = Json::array();
  release["createdAt"] = created;
  Json model;
  model["id"] = model_id;
  model["instruct"] = model_id.size() >= 3 && model_id.substr(model_id.size() - 3) == "-it";
  model["creatorId"] = o.creator_id;
  model["displayNameShort"] = model_id;
  model["displayName"] = model_id;
  model["tlensId"] = none;
  model["dimension"] = none;
  model["visibility"] = "PUBLIC";
  model["defaultSourceSetName"] = none;
  model["defaultSourceId"] = none;
  model["inferenceEnabled"] = false;
  model["layers"] = 0;
  model["neuronsPerLayer"] = 0;
  model["createdAt"] = created;
  model["owner"] = "";
  model["updatedAt"] = created;
  model["website"] = none;
  Json source_set;
  source_set["modelId"] = model_id;
  source_set["name"] = set;
  source_set["creatorId"] = o.creator_id;
  source_set["hasDashboards"] = true;
  source_set["visibility"] = "PUBLIC";
  source_set["description"] = site.name + " neurons (neurolens examples)";
  source_set["type"] = "";
  source_set["creatorName"] = "neurolens";
  source_set["urls"] = Json::array();
  source_set["creatorEmail"] = none;
  source_set["releaseName"] = set;
  source_set["defaultOfModelId"] = none;
  source_set["defaultRange"] = 1;
  source_set["defaultShowBreaks"] = true;
  source_set["showDfa"] = false;
  source_set["showCorrelated"] = false;
  source_set["showHeadAttribution"] = false;
  source_set["showUmap"] = false;
  source_set["createdAt"] = created;
  Json src;
  src["id"] = neuronpedia_source_id(site, layer, o);
  src["modelId"] = model_id;
  src["setName"] = set;
  src["creatorId"] = o.creator_id;
  src["hasDashboards"] = true;
  src["inferenceEnabled"] = false;
  src["inferenceHosts"] = Json::array();
  src["saelensConfig"] = none;
  src["saelensRelease"] = none;
  src["saelensSaeId"] = none;
  src["hfRepoId"] = none;
  src["hfFolderId"] = none;
  src["visibility"] = "PUBLIC";
  src["defaultOfModelId"] = none;
  src["hasUmap"] = false;
  src["hasUmapLogSparsity"] = false;
  src["hasUmapClusters"] = false;
  src["num_prompts"] = file.info().n_windows;
  src["num_tokens_in_prompt"] = file.info().seq_len;
  src["dataset"] = none;
  src["notes"] = what;
  src["createdAt"] = created;
  write_text(source / "release.jsonl", release.dump() + "\n");
  write_text(source / "model.jsonl", model.dump() + "\n");
  write_text(source / "sourceset.jsonl", source_set.dump() + "\n");
  write_text(source / "source.jsonl", src.dump() + "\n");
  s.files += 4;
}

void write_neuronpedia(const ExamplesFile& file, const fs::path& dir, const ExportOptions& o,
                       const std::string& created, ExportSummary& s) {
  const std::string model_id = model_id_of(file, o);
  for (size_t si = 0; si < file.sites().size(); ++si) {
    const ExamplesSite& site = file.sites()[si];
    for (size_t row = 0; row < site.layers.size(); ++row) {
      const fs::path source = dir / model_id / neuronpedia_source_id(site, site.layers[row], o);
      fs::create_directories(source / "features");
      fs::create_directories(source / "activations");
      write_neuronpedia_metadata(file, site, site.layers[row], source, o, created, s);
      const std::vector<NeuronExamples> neurons = file.read_layer(si, row);
      const auto batch = static_cast<size_t>(o.batch_size);
      for (size_t b = 0; b * batch < neurons.size(); ++b) {
        std::string features, activations;
        for (size_t i = b * batch; i < std::min(neurons.size(), (b + 1) * batch); ++i) {
          features += neuronpedia_feature(file, site, neurons[i], o, created).dump() + "\n";
          for (const Json& a : neuronpedia_activations(file, site, neurons[i], o, created)) {
            activations += a.dump() + "\n";
            ++s.records;
          }
          ++s.neurons;
        }
        const std::string name = "batch-" + std::to_string(b) + ".jsonl.gz";
        io::write_gzip_file(source / "features" / name, features);
        io::write_gzip_file(source / "activations" / name, activations);
        s.files += 2;
      }
    }
  }
}

}  // namespace

ExportFormat parse_export_format(const std::string& name) {
  if (name == "openai") return ExportFormat::OpenAI;
  if (name == "neuronpedia") return ExportFormat::Neuronpedia;
  throw Error("export: --format", "'" + name + "' is not a known format",
              "use --format openai or --format neuronpedia");
}

Json openai_neuron_record(const ExamplesFile& file, const NeuronExamples& n) {
  Json id;
  id["dataclass_name"] = "NeuronId";
  id["layer_index"] = n.layer;
  id["neuron_index"] = n.neuron;
  Json by_quantile = Json::array();
  for (const auto& bucket : n.quantiles) by_quantile.push_back(openai_records(file, bucket));
  by_quantile.push_back(openai_records(file, n.top));  // the top bucket, [.999, 1]
  Json boundaries = Json::array();
  for (float b : n.quantile_boundaries) boundaries.push_back(number_or_null(b));
  Json r;
  r["dataclass_name"] = "NeuronRecord";
  r["neuron_id"] = id;
  r["random_sample"] = openai_records(file, n.random);
  r["random_sample_by_quantile"] = by_quantile;
  r["quantile_boundaries"] = boundaries;
  r["mean"] = number_or_null(n.mean);
  r["variance"] = number_or_null(n.variance);
  r["skewness"] = number_or_null(n.skewness);
  r["kurtosis"] = number_or_null(n.kurtosis);
  r["most_positive_activation_records"] = openai_records(file, n.top);
  return r;
}

std::string neuronpedia_source_id(const ExamplesSite& site, int64_t layer,
                                  const ExportOptions& options) {
  return std::to_string(layer) + "-" + source_set_of(site, options);
}

Json neuronpedia_feature(const ExamplesFile& file, const ExamplesSite& site,
                         const NeuronExamples& n, const ExportOptions& o,
                         const std::string& created) {
  const Json empty = Json::array();
  Json neg_str = Json::array(), neg_values = Json::array(), pos_str = Json::array(),
       pos_values = Json::array();
  for (const LogitEffect& e : n.logit_bottom) {
    if (!std::isfinite(e.value)) continue;
    neg_str.push_back(file.display_tokens(std::vector<int32_t>{e.token}).at(0));
    neg_values.push_back(tidy(e.value));
  }
  for (const LogitEffect& e : n.logit_top) {
    if (!std::isfinite(e.value)) continue;
    pos_str.push_back(file.display_tokens(std::vector<int32_t>{e.token}).at(0));
    pos_values.push_back(tidy(e.value));
  }
  // The histogram's bins (under- and overflow left out): heights = counts, values = centres.
  Json heights = Json::array(), centres = Json::array();
  if (n.hist_edges.size() >= 2 && n.hist_counts.size() == n.hist_edges.size() + 1) {
    for (size_t i = 0; i + 1 < n.hist_edges.size(); ++i) {
      heights.push_back(static_cast<double>(n.hist_counts[i + 1]));
      centres.push_back(round6((double{n.hist_edges[i]} + n.hist_edges[i + 1]) / 2));
    }
  }
  Json f;
  f["modelId"] = model_id_of(file, o);
  f["layer"] = neuronpedia_source_id(site, n.layer, o);
  f["index"] = std::to_string(n.neuron);
  f["creatorId"] = o.creator_id;
  f["createdAt"] = created;
  f["maxActApprox"] = std::isfinite(n.max_activation) ? tidy(n.max_activation) : 0.0;
  f["hasVector"] = false;
  f["vector"] = empty;
  f["vectorLabel"] = nullptr;
  f["vectorDefaultSteerStrength"] = 10;
  f["hookName"] = nullptr;
  f["topkCosSimIndices"] = empty;
  f["topkCosSimValues"] = empty;
  f["neuron_alignment_indices"] = empty;
  f["neuron_alignment_values"] = empty;
  f["neuron_alignment_l1"] = empty;
  f["correlated_neurons_indices"] = empty;
  f["correlated_neurons_pearson"] = empty;
  f["correlated_neurons_l1"] = empty;
  f["correlated_features_indices"] = empty;
  f["correlated_features_pearson"] = empty;
  f["correlated_features_l1"] = empty;
  f["neg_str"] = neg_str;
  f["neg_values"] = neg_values;
  f["pos_str"] = pos_str;
  f["pos_values"] = pos_values;
  f["frac_nonzero"] = std::isfinite(n.frac_positive) ? n.frac_positive : 0.0;
  f["freq_hist_data_bar_heights"] = heights;
  f["freq_hist_data_bar_values"] = centres;
  f["logits_hist_data_bar_heights"] = empty;
  f["logits_hist_data_bar_values"] = empty;
  f["decoder_weights_dist"] = empty;
  return f;
}

std::vector<Json> neuronpedia_activations(const ExamplesFile& file, const ExamplesSite& site,
                                          const NeuronExamples& n, const ExportOptions& o,
                                          const std::string& created) {
  const std::string model_id = model_id_of(file, o);
  const std::string source = neuronpedia_source_id(site, n.layer, o);
  const std::string index = std::to_string(n.neuron);
  int64_t windows = 0;
  for (int64_t c : n.quantile_count) windows += c;
  std::vector<Json> out;
  auto add = [&](const ExampleWindow& w, const std::string& group, size_t slot, double bin_min,
                 double bin_max, double bin_contains) {
    const std::vector<double> values = activation_values(w.activations);
    size_t arg_max = 0;
    double max_value = 0, min_value = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      if (i == 0 || values[i] > max_value) {
        max_value = values[i];
        arg_max = i;
      }
      if (i == 0 || values[i] < min_value) min_value = values[i];
    }
    Json a;
    a["id"] = model_id + "@" + source + "@" + index + "@" + group + "-" + std::to_string(slot);
    a["tokens"] = file.display_tokens(w.tokens);
    a["index"] = index;
    a["layer"] = source;
    a["modelId"] = model_id;
    a["maxValue"] = max_value;
    a["maxValueTokenIndex"] = arg_max;
    a["minValue"] = min_value;
    a["values"] = values;
    a["creatorId"] = o.creator_id;
    a["dataSource"] = nullptr;
    a["dataIndex"] = std::to_string(w.document);
    a["dfaValues"] = Json::array();
    a["dfaTargetIndex"] = nullptr;
    a["dfaMaxValue"] = nullptr;
    a["createdAt"] = created;
    a["lossValues"] = Json::array();
    a["logitContributions"] = nullptr;
    a["binMin"] = bin_min;
    a["binMax"] = bin_max;
    a["binContains"] = bin_contains;
    a["qualifyingTokenIndex"] = w.position;
    out.push_back(std::move(a));
  };
  const double top_max = std::isfinite(n.max_activation) ? tidy(n.max_activation) : 0.0;
  for (size_t i = 0; i < n.top.size(); ++i) add(n.top[i], "top", i, -1, top_max, -1);
  for (size_t b = 4; b-- > 0;) {
    const double lo = std::isfinite(n.quantile_boundaries[b]) ? tidy(n.quantile_boundaries[b]) : 0;
    const double hi =
        std::isfinite(n.quantile_boundaries[b + 1]) ? tidy(n.quantile_boundaries[b + 1]) : 0;
    const double share =
        windows > 0 ? static_cast<double>(n.quantile_count[b]) / static_cast<double>(windows) : 0;
    for (size_t j = 0; j < n.quantiles[b].size(); ++j) {
      add(n.quantiles[b][j], "q" + std::to_string(b), j, lo, hi, share);
    }
  }
  return out;
}

ExportSummary export_examples(const fs::path& input, const fs::path& out_path,
                              const ExportOptions& o) {
  fs::path out = out_path.lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/"
  if (out.empty() || out.filename() == "." || out.filename() == "..") {
    throw Error("export: --out", "'" + out_path.string() + "' does not name a new directory",
                "give a directory path such as --out exports/openai");
  }
  if (o.batch_size < 1) {
    throw Error("export: --batch-size", std::to_string(o.batch_size) + " is not positive",
                "--batch-size 128");
  }
  if (!o.model_id.empty()) check_name(o.model_id, "--model-id");
  if (!o.source_set.empty()) check_name(o.source_set, "--source-set");
  // Every check before any output.
  const ExamplesFile file(input.string());
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  io::require_writable_directory(parent, "export: --out " + out.string());
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!o.overwrite) {
      throw Error(out.string(), "already exists",
                  "pass --overwrite to replace it, or choose another --out");
    }
    if (!fs::is_directory(out, ec) || !(fs::is_empty(out, ec) || fs::exists(out / kManifest))) {
      throw Error(out.string(), "exists and is not a neurolens export directory",
                  "choose another --out or remove it");
    }
  }
  if (o.format == ExportFormat::Neuronpedia) check_name(model_id_of(file, o), "--model-id");
  const std::string created = created_at(input);

  const fs::path tmp =
      parent / ("." + out.filename().string() + ".partial-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec) || ec) {
    throw Error(tmp.string(), "cannot create the temporary directory",
                "check that " + parent.string() + " is writable");
  }
  ExportSummary s;
  try {
    if (o.format == ExportFormat::OpenAI) {
      write_openai(file, tmp, s);
    } else {
      write_neuronpedia(file, tmp, o, created, s);
    }
    Json manifest;
    manifest["format"] = o.format == ExportFormat::OpenAI ? "openai" : "neuronpedia";
    manifest["source"] = fs::absolute(input).string();
    manifest["model"] = file.info().model;
    manifest["created"] = created;
    manifest["neurons"] = s.neurons;
    manifest["files"] = s.files;
    manifest["records"] = s.records;
    manifest["neurolens_version"] = NEUROLENS_VERSION;
    write_text(tmp / kManifest, manifest.dump(2) + "\n");
    publish(tmp, out);
  } catch (const std::filesystem::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw Error(e.path1().empty() ? out.string() : e.path1().string(), e.code().message(),
                "check free disk space and permissions of the output directory");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return s;
}

}  // namespace neurolens::runner
