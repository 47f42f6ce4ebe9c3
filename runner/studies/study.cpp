#include "runner/studies/study.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "io/error.hpp"
#include "model/synth/plant.hpp"

namespace neurolens::runner {

std::vector<int32_t> word_tokens(const model::Tokenizer& tokenizer, const std::string& word) {
  std::vector<int32_t> ids = tokenizer.encode(" " + word);
  if (ids.empty()) throw Error("word '" + word + "'", "has no tokens", "remove empty words");
  // The ids the word has mid-text after a space: tokens("a word") minus tokens("a"). Alone,
  // " word" may come out differently where a normalizer prepends a space (SentencePiece-style
  // Prepend("\u2581"): " not" -> "\u2581\u2581not" -> "\u2581", "\u2581not"). For byte-level
  // vocabularies (GPT-2, Llama 3) both are the same.
  const std::vector<int32_t> head = tokenizer.encode(kWordProbe);
  const std::vector<int32_t> full = tokenizer.encode(std::string(kWordProbe) + " " + word);
  if (!head.empty() && full.size() > head.size() &&
      std::equal(head.begin(), head.end(), full.begin())) {
    ids.assign(full.begin() + static_cast<long>(head.size()), full.end());
  }
  return ids;
}

std::vector<uint8_t> word_start_flags(const model::Tokenizer& tokenizer) {
  std::vector<uint8_t> flags(static_cast<size_t>(std::max(0, tokenizer.vocab_size())), 0);
  const std::vector<uint8_t> special = special_token_flags(tokenizer);
  for (size_t id = 0; id < flags.size(); ++id) {
    if (special[id]) continue;
    std::string bytes;
    try {
      bytes = tokenizer.token_bytes(static_cast<int32_t>(id));
    } catch (const Error&) {
      continue;  // an id the vocabulary does not use
    }
    flags[id] = !bytes.empty() && bytes[0] == ' ';
  }
  return flags;
}

std::vector<std::string> top_neuron_lines(
    const std::vector<SiteSpace>& sites, const std::vector<GroupStatistics::SiteSummary>& summaries,
    size_t top) {
  std::vector<std::string> lines;
  for (size_t s = 0; s < sites.size(); ++s) {
    const auto& sum = summaries[s];
    std::vector<size_t> order(sum.values.size());
    std::iota(order.begin(), order.end(), 0);
    auto key = [&](size_t k) {
      return std::isfinite(sum.values[k]) ? std::fabs(sum.values[k]) : -1.0;
    };
    const size_t n = std::min(top, order.size());
    std::partial_sort(
        order.begin(), order.begin() + static_cast<long>(n), order.end(),
        [&](size_t a, size_t b) { return key(a) != key(b) ? key(a) > key(b) : a < b; });
    char line[256];
    std::snprintf(line, sizeof line, "%s: %lld of %zu neurons significant", sites[s].site.c_str(),
                  static_cast<long long>(sum.n_significant), sum.values.size());
    lines.push_back(line);
    for (size_t r = 0; r < n; ++r) {
      const size_t k = order[r];
      const int layer = sites[s].layers[k / static_cast<size_t>(sites[s].width)];
      const size_t neuron = k % static_cast<size_t>(sites[s].width);
      std::snprintf(line, sizeof line, "  #%zu layer %d neuron %zu: %s = %+.3f, %s%s", r + 1, layer,
                    neuron, sum.statistic.c_str(), sum.values[k], format_p(sum.p[k]).c_str(),
                    sum.significant[k] ? " (significant)" : "");
      lines.push_back(line);
    }
  }
  return lines;
}

void append_neuron_summary(StudySummary& summary, const RunContext& ctx,
                           const std::vector<GroupStatistics::SiteSummary>& summaries,
                           const std::string& concept_name) {
  const auto top = top_neuron_lines(ctx.sites, summaries, 3);
  summary.lines.insert(summary.lines.end(), top.begin(), top.end());
  const auto planted = planted_lines(ctx.model, ctx.sites, summaries, concept_name);
  summary.lines.insert(summary.lines.end(), planted.begin(), planted.end());
}

void write_neuron_cube(ResultsWriter& out, const SiteSpace& site, const std::string& name,
                       io::H5Type type, const std::vector<hsize_t>& trailing,
                       const std::vector<std::string>& labels, const Block& slice,
                       const void* data) {
  const std::string group = "/" + site.site;
  std::vector<hsize_t> dims = {static_cast<hsize_t>(site.layers.size()),
                               static_cast<hsize_t>(site.width)};
  dims.insert(dims.end(), trailing.begin(), trailing.end());
  io::H5Dataset d = out.file().create_dataset(group + "/" + name, type, dims);
  d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
  d.attach_scale(out.file().open_dataset(group + "/neuron"), 1);
  for (size_t i = 0; i < labels.size() && i < trailing.size(); ++i) {
    d.label_dimension(static_cast<unsigned>(i + 2), labels[i]);
  }
  size_t depth = 1;
  for (hsize_t t : trailing) depth *= static_cast<size_t>(t);
  size_t elem = 4;
  if (type == io::H5Type::I64 || type == io::H5Type::F64) elem = 8;
  if (type == io::H5Type::F16 || type == io::H5Type::BF16) elem = 2;
  if (type == io::H5Type::U8) elem = 1;
  const auto W = static_cast<int64_t>(site.width);
  std::vector<hsize_t> offset(dims.size(), 0), count(dims.size(), 0);
  for (size_t l = 0; l < site.layers.size(); ++l) {
    const int64_t l0 = static_cast<int64_t>(l) * W;
    const int64_t a = std::max(slice.begin, l0), b = std::min(slice.end, l0 + W);
    const hsize_t n = b > a ? static_cast<hsize_t>(b - a) : 0;
    offset[0] = static_cast<hsize_t>(l);
    offset[1] = n > 0 ? static_cast<hsize_t>(a - l0) : 0;
    count[0] = n > 0 ? 1 : 0;
    count[1] = n;
    for (size_t i = 0; i < trailing.size(); ++i) count[i + 2] = n > 0 ? trailing[i] : 0;
    const char* src = static_cast<const char*>(data) +
                      (n > 0 ? static_cast<size_t>(a - slice.begin) * depth * elem : 0);
    d.write_block(offset, count, src);
  }
}

double samples_per_rank(const RunContext& ctx, const PlanCounts& counts) {
  return static_cast<double>(counts.samples) / std::max(1, ctx.comm.size()) + 1;
}

void check_streamed(Study& study, RunContext& ctx, const PlanCounts& counts) {
  std::vector<std::string> warnings;
  collective_check(ctx.comm, [&] { warnings = study.check_plan(ctx, counts); });
  if (ctx.comm.root()) {
    for (const std::string& w : warnings) {
      std::fprintf(stderr, "neurolens: warning: %s\n", w.c_str());
    }
  }
}

std::vector<std::string> planted_lines(const model::Model& model,
                                       const std::vector<SiteSpace>& sites,
                                       const std::vector<GroupStatistics::SiteSummary>& summaries,
                                       const std::string& concept_name) {
  std::vector<std::string> lines;
  for (const model::PlantedNeuron& planted : model::read_planted(model.dir)) {
    if (!concept_name.empty() && planted.concept_name != concept_name) continue;
    for (size_t s = 0; s < sites.size(); ++s) {
      if (sites[s].site != planted.site) continue;
      const auto it = std::find(sites[s].layers.begin(), sites[s].layers.end(), planted.layer);
      if (it == sites[s].layers.end()) continue;
      const size_t k =
          static_cast<size_t>(it - sites[s].layers.begin()) * static_cast<size_t>(sites[s].width) +
          static_cast<size_t>(planted.neuron);
      const auto& sum = summaries[s];
      const double mine = std::fabs(sum.values[k]);
      size_t rank = 1;
      for (double v : sum.values) rank += std::isfinite(v) && std::fabs(v) > mine;
      char line[320];
      std::snprintf(
          line, sizeof line, "planted %s neuron %s #%d: rank %zu of %zu by |%s|, %s = %+.4g, %s%s",
          planted.concept_name.c_str(),
          model::hook_name(sites[s].points[static_cast<size_t>(it - sites[s].layers.begin())])
              .c_str(),
          planted.neuron, rank, sum.values.size(), sum.statistic.c_str(), sum.statistic.c_str(),
          sum.values[k], format_p(sum.p[k]).c_str(),
          sum.significant[k] ? ", significant" : ", NOT significant");
      lines.push_back(line);
    }
  }
  return lines;
}

}  // namespace neurolens::runner
