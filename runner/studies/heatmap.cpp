#include "runner/studies/heatmap.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>

#include "io/corpus.hpp"
#include "io/error.hpp"
#include "model/arch/forward.hpp"
#include "runner/engine/plan.hpp"

namespace neurolens::runner {
namespace {

std::string valid_utf8(std::string s) {
  return io::find_invalid_utf8(s) == std::string::npos ? s : std::string("\xEF\xBF\xBD");
}

}  // namespace

HeatmapText read_heatmap_text(const std::string& path, const model::Tokenizer& tokenizer,
                              int max_sequence, int64_t max_tokens, const std::string& key) {
  HeatmapText out;
  out.source = path;
  std::vector<int32_t> ids;
  try {
    const io::Corpus corpus = io::Corpus::open(path);
    std::vector<io::Document> documents;
    for (size_t seg = 0; seg < corpus.n_segments(); ++seg) {
      corpus.read_segment(seg, [&](io::Document& d) {
        documents.push_back(std::move(d));
        return true;
      });
      if (!documents.empty()) break;  // a heatmap text is short: its first segment suffices
    }
    for (size_t d = 0; d < documents.size() && static_cast<int64_t>(ids.size()) < max_tokens; ++d) {
      const io::Document& doc = documents[d];
      std::vector<std::pair<size_t, size_t>> offsets;
      const std::vector<int32_t> doc_ids = tokenizer.encode_with_offsets(doc.text, &offsets);
      // With a tokenizer that adds a BOS, each document starts with it, as in the studies'
      // windows (document_tokens); its piece is the token's text (e.g. "<s>").
      const std::optional<int32_t> bos = document_bos(tokenizer);
      const size_t lead = bos && !doc_ids.empty() ? 1 : 0;
      for (size_t j = 0; j < doc_ids.size() + lead && static_cast<int64_t>(ids.size()) < max_tokens;
           ++j) {
        // A new sequence at each document and every max_sequence tokens.
        if (j == 0 || out.sequences.back().size() >= static_cast<size_t>(max_sequence)) {
          out.sequences.emplace_back();
        }
        const int32_t id = j < lead ? *bos : doc_ids[j - lead];
        out.sequences.back().push_back(id);
        ids.push_back(id);
        if (j < lead) {
          out.pieces.push_back(valid_utf8(tokenizer.token_bytes(id)));
        } else {
          const auto [b, e] = offsets[j - lead];
          out.pieces.push_back(valid_utf8(doc.text.substr(b, e - b)));
        }
      }
    }
  } catch (const Error& e) {
    throw Error(key, "cannot read '" + path + "': " + e.problem(),
                "give a readable text file (plain text, JSON Lines or Brown)");
  }
  if (out.pieces.empty()) {
    throw Error(key, "'" + path + "' has no tokens", "give a file with some text");
  }
  return out;
}

HeatmapText heatmap_from_tokens(std::vector<std::vector<int32_t>> sequences,
                                const model::Tokenizer& tokenizer, const std::string& source) {
  HeatmapText out;
  out.source = source;
  for (const auto& seq : sequences) {
    for (int32_t id : seq) out.pieces.push_back(valid_utf8(tokenizer.token_bytes(id)));
  }
  out.sequences = std::move(sequences);
  return out;
}

std::vector<float> heatmap_activations(const model::Model& model,
                                       const std::vector<SiteSpace>& sites,
                                       const std::vector<HeatmapNeuron>& rows,
                                       const HeatmapText& text, model::Precision precision) {
  const size_t n = text.n_tokens();
  std::vector<float> out(rows.size() * n, 0.0f);
  int max_len = 1;
  for (const auto& seq : text.sequences)
    max_len = std::max<int>(max_len, static_cast<int>(seq.size()));
  model::ForwardPass forward(model, 1, max_len, precision);
  size_t offset = 0;
  for (const auto& seq : text.sequences) {
    const int T = static_cast<int>(seq.size());
    std::vector<model::CaptureRequest> requests;
    std::vector<std::vector<float>> buffers;
    // One capture per distinct hook point among the rows.
    std::vector<std::pair<size_t, size_t>> keys;
    for (const HeatmapNeuron& r : rows) {
      const std::pair<size_t, size_t> key{r.site, r.layer_index};
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    buffers.resize(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      const SiteSpace& site = sites[keys[i].first];
      buffers[i].resize(static_cast<size_t>(T) * static_cast<size_t>(site.width));
      requests.push_back({site.points[keys[i].second], buffers[i].data()});
    }
    forward.run(seq, 1, T, requests);
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::pair<size_t, size_t> key{rows[r].site, rows[r].layer_index};
      const size_t i = static_cast<size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
      const auto width = static_cast<size_t>(sites[rows[r].site].width);
      for (int t = 0; t < T; ++t) {
        out[r * n + offset + static_cast<size_t>(t)] =
            buffers[i][static_cast<size_t>(t) * width + static_cast<size_t>(rows[r].neuron)];
      }
    }
    offset += static_cast<size_t>(T);
  }
  return out;
}

void write_heatmap(ResultsWriter& out, const std::vector<SiteSpace>& sites,
                   const std::vector<HeatmapNeuron>& rows, const HeatmapText& text,
                   const std::vector<float>& activations) {
  const auto n = static_cast<hsize_t>(text.n_tokens());
  const auto R = static_cast<hsize_t>(rows.size());
  std::vector<int64_t> ids, sequence;
  for (size_t s = 0; s < text.sequences.size(); ++s) {
    for (int32_t id : text.sequences[s]) {
      ids.push_back(id);
      sequence.push_back(static_cast<int64_t>(s));
    }
  }
  std::vector<std::string> site_names, roles;
  std::vector<int64_t> layers, neurons;
  std::vector<double> statistic;
  std::string role_list;
  for (const HeatmapNeuron& r : rows) {
    site_names.push_back(sites[r.site].site);
    roles.push_back(r.role);
    layers.push_back(sites[r.site].layers[r.layer_index]);
    neurons.push_back(r.neuron);
    statistic.push_back(r.statistic);
    role_list += (role_list.empty() ? "" : ",") + r.role;
  }
  out.write_shared("/heatmap/token_id", io::H5Type::I64, {n}, ids.data());
  out.write_shared("/heatmap/sequence", io::H5Type::I64, {n}, sequence.data());
  out.write_shared_strings("/heatmap/token_text", text.pieces);
  out.write_shared("/heatmap/activation", io::H5Type::F32, {R, n}, activations.data());
  out.write_shared_strings("/heatmap/site", site_names);
  out.write_shared_strings("/heatmap/role", roles);
  out.write_shared("/heatmap/layer", io::H5Type::I64, {R}, layers.data());
  out.write_shared("/heatmap/neuron", io::H5Type::I64, {R}, neurons.data());
  out.write_shared("/heatmap/statistic", io::H5Type::F64, {R}, statistic.data());
  out.set_attribute("/heatmap", "source", text.source);
  out.set_attribute("/heatmap", "rows", role_list);
}

std::vector<std::string> heatmap_lines(const model::Model& model,
                                       const std::vector<SiteSpace>& sites,
                                       const std::vector<HeatmapNeuron>& rows,
                                       const HeatmapText& text,
                                       const std::vector<float>& activations, size_t top) {
  (void)model;
  std::vector<std::string> lines;
  const size_t n = text.n_tokens();
  for (size_t r = 0; r < rows.size(); ++r) {
    const HeatmapNeuron& row = rows[r];
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    // min_t rows: the most negative activations are the ones that speak for the neuron.
    const double sign = row.statistic < 0 ? -1.0 : 1.0;
    const size_t k = std::min(top, n);
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(),
                      [&](size_t a, size_t b) {
                        const double va = sign * activations[r * n + a];
                        const double vb = sign * activations[r * n + b];
                        return va != vb ? va > vb : a < b;
                      });
    std::string line = "heatmap " + row.role + " " +
                       model::hook_name(sites[row.site].points[row.layer_index]) + " #" +
                       std::to_string(row.neuron) + " on " + text.source + ":";
    for (size_t i = 0; i < k; ++i) {
      char buf[160];
      std::string piece = text.pieces[order[i]];
      for (char& c : piece) {
        if (c == '\n' || c == '\t') c = ' ';
      }
      std::snprintf(buf, sizeof buf, "%s '%s' %+.2f", i == 0 ? "" : ",", piece.c_str(),
                    static_cast<double>(activations[r * n + order[i]]));
      line += buf;
    }
    lines.push_back(line);
  }
  return lines;
}

}  // namespace neurolens::runner
