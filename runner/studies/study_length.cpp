// study = length: activations by token length (the original: GPT-Neo 125M, 16 x 512 FineWeb
// tokens, mlp.hook_pre of all 12 blocks, histograms of the groups shorter / equal / longer than
// the median length).
// Procedure (docs/studies.md, "length"):
//  - Windows: the first `length.sequences` chunks of `length.seq_len` tokens in document order
//    (documents cut into consecutive chunks, tails dropped); every position is a sample. With
//    length.pack = true, as in the original: the documents' tokens concatenated into one stream
//    (no separator) and cut into the first `length.sequences` chunks, so short documents count
//    and chunks may span documents (every rank reads the documents the stream needs).
//  - Length: UTF-8 code points of the token's text; one leading space is not counted unless
//    length.count_leading_space = true (model::planted_token_length).
//  - Median: the lower median of the samples' lengths (always a length that occurs). Groups:
//    label 0 = a = longer, 1 = b = shorter, 2 = equal. The test is a vs b, so t > 0 means the
//    neuron is higher on longer tokens.
//  - One forward pass: moments per group (GroupStatistics, 3 groups) and the rank's activations
//    kept in memory; after the pass, per-layer histogram edges come from the all-reduced min and
//    max (every group, every neuron of the layer: bins equal-width bins, the last edge exactly the
//    max), so the edges never depend on the rank count, and the kept rows are binned. Cost: the
//    activations of all samples, spread over the ranks (4 bytes x samples x neurons).
// Results: GroupStatistics' per-neuron datasets (t, p, mean_a = longer, mean_b = shorter, ...),
// mean_equal / sd_equal [L, W], histogram [L, 3 (longer, shorter, equal), bins] int64 pooled
// over the layer's neurons, histogram_edges [L, bins + 1]; /length: token_length [S] per sample,
// attributes median, n_longer, n_shorter, n_equal, count_leading_space.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "io/error.hpp"
#include "io/text.hpp"
#include "model/synth/plant.hpp"
#include "runner/parallel/sharding.hpp"
#include "runner/studies/sampling_chunks.hpp"
#include "runner/studies/study.hpp"
#include "stats/histogram.hpp"

namespace neurolens::runner {
namespace {

// The [length] section.
struct LengthOptions {
  int sequences = 16;
  int seq_len = 512;
  bool count_leading_space = false;
  int bins = 64;
  bool pack = false;  // one token stream across documents (the original), not chunks per document
};

LengthOptions length_options(const Job& job) {
  const StudyOptions& o = job.options;
  return {o.integer("length.sequences"), o.integer("length.seq_len"),
          o.boolean("length.count_leading_space"), o.integer("length.bins"),
          o.boolean("length.pack")};
}

constexpr int32_t kLonger = 0, kShorter = 1, kEqual = 2;

class LengthStudy : public Study {
 public:
  Plan make_plan(RunContext& ctx) override {
    const Job& job = ctx.job;
    const LengthOptions o = length_options(job);
    if (job.test != TestKind::Welch && job.test != TestKind::Student) {
      throw Error("test", "the length study compares longer vs shorter tokens with a t-test",
                  "use test = welch (default) or test = student");
    }
    check_seq_len(o.seq_len, ctx.model.config, "length.seq_len");
    Plan plan = o.pack ? packed_plan(ctx)
                       : build_plan(*ctx.corpus, ctx.tokenizer, chunk_finder(o.seq_len), ctx.comm,
                                    o.sequences, job.max_tokens);
    // Token lengths, the median and the groups (identical on every rank: the plan is).
    std::vector<int32_t> vocab_length(static_cast<size_t>(ctx.tokenizer.vocab_size()));
    for (int32_t id = 0; id < ctx.tokenizer.vocab_size(); ++id) {
      const std::string bytes = ctx.tokenizer.token_bytes(id);
      vocab_length[static_cast<size_t>(id)] =
          model::planted_token_length(bytes) +
          (o.count_leading_space && !bytes.empty() && bytes[0] == ' ' ? 1 : 0);
    }
    lengths_.clear();
    for (const Sample& s : plan.samples) {
      lengths_.push_back(s.token >= 0 && s.token < ctx.tokenizer.vocab_size()
                             ? vocab_length[static_cast<size_t>(s.token)]
                             : 0);
    }
    median_ = 0;
    if (!lengths_.empty()) {
      std::vector<int32_t> sorted = lengths_;
      const auto mid = sorted.begin() + static_cast<long>((sorted.size() - 1) / 2);
      std::nth_element(sorted.begin(), mid, sorted.end());
      median_ = *mid;
    }
    for (size_t i = 0; i < plan.samples.size(); ++i) {
      plan.samples[i].label = lengths_[i] > median_   ? kLonger
                              : lengths_[i] < median_ ? kShorter
                                                      : kEqual;
    }
    return plan;
  }

  std::vector<std::string> check_plan(RunContext& ctx, const Plan& plan) override {
    const LengthOptions o = length_options(ctx.job);
    std::vector<std::string> warnings;
    const auto n_windows = static_cast<int64_t>(plan.windows.size());
    if (n_windows == 0) {
      throw Error(
          "length.seq_len",
          std::string(o.pack ? "the corpus has fewer than " : "no document of the corpus has ") +
              std::to_string(o.seq_len) + " tokens (" + std::to_string(plan.documents) +
              " documents, " + std::to_string(plan.corpus_tokens) + " tokens)",
          "use a larger corpus or a smaller length.seq_len");
    }
    if (n_windows < o.sequences) {
      warnings.push_back("length: the corpus gives only " + std::to_string(n_windows) + " of the " +
                         std::to_string(o.sequences) + " requested chunks of " +
                         std::to_string(o.seq_len) + " tokens (" + std::to_string(plan.documents) +
                         " documents, " + std::to_string(plan.corpus_tokens) + " tokens)");
    }
    const int64_t longer = plan.label_count(kLonger), shorter = plan.label_count(kShorter);
    const int64_t equal = plan.label_count(kEqual);
    if (longer < 2 || shorter < 2) {
      throw Error("length",
                  "groups too small for a test: " + std::to_string(longer) + " longer, " +
                      std::to_string(equal) + " equal, " + std::to_string(shorter) +
                      " shorter than the median length " + std::to_string(median_) + " (" +
                      std::to_string(plan.samples.size()) + " tokens)",
                  "use text with tokens of varied lengths (each group needs 2 or more)");
    }
    return warnings;
  }

  StudySummary run(RunContext& ctx, const Plan& plan, const OpenResults& open) override {
    const Comm& comm = ctx.comm;
    const LengthOptions o = length_options(ctx.job);
    // Rows are kept for the histograms (and written as /samples when save_samples).
    GroupStatistics stats(ctx.sites, 3, GroupStatistics::Mode::TwoGroup, true);
    run_batches(ctx, plan, stats);

    const auto t_reduce = std::chrono::steady_clock::now();
    struct SiteExtra {
      Block slice;
      std::vector<double> mean_equal, sd_equal;
      double n_equal = 0;
      std::vector<int64_t> histogram;  // [L, 3, bins]
      std::vector<double> edges;       // [L, bins + 1]
    };
    std::vector<SiteExtra> extras(ctx.sites.size());
    const auto bins = static_cast<size_t>(o.bins);
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const SiteSpace& site = ctx.sites[s];
      SiteExtra& e = extras[s];
      const std::vector<int64_t> offsets = block_offsets(site.neurons(), comm.size());
      e.slice = {offsets[static_cast<size_t>(comm.rank())],
                 offsets[static_cast<size_t>(comm.rank()) + 1]};
      const stats::GroupMoments eq =
          from_records(comm.reduce_scatter_moments(to_records(stats.moments(s, kEqual)), offsets));
      e.n_equal = comm.allreduce_max(eq.count());
      e.mean_equal.assign(eq.mean().begin(), eq.mean().end());
      for (size_t k = 0; k < eq.neurons(); ++k) e.sd_equal.push_back(std::sqrt(eq.variance(k)));

      // Per-layer range over every group and neuron, all ranks.
      const auto L = site.layers.size();
      const auto W = static_cast<size_t>(site.width);
      std::vector<double> lo(L, std::numeric_limits<double>::infinity());
      std::vector<double> hi(L, -std::numeric_limits<double>::infinity());
      for (int g = 0; g < 3; ++g) {
        const stats::GroupMoments& m = stats.moments(s, g);
        if (m.count() <= 0) continue;
        for (size_t k = 0; k < m.neurons(); ++k) {
          lo[k / W] = std::min(lo[k / W], m.min()[k]);
          hi[k / W] = std::max(hi[k / W], m.max()[k]);
        }
      }
      comm.allreduce_min(lo);
      comm.allreduce_max(hi);
      e.histogram.assign(L * 3 * bins, 0);
      const std::vector<float>& rows = stats.kept_rows(s);
      const std::vector<int64_t>& ids = stats.kept_sample_ids();
      const size_t K = L * W;
      std::vector<std::vector<float>> part(3);
      for (size_t l = 0; l < L; ++l) {
        double a = lo[l], b = hi[l];
        if (!(a < b)) {  // a constant layer: one unit around the value
          a -= 0.5;
          b += 0.5;
        }
        const std::vector<double> edges = stats::Histogram::uniform_edges(a, b, bins);
        e.edges.insert(e.edges.end(), edges.begin(), edges.end());
        for (auto& p : part) p.clear();
        for (size_t i = 0; i < ids.size(); ++i) {
          const int32_t label = plan.samples[static_cast<size_t>(ids[i])].label;
          const float* row = rows.data() + i * K + l * W;
          part[static_cast<size_t>(label)].insert(part[static_cast<size_t>(label)].end(), row,
                                                  row + W);
        }
        for (int g = 0; g < 3; ++g) {
          stats::Histogram h(edges, W, stats::Histogram::Scope::Pooled);
          const size_t n = part[static_cast<size_t>(g)].size() / W;
          if (n > 0) h.add(part[static_cast<size_t>(g)], n, W);
          const auto counts = h.counts(0);  // [underflow, bins..., overflow]: both 0 here
          for (size_t bin = 0; bin < bins; ++bin) {
            e.histogram[(l * 3 + static_cast<size_t>(g)) * bins + bin] =
                static_cast<int64_t>(counts[bin + 1]);
          }
        }
      }
      comm.allreduce_sum(std::span<int64_t>(e.histogram));
    }
    ctx.times.reduce += seconds_since(t_reduce);

    ResultsWriter& out = open();
    stats.finalize(ctx, plan, out);
    const auto& summaries = stats.summaries();
    const auto t_write = std::chrono::steady_clock::now();
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const SiteSpace& site = ctx.sites[s];
      const SiteExtra& e = extras[s];
      const std::string group = "/" + site.site;
      out.write_neuron_slice(site, "mean_equal", e.slice.begin, e.mean_equal);
      out.write_neuron_slice(site, "sd_equal", e.slice.begin, e.sd_equal);
      const auto L = static_cast<hsize_t>(site.layers.size());
      {
        io::H5Dataset d = out.file().create_dataset(group + "/histogram", io::H5Type::I64,
                                                    {L, 3, static_cast<hsize_t>(bins)});
        d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
        d.label_dimension(1, "group");
        d.label_dimension(2, "bin");
        const hsize_t zero[3] = {0, 0, 0};
        const hsize_t count[3] = {ctx.comm.root() ? L : 0, 3, static_cast<hsize_t>(bins)};
        d.write_block(zero, count, e.histogram.data());
        d.set_attribute("groups", std::string("longer, shorter, equal"));
      }
      {
        io::H5Dataset d = out.file().create_dataset(group + "/histogram_edges", io::H5Type::F64,
                                                    {L, static_cast<hsize_t>(bins) + 1});
        d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
        d.label_dimension(1, "edge");
        d.write_flat_range(0, ctx.comm.root() ? e.edges.size() : 0, e.edges.data());
      }
      out.set_attribute(group, "n_equal", static_cast<int64_t>(e.n_equal));
      out.set_attribute(group, "group_a", std::string("longer"));
      out.set_attribute(group, "group_b", std::string("shorter"));
    }
    out.file().create_group("/length");
    out.write_shared("/length/token_length", io::H5Type::I32,
                     {static_cast<hsize_t>(lengths_.size())}, lengths_.data());
    const int64_t longer = plan.label_count(kLonger), shorter = plan.label_count(kShorter);
    const int64_t equal = plan.label_count(kEqual);
    out.set_attribute("/length", "median", static_cast<int64_t>(median_));
    out.set_attribute("/length", "n_longer", longer);
    out.set_attribute("/length", "n_shorter", shorter);
    out.set_attribute("/length", "n_equal", equal);
    out.set_attribute("/length", "count_leading_space",
                      static_cast<int64_t>(o.count_leading_space));
    out.set_attribute("/length", "sequences", static_cast<int64_t>(plan.windows.size()));
    out.set_attribute("/length", "seq_len", static_cast<int64_t>(o.seq_len));
    out.set_attribute("/length", "bins", static_cast<int64_t>(o.bins));
    out.set_attribute("/length", "groups",
                      std::string("a = longer (label 0), b = shorter (label 1), "
                                  "equal (label 2); t > 0: higher on longer tokens"));
    ctx.times.write += seconds_since(t_write);

    StudySummary summary;
    char line[320];
    std::snprintf(line, sizeof line,
                  "length: median %d characters (leading space %s); %lld longer, %lld equal, "
                  "%lld shorter of %zu tokens in %zu windows; t > 0: higher on longer tokens",
                  median_, o.count_leading_space ? "counted" : "not counted",
                  static_cast<long long>(longer), static_cast<long long>(equal),
                  static_cast<long long>(shorter), plan.samples.size(), plan.windows.size());
    summary.lines.push_back(line);
    append_neuron_summary(summary, ctx, summaries, "token_length");
    return summary;
  }

  double extra_memory(const RunContext& ctx, const Plan& plan) const override {
    double bytes = 0;
    const double per_rank = samples_per_rank(ctx, plan);
    for (const SiteSpace& s : ctx.sites) {
      const double K = static_cast<double>(s.neurons());
      bytes += 3.0 * 4 * 8 * K;         // moments of three groups
      bytes += per_rank * 4.0 * K * 2;  // kept rows and one layer's regrouped copy
    }
    return bytes;
  }

 private:
  // length.pack: documents in order, their tokens concatenated, cut into chunks of seq_len until
  // `sequences` chunks (or the corpus, or max_tokens) run out. The same on every rank.
  static Plan packed_plan(RunContext& ctx) {
    const LengthOptions o = length_options(ctx.job);
    const int64_t wanted = static_cast<int64_t>(o.sequences) * o.seq_len;
    std::vector<int32_t> stream;
    int64_t documents = 0, corpus_tokens = 0;
    collective_check(ctx.comm, [&] {
      const size_t n_docs = ctx.corpus->n_documents();
      for (size_t d = 0; d < n_docs && static_cast<int64_t>(stream.size()) < wanted; ++d) {
        if (ctx.job.max_tokens > 0 && corpus_tokens >= ctx.job.max_tokens) break;
        const std::vector<int32_t> tokens = encode_document(ctx.corpus->read(d), ctx.tokenizer);
        documents += 1;
        corpus_tokens += static_cast<int64_t>(tokens.size());
        stream.insert(stream.end(), tokens.begin(), tokens.end());
      }
    });
    const int64_t chunks =
        std::min<int64_t>(o.sequences, static_cast<int64_t>(stream.size()) / o.seq_len);
    std::vector<WindowSpec> windows;
    std::vector<Sample> samples;
    for (int64_t c = 0; c < chunks; ++c) {
      WindowSpec w;
      w.document = -1;
      w.length = o.seq_len;
      const auto begin = stream.begin() + c * o.seq_len;
      w.tokens.assign(begin, begin + o.seq_len);
      for (int32_t p = 0; p < o.seq_len; ++p) {
        samples.push_back({c, p, 0, -1, w.tokens[static_cast<size_t>(p)], -1});
      }
      windows.push_back(std::move(w));
    }
    Plan plan = plan_from_windows(std::move(windows), std::move(samples));
    plan.documents = documents;
    plan.corpus_tokens = corpus_tokens;
    return plan;
  }

  std::vector<int32_t> lengths_;  // [S] token length of every sample
  int32_t median_ = 0;
};

}  // namespace

const StudySpec& length_study_spec() {
  static const StudySpec spec{
      .name = "length",
      .summary = "token length: two-group tests of longer vs shorter tokens, histograms",
      .keys = {{.name = "sequences",
                .default_value = "16",
                .help = "sequences",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 20},
               {.name = "seq_len",
                .default_value = "512",
                .help = "tokens per sequence",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 20},
               {.name = "count_leading_space",
                .default_value = "false",
                .help = "count a token's leading space in its length",
                .type = KeyType::Boolean},
               {.name = "bins",
                .default_value = "64",
                .help = "histogram bins",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 16},
               {.name = "pack",
                .default_value = "false",
                .help = "cut sequences from the documents concatenated into one token stream "
                        "(the original) instead of from each document",
                .type = KeyType::Boolean}},
      .tests = {TestKind::Welch, TestKind::Student, TestKind::Logistic},
      .default_test = TestKind::Welch,
      .refuses_test = "has no pairs",
      .needs_corpus = true,
      .make = [] { return std::make_unique<LengthStudy>(); },
  };
  return spec;
}

}  // namespace neurolens::runner
