// study = length: activations by token length (the original: GPT-Neo 125M, 16 x 512 FineWeb
// tokens, mlp.hook_pre of all 12 blocks, histograms of the groups shorter / equal / longer than
// the median length).
// Procedure (docs/studies.md, "length"):
//  - Windows: the first `length.sequences` chunks of `length.seq_len` tokens in document order
//    (documents cut into consecutive chunks, tails dropped); every position is a sample. The
//    corpus is STREAMED (each rank reads its own segments; runner/engine/corpus_stream.hpp), so
//    memory does not grow with the corpus or with length.sequences. With length.pack = true, as
//    in the original: the documents' tokens concatenated into one stream (no separator) and cut
//    into the first `length.sequences` chunks (a global plan: every rank reads the documents the
//    stream needs; bounded by sequences x seq_len tokens). With a tokenizer that adds a BOS
//    (Llama 2, Mistral, Gemma), every chunk is the BOS followed by seq_len - 1 tokens of the
//    stream of the documents without their BOS (no BOS inside a chunk).
//  - Special tokens (a document's BOS, EOS, added special tokens) are never samples.
//  - Length: UTF-8 code points of the token's text; one leading space is not counted unless
//    length.count_leading_space = true (model::planted_token_length).
//  - Median: the lower median of the samples' lengths (always a length that occurs). Groups:
//    label 0 = a = longer, 1 = b = shorter, 2 = equal. The test is a vs b, so t > 0 means the
//    neuron is higher on longer tokens.
//  - One pass, exact moments without knowing the median in advance: moments are kept per token
//    LENGTH (one GroupMoments per length that occurs, at most the vocabulary's longest token),
//    and after the pass the classes above / below / at the global median are merged (Chan) into
//    the three groups.
//  - Histograms, streaming: per-layer edges are fixed BEFORE the pass from a pilot, the corpus's
//    first `length.pilot_sequences` chunks (the same on every rank count): `bins` equal-width
//    bins over the pilot's [min, max] widened by 10% of the range on each side; values outside
//    fall in underflow / overflow counts, which are written too, with each layer's exact min and
//    max. Trade-off: no second pass over the corpus (whose cost would double the run), at the
//    price of edges that may not reach the extremes of a long run. Pooled per layer and group
//    (per length class during the pass), and per neuron over all tokens.
// Results: GroupStatistics' per-neuron datasets (t, p, mean_a = longer, mean_b = shorter, ...),
// mean_equal / sd_equal [L, W], histogram [L, 3 (longer, shorter, equal), bins] int64 pooled over
// the layer's neurons, histogram_underflow / histogram_overflow [L, 3], histogram_edges
// [L, bins + 1], neuron_histogram [L, W, bins + 2] (all tokens; bin 0 underflow, last overflow),
// layer_min / layer_max [L]; /length: length_count [longest + 1] (samples per token length),
// attributes median, n_longer, n_shorter, n_equal, count_leading_space.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>

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
  int pilot_sequences = 16;
  bool pack = false;  // one token stream across documents (the original), not chunks per document
};

LengthOptions length_options(const Job& job) {
  const StudyOptions& o = job.options;
  return {o.integer("length.sequences"),           o.integer("length.seq_len"),
          o.boolean("length.count_leading_space"), o.integer("length.bins"),
          o.integer("length.pilot_sequences"),     o.boolean("length.pack")};
}

constexpr int32_t kLonger = 0, kShorter = 1, kEqual = 2;

// Per-layer [min, max] of a pilot's activations (the histogram edges' range).
class RangeAccumulator : public Accumulator {
 public:
  explicit RangeAccumulator(const std::vector<SiteSpace>& sites) : sites_(sites) {
    for (const SiteSpace& s : sites_) {
      lo_.emplace_back(s.layers.size(), std::numeric_limits<double>::infinity());
      hi_.emplace_back(s.layers.size(), -std::numeric_limits<double>::infinity());
    }
  }
  void add(const SampleBatch& b) override {
    for (size_t s = 0; s < sites_.size(); ++s) {
      const auto W = static_cast<size_t>(sites_[s].width);
      const size_t K = W * sites_[s].layers.size();
      for (size_t i = 0; i < b.samples.size(); ++i) {
        const float* row = b.rows[s].data() + i * K;
        for (size_t k = 0; k < K; ++k) {
          const double v = row[k];
          if (!std::isfinite(v)) continue;
          lo_[s][k / W] = std::min(lo_[s][k / W], v);
          hi_[s][k / W] = std::max(hi_[s][k / W], v);
        }
      }
    }
  }
  std::vector<double> save_state() const override { return {}; }
  void load_state(std::span<const double>) override {}
  void finalize(RunContext&, const Plan&, ResultsWriter&) override {}
  // Collective: the edges of every site's layers, [L, bins + 1] per site.
  std::vector<std::vector<double>> edges(const Comm& comm, size_t bins) {
    std::vector<std::vector<double>> out;
    for (size_t s = 0; s < sites_.size(); ++s) {
      comm.allreduce_min(lo_[s]);
      comm.allreduce_max(hi_[s]);
      std::vector<double> e;
      for (size_t l = 0; l < lo_[s].size(); ++l) {
        double a = lo_[s][l], b = hi_[s][l];
        if (!std::isfinite(a) || !std::isfinite(b)) a = b = 0;
        const double margin = 0.1 * (b - a);
        a -= margin;
        b += margin;
        if (!(a < b)) {  // a constant layer: one unit around the value
          a -= 0.5;
          b += 0.5;
        }
        const std::vector<double> le = stats::Histogram::uniform_edges(a, b, bins);
        e.insert(e.end(), le.begin(), le.end());
      }
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  const std::vector<SiteSpace>& sites_;
  std::vector<std::vector<double>> lo_, hi_;  // [site][layer]
};

// Moments and pooled histograms per token-length class, per-neuron histograms over all tokens.
class LengthAccumulator : public Accumulator {
 public:
  LengthAccumulator(const std::vector<SiteSpace>& sites, const std::vector<int32_t>& vocab_length,
                    std::vector<std::vector<double>> edges, size_t bins, GroupStatistics& spill)
      : sites_(sites),
        vocab_length_(vocab_length),
        edges_(std::move(edges)),
        bins_(bins),
        spill_(spill) {
    int32_t longest = 0;
    for (int32_t v : vocab_length_) longest = std::max(longest, v);
    n_classes_ = static_cast<size_t>(longest) + 1;
    class_count_.assign(n_classes_, 0);
    moments_.resize(sites_.size());
    pooled_.resize(sites_.size());
    per_neuron_.resize(sites_.size());
    for (size_t s = 0; s < sites_.size(); ++s) {
      moments_[s].resize(n_classes_);
      const size_t L = sites_[s].layers.size();
      const auto W = static_cast<size_t>(sites_[s].width);
      pooled_[s].assign(L * n_classes_ * (bins_ + 2), 0);
      per_neuron_[s].assign(L * W * (bins_ + 2), 0);
    }
  }

  void add(const SampleBatch& b) override {
    spill_.spill(b);  // save_samples
    std::vector<std::vector<size_t>> by_class(n_classes_);
    for (size_t i = 0; i < b.samples.size(); ++i)
      by_class[length_class(b.samples[i].token)].push_back(i);
    for (size_t c = 0; c < n_classes_; ++c)
      class_count_[c] += static_cast<int64_t>(by_class[c].size());
    std::vector<float> rows;
    for (size_t s = 0; s < sites_.size(); ++s) {
      const auto W = static_cast<size_t>(sites_[s].width);
      const size_t L = sites_[s].layers.size();
      const size_t K = W * L;
      const std::vector<float>& all = b.rows[s];
      for (size_t c = 0; c < n_classes_; ++c) {
        const auto& members = by_class[c];
        if (members.empty()) continue;
        rows.resize(members.size() * K);
        for (size_t j = 0; j < members.size(); ++j) {
          std::copy_n(all.data() + members[j] * K, K, rows.data() + j * K);
        }
        if (!moments_[s][c]) moments_[s][c] = std::make_unique<stats::GroupMoments>(K);
        moments_[s][c]->add(rows, members.size(), K);
        // Pooled counts go to 4 interleaved partial histograms first: activations cluster in a
        // few bins, and one counter incremented back to back serializes on its store.
        const size_t H = bins_ + 2;
        pooled_parts_.resize(4 * H);
        for (size_t l = 0; l < L; ++l) {
          const double* e = edges_[s].data() + l * (bins_ + 1);
          int64_t* pooled = pooled_[s].data() + (l * n_classes_ + c) * H;
          int64_t* neuron = per_neuron_[s].data() + l * W * H;
          const double lo = e[0], hi = e[bins_], scale = static_cast<double>(bins_) / (hi - lo);
          std::fill(pooled_parts_.begin(), pooled_parts_.end(), 0);
          for (size_t j = 0; j < members.size(); ++j) {
            const float* row = rows.data() + j * K + l * W;
            for (size_t w = 0; w < W; ++w) {
              const double v = row[w];
              size_t bin;
              if (v < lo) {
                bin = 0;
              } else if (v > hi) {
                bin = bins_ + 1;
              } else {
                bin = std::min(bins_ - 1, static_cast<size_t>((v - lo) * scale)) + 1;
                // Equal-width edges computed in double: settle values on an edge by the edges.
                while (bin > 1 && v < e[bin - 1]) --bin;
                while (bin < bins_ && v >= e[bin]) ++bin;
              }
              pooled_parts_[(w & 3) * H + bin] += 1;
              neuron[w * H + bin] += 1;
            }
          }
          for (size_t k = 0; k < H; ++k) {
            pooled[k] += pooled_parts_[k] + pooled_parts_[H + k] + pooled_parts_[2 * H + k] +
                         pooled_parts_[3 * H + k];
          }
        }
      }
    }
  }

  std::vector<double> save_state() const override {
    std::vector<double> out(class_count_.begin(), class_count_.end());
    for (size_t s = 0; s < sites_.size(); ++s) {
      const size_t K = static_cast<size_t>(sites_[s].neurons());
      for (size_t c = 0; c < n_classes_; ++c) {
        const stats::GroupMoments m = moments_[s][c] ? *moments_[s][c] : stats::GroupMoments(K);
        const std::vector<double> v = m.serialize();
        out.insert(out.end(), v.begin(), v.end());
      }
      out.insert(out.end(), pooled_[s].begin(), pooled_[s].end());
      out.insert(out.end(), per_neuron_[s].begin(), per_neuron_[s].end());
    }
    return out;
  }

  void load_state(std::span<const double> state) override {
    size_t i = 0;
    auto take = [&](size_t n) {
      if (i + n > state.size()) {
        throw Error("checkpoint", "does not match this length job", "start without --resume");
      }
      std::span<const double> v = state.subspan(i, n);
      i += n;
      return v;
    };
    auto counts = take(n_classes_);
    for (size_t c = 0; c < n_classes_; ++c) class_count_[c] = static_cast<int64_t>(counts[c]);
    for (size_t s = 0; s < sites_.size(); ++s) {
      const size_t K = static_cast<size_t>(sites_[s].neurons());
      for (size_t c = 0; c < n_classes_; ++c) {
        stats::GroupMoments m = stats::GroupMoments::deserialize(take(2 + 4 * K));
        moments_[s][c] = m.count() > 0 ? std::make_unique<stats::GroupMoments>(m) : nullptr;
      }
      auto pooled = take(pooled_[s].size());
      for (size_t j = 0; j < pooled.size(); ++j) pooled_[s][j] = static_cast<int64_t>(pooled[j]);
      auto neuron = take(per_neuron_[s].size());
      for (size_t j = 0; j < neuron.size(); ++j)
        per_neuron_[s][j] = static_cast<int64_t>(neuron[j]);
    }
    if (i != state.size()) {
      throw Error("checkpoint", "does not match this length job", "start without --resume");
    }
  }

  void finalize(RunContext&, const Plan&, ResultsWriter&) override {}

  size_t length_class(int32_t token) const {
    return token >= 0 && static_cast<size_t>(token) < vocab_length_.size()
               ? static_cast<size_t>(vocab_length_[static_cast<size_t>(token)])
               : 0;
  }
  size_t n_classes() const { return n_classes_; }
  std::vector<int64_t>& class_count() { return class_count_; }
  // The merged moments of the classes for which `in(c)` holds (this rank's samples).
  template <class In>
  stats::GroupMoments merged(size_t s, In in) const {
    stats::GroupMoments m(static_cast<size_t>(sites_[s].neurons()));
    for (size_t c = 0; c < n_classes_; ++c) {
      if (in(c) && moments_[s][c]) m.merge(*moments_[s][c]);
    }
    return m;
  }
  std::vector<int64_t>& pooled(size_t s) { return pooled_[s]; }          // [L, classes, bins + 2]
  std::vector<int64_t>& per_neuron(size_t s) { return per_neuron_[s]; }  // [L, W, bins + 2]
  const std::vector<double>& edges(size_t s) const { return edges_[s]; }

 private:
  const std::vector<SiteSpace>& sites_;
  const std::vector<int32_t>& vocab_length_;
  std::vector<std::vector<double>> edges_;  // [site][L * (bins + 1)]
  size_t bins_;
  std::vector<int64_t> pooled_parts_;  // [4, bins + 2] scratch of add()
  size_t n_classes_ = 1;
  std::vector<int64_t> class_count_;                                        // [classes]
  std::vector<std::vector<std::unique_ptr<stats::GroupMoments>>> moments_;  // [site][class]
  std::vector<std::vector<int64_t>> pooled_, per_neuron_;
  GroupStatistics& spill_;
};

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
    vocab_length_.assign(static_cast<size_t>(ctx.tokenizer.vocab_size()), 0);
    for (int32_t id = 0; id < ctx.tokenizer.vocab_size(); ++id) {
      const std::string bytes = ctx.tokenizer.token_bytes(id);
      vocab_length_[static_cast<size_t>(id)] =
          model::planted_token_length(bytes) +
          (o.count_leading_space && !bytes.empty() && bytes[0] == ' ' ? 1 : 0);
    }
    if (o.pack) return packed_plan(ctx);
    return {};  // streamed: run() reads the corpus
  }

  bool streamed() const override { return !pack_; }
  WindowFinder finder(RunContext& ctx) override {
    return chunk_finder(length_options(ctx.job).seq_len, true, special_token_flags(ctx.tokenizer));
  }
  StreamLimits limits(const RunContext& ctx) const override {
    return {length_options(ctx.job).sequences, ctx.job.max_tokens};
  }

  std::vector<std::string> check_plan(RunContext& ctx, const PlanCounts& plan) override {
    const LengthOptions o = length_options(ctx.job);
    std::vector<std::string> warnings;
    const int64_t n_windows = plan.windows;
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
    // Groups from the lengths of the samples (their token ids' classes).
    if (!class_count_.empty()) {
      int64_t longer = 0, shorter = 0, equal = 0;
      for (size_t c = 0; c < class_count_.size(); ++c) {
        const int64_t n = class_count_[c];
        (static_cast<int32_t>(c) > median_   ? longer
         : static_cast<int32_t>(c) < median_ ? shorter
                                             : equal) += n;
      }
      if (longer < 2 || shorter < 2) {
        throw Error("length",
                    "groups too small for a test: " + std::to_string(longer) + " longer, " +
                        std::to_string(equal) + " equal, " + std::to_string(shorter) +
                        " shorter than the median length " + std::to_string(median_) + " (" +
                        std::to_string(plan.samples) + " tokens)",
                    "use text with tokens of varied lengths (each group needs 2 or more)");
      }
    }
    return warnings;
  }

  StudySummary run(RunContext& ctx, const Plan& plan, const OpenResults& open) override {
    const Comm& comm = ctx.comm;
    const LengthOptions o = length_options(ctx.job);
    const auto bins = static_cast<size_t>(o.bins);

    // 1. The pilot: per-layer ranges of the corpus's first chunks (or of the packed plan's).
    const auto t_pilot = std::chrono::steady_clock::now();
    RangeAccumulator range(ctx.sites);
    Plan pilot;
    collective_check(comm, [&] {
      pilot = o.pack ? head_of(plan, o.pilot_sequences)
                     : build_plan(*ctx.corpus, ctx.tokenizer, finder(ctx), comm,
                                  std::min(o.pilot_sequences, o.sequences), ctx.job.max_tokens);
    });
    pilot.make_batches(ctx.job.batch_size);
    if (!pilot.windows.empty()) {
      Job pilot_job = ctx.job;
      pilot_job.resume = false;
      pilot_job.checkpoint_every = 0;
      RunContext pilot_ctx{pilot_job, comm, ctx.model, ctx.tokenizer, ctx.corpus, ctx.sites, {}, 0};
      run_batches(pilot_ctx, pilot, range);
      ctx.times.forward += pilot_ctx.times.forward;
    }
    std::vector<std::vector<double>> edges = range.edges(comm, bins);
    pilot_seconds_ = seconds_since(t_pilot);

    // 2. The pass: moments per length class, histograms (and save_samples' rows, spilled).
    GroupStatistics stats(ctx.sites, 3, GroupStatistics::Mode::TwoGroup, false);
    if (ctx.job.save_samples) stats.spill_samples(ctx.job.output, comm.rank());
    LengthAccumulator acc(ctx.sites, vocab_length_, std::move(edges), bins, stats);
    PlanCounts counts;
    if (o.pack) {
      run_batches(ctx, plan, acc);
      counts = count_plan(plan, comm.size());
    } else {
      counts = stream_batches(ctx, finder(ctx), limits(ctx), acc);
    }
    ctx.n_windows = counts.windows;
    ctx.n_samples = counts.samples;

    // 3. The median of the lengths over all ranks, the groups, the checks.
    const auto t_reduce = std::chrono::steady_clock::now();
    class_count_ = acc.class_count();
    comm.allreduce_sum(std::span<int64_t>(class_count_));
    median_ = lower_median(class_count_);
    if (o.pack) {
      collective_check(comm, [&] { check_plan(ctx, counts); });  // warnings printed before
    } else {
      check_streamed(*this, ctx, counts);
    }
    int64_t n_group[3] = {0, 0, 0};
    for (size_t c = 0; c < class_count_.size(); ++c) {
      n_group[static_cast<size_t>(group_of(c))] += class_count_[c];
    }

    struct SiteExtra {
      Block slice;
      std::vector<double> mean_equal, sd_equal;
      double n_equal = 0;
      std::vector<int64_t> histogram;            // [L, 3, bins]
      std::vector<int64_t> under, over;          // [L, 3]
      std::vector<double> layer_min, layer_max;  // [L]
    };
    std::vector<SiteExtra> extras(ctx.sites.size());
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const SiteSpace& site = ctx.sites[s];
      SiteExtra& e = extras[s];
      for (int g = 0; g < 3; ++g) {
        stats.set_moments(s, g, acc.merged(s, [&](size_t c) { return group_of(c) == g; }));
      }
      const std::vector<int64_t> offsets = block_offsets(site.neurons(), comm.size());
      e.slice = {offsets[static_cast<size_t>(comm.rank())],
                 offsets[static_cast<size_t>(comm.rank()) + 1]};
      const stats::GroupMoments eq =
          from_records(comm.reduce_scatter_moments(to_records(stats.moments(s, kEqual)), offsets));
      e.n_equal = comm.allreduce_max(eq.count());
      e.mean_equal.assign(eq.mean().begin(), eq.mean().end());
      for (size_t k = 0; k < eq.neurons(); ++k) e.sd_equal.push_back(std::sqrt(eq.variance(k)));

      const size_t L = site.layers.size();
      const auto W = static_cast<size_t>(site.width);
      // Exact per-layer extremes from the moments.
      e.layer_min.assign(L, std::numeric_limits<double>::infinity());
      e.layer_max.assign(L, -std::numeric_limits<double>::infinity());
      for (int g = 0; g < 3; ++g) {
        const stats::GroupMoments& m = stats.moments(s, g);
        if (m.count() <= 0) continue;
        for (size_t k = 0; k < m.neurons(); ++k) {
          e.layer_min[k / W] = std::min(e.layer_min[k / W], m.min()[k]);
          e.layer_max[k / W] = std::max(e.layer_max[k / W], m.max()[k]);
        }
      }
      comm.allreduce_min(e.layer_min);
      comm.allreduce_max(e.layer_max);
      std::vector<int64_t>& pooled = acc.pooled(s);
      comm.allreduce_sum(std::span<int64_t>(pooled));
      comm.allreduce_sum(std::span<int64_t>(acc.per_neuron(s)));
      e.histogram.assign(L * 3 * bins, 0);
      e.under.assign(L * 3, 0);
      e.over.assign(L * 3, 0);
      const size_t classes = acc.n_classes();
      for (size_t l = 0; l < L; ++l) {
        for (size_t c = 0; c < classes; ++c) {
          const auto g = static_cast<size_t>(group_of(c));
          const int64_t* h = pooled.data() + (l * classes + c) * (bins + 2);
          e.under[l * 3 + g] += h[0];
          e.over[l * 3 + g] += h[bins + 1];
          for (size_t b = 0; b < bins; ++b) e.histogram[(l * 3 + g) * bins + b] += h[b + 1];
        }
      }
    }
    ctx.times.reduce += seconds_since(t_reduce);

    ResultsWriter& out = open();
    stats.finalize(ctx, Plan{}, out);
    const auto& summaries = stats.summaries();
    const auto t_write = std::chrono::steady_clock::now();
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const SiteSpace& site = ctx.sites[s];
      const SiteExtra& e = extras[s];
      const std::string group = "/" + site.site;
      out.write_neuron_slice(site, "mean_equal", e.slice.begin, e.mean_equal);
      out.write_neuron_slice(site, "sd_equal", e.slice.begin, e.sd_equal);
      const auto L = static_cast<hsize_t>(site.layers.size());
      const bool root = ctx.comm.root();
      {
        io::H5Dataset d = out.file().create_dataset(group + "/histogram", io::H5Type::I64,
                                                    {L, 3, static_cast<hsize_t>(bins)});
        d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
        d.label_dimension(1, "group");
        d.label_dimension(2, "bin");
        const hsize_t zero[3] = {0, 0, 0};
        const hsize_t count[3] = {root ? L : 0, 3, static_cast<hsize_t>(bins)};
        d.write_block(zero, count, e.histogram.data());
        d.set_attribute("groups", std::string("longer, shorter, equal"));
      }
      for (const char* name : {"histogram_underflow", "histogram_overflow"}) {
        io::H5Dataset d = out.file().create_dataset(group + "/" + name, io::H5Type::I64, {L, 3});
        d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
        d.label_dimension(1, "group");
        const std::vector<int64_t>& v =
            std::string(name) == "histogram_underflow" ? e.under : e.over;
        d.write_flat_range(0, root ? v.size() : 0, v.data());
      }
      {
        io::H5Dataset d = out.file().create_dataset(group + "/histogram_edges", io::H5Type::F64,
                                                    {L, static_cast<hsize_t>(bins) + 1});
        d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
        d.label_dimension(1, "edge");
        d.write_flat_range(0, root ? acc.edges(s).size() : 0, acc.edges(s).data());
        d.set_attribute("pilot_sequences", static_cast<int64_t>(pilot.windows.size()));
      }
      {
        const std::vector<int64_t>& h = acc.per_neuron(s);
        io::H5Dataset d = out.file().create_dataset(
            group + "/neuron_histogram", io::H5Type::I64,
            {L, static_cast<hsize_t>(site.width), static_cast<hsize_t>(bins) + 2});
        d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
        d.attach_scale(out.file().open_dataset(group + "/neuron"), 1);
        d.label_dimension(2, "bin");
        const hsize_t zero[3] = {0, 0, 0};
        const hsize_t count[3] = {root ? L : 0, static_cast<hsize_t>(site.width),
                                  static_cast<hsize_t>(bins) + 2};
        d.write_block(zero, count, h.data());
        d.set_attribute("bins",
                        std::string("0: underflow, 1..bins: histogram_edges, last: overflow"));
      }
      for (const char* name : {"layer_min", "layer_max"}) {
        io::H5Dataset d = out.file().create_dataset(group + "/" + name, io::H5Type::F64, {L});
        d.attach_scale(out.file().open_dataset(group + "/layer"), 0);
        const std::vector<double>& v = std::string(name) == "layer_min" ? e.layer_min : e.layer_max;
        d.write_flat_range(0, root ? v.size() : 0, v.data());
      }
      out.set_attribute(group, "n_equal", static_cast<int64_t>(e.n_equal));
      out.set_attribute(group, "group_a", std::string("longer"));
      out.set_attribute(group, "group_b", std::string("shorter"));
    }
    out.file().create_group("/length");
    out.write_shared("/length/length_count", io::H5Type::I64,
                     {static_cast<hsize_t>(class_count_.size())}, class_count_.data());
    out.set_attribute("/length", "median", static_cast<int64_t>(median_));
    out.set_attribute("/length", "n_longer", n_group[kLonger]);
    out.set_attribute("/length", "n_shorter", n_group[kShorter]);
    out.set_attribute("/length", "n_equal", n_group[kEqual]);
    out.set_attribute("/length", "count_leading_space",
                      static_cast<int64_t>(o.count_leading_space));
    out.set_attribute("/length", "sequences", counts.windows);
    out.set_attribute("/length", "seq_len", static_cast<int64_t>(o.seq_len));
    out.set_attribute("/length", "bins", static_cast<int64_t>(o.bins));
    out.set_attribute("/length", "pilot_sequences", static_cast<int64_t>(pilot.windows.size()));
    out.set_attribute("/length", "pilot_seconds", pilot_seconds_);
    out.set_attribute("/length", "groups",
                      std::string("a = longer (label 0), b = shorter (label 1), "
                                  "equal (label 2); t > 0: higher on longer tokens"));
    ctx.times.write += seconds_since(t_write);

    StudySummary summary;
    char line[320];
    std::snprintf(line, sizeof line,
                  "length: median %d characters (leading space %s); %lld longer, %lld equal, "
                  "%lld shorter of %lld tokens in %lld windows; t > 0: higher on longer tokens",
                  median_, o.count_leading_space ? "counted" : "not counted",
                  static_cast<long long>(n_group[kLonger]), static_cast<long long>(n_group[kEqual]),
                  static_cast<long long>(n_group[kShorter]), static_cast<long long>(counts.samples),
                  static_cast<long long>(counts.windows));
    summary.lines.push_back(line);
    append_neuron_summary(summary, ctx, summaries, "token_length");
    return summary;
  }

  double extra_memory(const RunContext& ctx, const PlanCounts& plan) const override {
    (void)plan;
    const LengthOptions o = length_options(ctx.job);
    int32_t longest = 0;
    for (int32_t v : vocab_length_) longest = std::max(longest, v);
    // Length classes that occur in English text: about 20; the vocabulary allows more.
    const double classes = std::min<double>(longest + 1, 24);
    double bytes = 0;
    for (const SiteSpace& s : ctx.sites) {
      const double K = static_cast<double>(s.neurons());
      const double L = static_cast<double>(s.layers.size());
      bytes += classes * 4 * 8 * K;                     // moments per length class
      bytes += 8.0 * K * (o.bins + 2);                  // per-neuron histograms
      bytes += 8.0 * L * (longest + 1) * (o.bins + 2);  // pooled histograms per class
      bytes += 3.0 * 4 * 8 * K * 2;                     // merged groups, reduced slice
    }
    return bytes;
  }

 private:
  int32_t group_of(size_t c) const {
    const auto length = static_cast<int32_t>(c);
    return length > median_ ? kLonger : length < median_ ? kShorter : kEqual;
  }

  // The lower median of a distribution given as counts per length (a length that occurs).
  static int32_t lower_median(const std::vector<int64_t>& counts) {
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    if (total == 0) return 0;
    const int64_t rank = (total - 1) / 2;  // 0-based
    int64_t seen = 0;
    for (size_t c = 0; c < counts.size(); ++c) {
      seen += counts[c];
      if (seen > rank) return static_cast<int32_t>(c);
    }
    return static_cast<int32_t>(counts.size()) - 1;
  }

  // The first `n` windows of a global plan, as a plan.
  static Plan head_of(const Plan& plan, int n) {
    std::vector<WindowSpec> windows(
        plan.windows.begin(),
        plan.windows.begin() + std::min<size_t>(plan.windows.size(), static_cast<size_t>(n)));
    std::vector<Sample> samples;
    for (const Sample& s : plan.samples) {
      if (s.window < static_cast<int64_t>(windows.size())) samples.push_back(s);
    }
    return plan_from_windows(std::move(windows), std::move(samples));
  }

  // length.pack: documents in order, their tokens concatenated, cut into chunks of seq_len until
  // `sequences` chunks (or the corpus, or max_tokens) run out. The same on every rank; every rank
  // reads the segments the chunks need (bounded by sequences x seq_len tokens).
  Plan packed_plan(RunContext& ctx) {
    pack_ = true;
    const LengthOptions o = length_options(ctx.job);
    // With a BOS (document_bos): every chunk is the BOS and seq_len - 1 tokens of the stream of
    // the documents WITHOUT their BOS, so no chunk holds a BOS after its start.
    const std::optional<int32_t> bos = document_bos(ctx.tokenizer);
    const int64_t body = o.seq_len - (bos ? 1 : 0);
    const int64_t wanted = static_cast<int64_t>(o.sequences) * body;
    std::vector<int32_t> stream;
    int64_t documents = 0, corpus_tokens = 0;
    collective_check(ctx.comm, [&] {
      bool done = false;
      for (size_t seg = 0; seg < ctx.corpus->n_segments() && !done; ++seg) {
        ctx.corpus->read_segment(seg, [&](io::Document& d) {
          if (static_cast<int64_t>(stream.size()) >= wanted ||
              (ctx.job.max_tokens > 0 && corpus_tokens >= ctx.job.max_tokens)) {
            done = true;
            return false;
          }
          const std::vector<int32_t> tokens = document_tokens(d, ctx.tokenizer);
          documents += 1;
          corpus_tokens += static_cast<int64_t>(tokens.size());
          stream.insert(stream.end(), tokens.begin() + (bos && !tokens.empty() ? 1 : 0),
                        tokens.end());
          return true;
        });
      }
    });
    const int64_t chunks =
        body <= 0 ? 0 : std::min<int64_t>(o.sequences, static_cast<int64_t>(stream.size()) / body);
    const std::vector<uint8_t> special = special_token_flags(ctx.tokenizer);
    std::vector<WindowSpec> windows;
    std::vector<Sample> samples;
    for (int64_t c = 0; c < chunks; ++c) {
      WindowSpec w;
      w.document = -1;
      w.length = o.seq_len;
      if (bos) w.tokens.push_back(*bos);
      const auto begin = stream.begin() + c * body;
      w.tokens.insert(w.tokens.end(), begin, begin + body);
      for (int32_t p = 0; p < o.seq_len; ++p) {
        const int32_t token = w.tokens[static_cast<size_t>(p)];
        if (static_cast<size_t>(token) < special.size() && special[static_cast<size_t>(token)]) {
          continue;  // never a sample at a special token
        }
        samples.push_back({c, p, 0, -1, token, -1});
      }
      windows.push_back(std::move(w));
    }
    Plan plan = plan_from_windows(std::move(windows), std::move(samples));
    plan.documents = documents;
    plan.corpus_tokens = corpus_tokens;
    return plan;
  }

  std::vector<int32_t> vocab_length_;  // [V] token length of every vocabulary entry
  std::vector<int64_t> class_count_;   // samples per token length, all ranks (after the pass)
  int32_t median_ = 0;
  bool pack_ = false;
  double pilot_seconds_ = 0;
};

}  // namespace

const StudySpec& length_study_spec() {
  static const StudySpec spec{
      .name = "length",
      .summary = "token length: two-group tests of longer vs shorter tokens, histograms",
      .keys = {{.name = "sequences",
                .default_value = "16",
                .help = "sequences (streamed: any number, memory does not grow with it)",
                .type = KeyType::Integer,
                .min = 1,
                .max = 2147483647},
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
               {.name = "pilot_sequences",
                .default_value = "16",
                .help = "sequences (the corpus's first) whose per-layer activation range sets the "
                        "histogram edges before the pass",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 20},
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
