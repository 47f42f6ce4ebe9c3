// study = examples: dataset examples for every neuron of the job's sites over a whole corpus —
// top-k windows, optional bottom-k, random windows per activation quantile, a uniform random
// sample, summary statistics, a histogram and (MLP sites) the direct logit effect: what
// Neuroscope, OpenAI's neuron viewer and Neuronpedia show (docs/examples.md, the contract).
// Procedure:
//  1. Windows: every document cut into consecutive windows of seq_len tokens (sampling's chunks);
//     every position measured except special tokens (BOS: NaN, never wins).
//  2. Pilot: the corpus's first pilot_windows windows: per neuron the exact quantiles (0, .5, .9,
//     .99, .999; numpy's linear rule) of the per-window maxima (reservoir buckets) and the range
//     of all activations widened by 10% each side (histogram), reduced by neuron slice.
//  3. Pass (streamed, each rank its segments): per window and neuron max / argmax, min / argmin,
//     power sums about the pilot mean, histogram, fraction > 0; the window enters the neuron's
//     top-k (larger max, then smaller window id), bottom-k (smaller min, then smaller id), its
//     bucket's reservoir and the random sample (smaller splitmix64(seed ^ window), then smaller
//     id) when it beats their worst. Kept entries carry the neuron's f16 activations [T]; tokens
//     live once per window in a reference-counted store.
//  4. Finalize: entries, activations and the windows' tokens go to the neuron's slice owner
//     (alltoallv), are merged with the same orders (so any rank count gives the same lists), and
//     written by slice with the reduced statistics and the logit effects (W_U w_out).
// Legend: K neurons of a site, T seq_len, C a list's capacity, V vocabulary.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <unordered_map>

#include "io/error.hpp"
#include "io/text.hpp"
#include "model/arch/hooks.hpp"
#include "model/ops/half.hpp"
#include "model/synth/plant.hpp"
#include "runner/parallel/sharding.hpp"
#include "runner/studies/checkpoint_blob.hpp"
#include "runner/studies/examples_lists.hpp"
#include "runner/studies/examples_pilot.hpp"
#include "runner/studies/logit_effects.hpp"
#include "runner/studies/sampling_chunks.hpp"
#include "runner/studies/study.hpp"

namespace neurolens::runner {
namespace {

struct ExamplesOptions {
  int seq_len = 64;
  int top_k = 20;
  int bottom_k = 0;
  int per_quantile = 5;
  int random_sample = 5;
  int pilot_windows = 1024;
  int bins = 40;
  int logit_tokens = 10;
};

ExamplesOptions examples_options(const Job& job) {
  const StudyOptions& o = job.options;
  return {o.integer("examples.seq_len"),       o.integer("examples.top_k"),
          o.integer("examples.bottom_k"),      o.integer("examples.per_quantile"),
          o.integer("examples.random_sample"), o.integer("examples.pilot_windows"),
          o.integer("examples.bins"),          o.integer("examples.logit_tokens")};
}

constexpr int kBuckets = 4;  // [0, .5) [.5, .9) [.9, .99) [.99, .999); the top bucket is top-k

// Per site: everything a rank accumulates.
struct SiteState {
  size_t K = 0;
  std::vector<double> shift;       // [K] pilot mean (power sums are about it)
  std::vector<float> boundaries;   // [K, 5] pilot quantiles of window maxima
  std::vector<float> edges;        // [K, bins + 1]
  std::vector<float> lo, hi, inv;  // [K] histogram range and bins per unit
  std::vector<double> sums;        // [K, 4] power sums of (x - shift)
  std::vector<int64_t> positive;   // [K]
  std::vector<int64_t> hist;       // [K, bins + 2]
  std::vector<int64_t> bucket;     // [K, 5] windows per bucket (4 = top)
  std::vector<float> max, min;     // [K] over all tokens
  int64_t tokens = 0;              // measured activations per neuron
  std::array<Lists, 7> lists;      // top, bottom, 4 buckets, random
  // Per-window scratch.
  std::vector<float> wmax, wmin;
  std::vector<int32_t> amax, amin;
  std::vector<double> block_sums;  // [4, block] one window's power sums of a neuron block
  std::vector<int32_t> block_positive, block_slot;  // [block]
};

constexpr size_t kTop = 0, kBottom = 1, kBucket0 = 2, kRandom = 6;

bool is_mlp_neuron_site(const std::string& site) {
  return site == "mlp.hook_pre" || site == "mlp.hook_post" || site == "mlp.hook_pre_linear";
}

class ExamplesStudy : public Study, public Accumulator {
 public:
  Plan make_plan(RunContext& ctx) override {
    const ExamplesOptions o = examples_options(ctx.job);
    check_seq_len(o.seq_len, ctx.model.config, "examples.seq_len");
    return {};  // streamed
  }
  bool streamed() const override { return true; }
  WindowFinder finder(RunContext& ctx) override {
    return chunk_finder(examples_options(ctx.job).seq_len, true,
                        special_token_flags(ctx.tokenizer));
  }
  StreamLimits limits(const RunContext& ctx) const override { return {0, ctx.job.max_tokens}; }
  RoundHook round_hook(RunContext& /*ctx*/) override {
    return [this](Plan& round) { round_ = &round; };
  }

  std::vector<std::string> check_plan(RunContext& ctx, const PlanCounts& counts) override {
    const ExamplesOptions o = examples_options(ctx.job);
    if (counts.windows == 0) {
      throw Error("corpus",
                  "the corpus gives no window of " + std::to_string(o.seq_len) + " tokens (" +
                      std::to_string(counts.documents) + " documents, " +
                      std::to_string(counts.corpus_tokens) +
                      " tokens; each document's tail shorter than seq_len is dropped)",
                  "use a larger corpus or a smaller examples.seq_len");
    }
    std::vector<std::string> warnings;
    if (counts.windows < o.top_k) {
      warnings.push_back("examples: only " + std::to_string(counts.windows) +
                         " windows, fewer than top_k = " + std::to_string(o.top_k));
    }
    return warnings;
  }

  // Per rank, bytes: [lists (entries + f16 activations), token store (worst case: no window
  // shared between entries), statistics, pilot, merge (received lists of the rank's slice)].
  std::array<double, 5> memory_parts(const RunContext& ctx) const {
    const ExamplesOptions o = examples_options(ctx.job);
    const double T = o.seq_len;
    const double entries = o.top_k + o.bottom_k + kBuckets * o.per_quantile + o.random_sample;
    const double R = std::max(1, ctx.comm.size());
    std::array<double, 5> parts{};
    for (const SiteSpace& s : ctx.sites) {
      const double K = static_cast<double>(s.neurons());
      parts[0] += K * entries * (24.0 + 2.0 * T) + K * 24.0 * 7;
      parts[1] += K * entries * (4.0 * T + 80.0);
      parts[2] += K * (8.0 * (4 + 1 + 5 + o.bins + 2) + 4.0 * (5 + o.bins + 1 + 6) + 8.0);
      parts[3] += std::min<double>(o.pilot_windows, 1e12) * K * 4.0 * 2 / R;
      parts[4] += K * entries * (24.0 + 6.0 * T) / R * 2;
    }
    return parts;
  }
  double extra_memory(const RunContext& ctx, const PlanCounts& /*counts*/) const override {
    const std::array<double, 5> p = memory_parts(ctx);
    // The pilot's and the merge's buffers are freed before / taken after the pass's lists.
    return p[0] + p[1] + p[2] + std::max(p[3], p[4]);
  }
  std::vector<std::string> dry_run_lines(const RunContext& ctx,
                                         const PlanCounts& /*counts*/) const override {
    const ExamplesOptions o = examples_options(ctx.job);
    const std::array<double, 5> p = memory_parts(ctx);
    char line[512];
    std::snprintf(line, sizeof line,
                  "examples     per rank: lists %.0f MB (%d entries per neuron, f16 activations), "
                  "token store <= %.0f MB (worst case, windows shared by entries are stored once), "
                  "statistics %.1f MB, pilot %.0f MB (%d windows), merge %.0f MB",
                  p[0] / 1e6, o.top_k + o.bottom_k + kBuckets * o.per_quantile + o.random_sample,
                  p[1] / 1e6, p[2] / 1e6, p[3] / 1e6, o.pilot_windows, p[4] / 1e6);
    return {line};
  }

  StudySummary run(RunContext& ctx, const Plan& /*plan*/, const OpenResults& open) override {
    const ExamplesOptions o = examples_options(ctx.job);
    ctx_ = &ctx;
    // 1. The pilot.
    const auto t_pilot = std::chrono::steady_clock::now();
    Plan pilot;
    collective_check(ctx.comm, [&] {
      pilot = build_plan(*ctx.corpus, ctx.tokenizer, finder(ctx), ctx.comm, o.pilot_windows,
                         ctx.job.max_tokens);
    });
    if (pilot.windows.empty()) {
      PlanCounts none;
      none.documents = pilot.documents;
      none.corpus_tokens = pilot.corpus_tokens;
      check_streamed(*this, ctx, none);  // the error, on every rank
    }
    pilot.make_batches(ctx.job.batch_size);
    PilotAccumulator pilot_acc(ctx.sites);
    {
      Job pilot_job = ctx.job;
      pilot_job.resume = false;
      pilot_job.checkpoint_every = 0;
      RunContext pilot_ctx{pilot_job,  ctx.comm,  ctx.model, ctx.tokenizer,
                           ctx.corpus, ctx.sites, {},        0};
      run_batches(pilot_ctx, pilot, pilot_acc);
      ctx.times.forward += pilot_ctx.times.forward;
    }
    pilot_windows_ = static_cast<int64_t>(pilot.windows.size());
    prepare_sites(ctx, pilot_acc);
    pilot_seconds_ = seconds_since(t_pilot);

    // 2. The pass.
    const PlanCounts counts = stream_batches(ctx, finder(ctx), limits(ctx), *this, round_hook(ctx));
    round_ = nullptr;
    check_streamed(*this, ctx, counts);
    ResultsWriter& out = open();
    finalize(ctx, Plan{}, out);
    return summarize(ctx);
  }

  // Accumulator.
  void add(const SampleBatch& b) override {
    const auto t_add = std::chrono::steady_clock::now();
    const RunContext& ctx = *ctx_;
    const ExamplesOptions o = examples_options(ctx.job);
    const auto T = static_cast<size_t>(o.seq_len);
    const auto bins = static_cast<size_t>(o.bins);
    size_t i = 0;
    while (i < b.samples.size()) {
      const int64_t local = b.samples[i].window;
      size_t end = i;
      while (end < b.samples.size() && b.samples[end].window == local) ++end;
      const int64_t window = local + b.window_offset;
      const WindowSpec& spec = round_->windows[static_cast<size_t>(local)];
      const uint64_t key = splitmix64(ctx.job.seed ^ static_cast<uint64_t>(window));
      for (size_t s = 0; s < sites_.size(); ++s) {
        add_window(sites_[s], b.rows[s], b.samples, i, end, window, key, spec, T, bins);
      }
      i = end;
    }
    store_peak_ = std::max(store_peak_, static_cast<int64_t>(store_.all().size()));
    add_seconds_ += seconds_since(t_add);
  }

  std::vector<double> save_state() const override {
    CheckpointBlob blob;
    for (const SiteState& st : sites_) {
      blob.put(st.sums);
      blob.put(st.positive);
      blob.put(st.hist);
      blob.put(st.bucket);
      blob.put(st.max);
      blob.put(st.min);
      blob.put_value(st.tokens);
      for (const Lists& l : st.lists) {
        blob.put(l.entries);
        blob.put(l.acts);
      }
    }
    blob.put_value(static_cast<uint64_t>(store_.all().size()));
    for (const auto& [window, w] : store_.all()) {
      blob.put_value(window);
      blob.put_value(w.document);
      blob.put_value(w.start);
      blob.put_value(w.refs);
      blob.put(w.tokens);
    }
    return blob.to_doubles();
  }
  void load_state(std::span<const double> state) override {
    CheckpointBlob blob = CheckpointBlob::from_doubles(state, "examples");
    for (SiteState& st : sites_) {
      blob.get(st.sums, true);
      blob.get(st.positive, true);
      blob.get(st.hist, true);
      blob.get(st.bucket, true);
      blob.get(st.max, true);
      blob.get(st.min, true);
      st.tokens = blob.get_value<int64_t>();
      for (Lists& l : st.lists) {
        blob.get(l.entries, true);
        blob.get(l.acts, true);
        for (size_t k = 0; l.cap > 0 && k < l.worst.size(); ++k) {
          l.worst[k] = l.entries[k * l.cap + l.cap - 1];
        }
      }
    }
    store_.all().clear();
    const auto windows = blob.get_value<uint64_t>();
    for (uint64_t w = 0; w < windows; ++w) {
      const auto id = blob.get_value<int64_t>();
      WindowStore::Window& win = store_.all()[id];
      win.document = blob.get_value<int64_t>();
      win.start = blob.get_value<int64_t>();
      win.refs = blob.get_value<int64_t>();
      blob.get(win.tokens, false);
    }
    if (blob.at != blob.bytes.size()) blob.mismatch();
  }

  void finalize(RunContext& ctx, const Plan& /*plan*/, ResultsWriter& out) override;

 private:
  struct SourceWindow {
    int64_t document = -1, start = 0;
    std::vector<int32_t> tokens;
  };

  void prepare_sites(RunContext& ctx, PilotAccumulator& pilot);
  void add_window(SiteState& st, const std::vector<float>& rows, std::span<const Sample> samples,
                  size_t i0, size_t i1, int64_t window, uint64_t key, const WindowSpec& spec,
                  size_t T, size_t bins);
  void write_site(RunContext& ctx, ResultsWriter& out, size_t s);
  void write_vocabulary(RunContext& ctx, ResultsWriter& out);
  StudySummary summarize(const RunContext& ctx) const;

  const RunContext* ctx_ = nullptr;
  const Plan* round_ = nullptr;
  std::vector<SiteState> sites_;
  WindowStore store_;
  int64_t pilot_windows_ = 0;
  double pilot_seconds_ = 0, logit_seconds_ = 0, add_seconds_ = 0;
  int64_t store_peak_ = 0;  // most windows the token store held at once (this rank)
  // Rank 0's view for the summary: per site, the planted neurons' top lists (token, value).
  std::vector<std::string> summary_lines_;
  // The uniform sample's windows (identical on every rank after the merge).
  std::vector<int64_t> random_windows_;
  std::map<int64_t, SourceWindow> random_sources_;
};

void ExamplesStudy::prepare_sites(RunContext& ctx, PilotAccumulator& pilot) {
  const ExamplesOptions o = examples_options(ctx.job);
  const Comm& comm = ctx.comm;
  const auto T = static_cast<size_t>(o.seq_len);
  const auto bins = static_cast<size_t>(o.bins);
  const std::vector<PilotRanges> ranges = pilot_ranges(comm, pilot, bins);
  sites_.assign(ctx.sites.size(), {});
  for (size_t s = 0; s < ctx.sites.size(); ++s) {
    SiteState& st = sites_[s];
    const auto K = static_cast<size_t>(ctx.sites[s].neurons());
    st.K = K;
    st.shift = ranges[s].shift;
    st.boundaries = ranges[s].boundaries;
    st.edges = ranges[s].edges;
    st.lo = ranges[s].lo;
    st.hi = ranges[s].hi;
    st.inv = ranges[s].inv;
    st.sums.assign(K * 4, 0.0);
    st.positive.assign(K, 0);
    st.hist.assign(K * (bins + 2), 0);
    st.bucket.assign(K * 5, 0);
    st.max.assign(K, -std::numeric_limits<float>::infinity());
    st.min.assign(K, std::numeric_limits<float>::infinity());
    st.lists[kTop].reset(Order::Largest, K, static_cast<size_t>(o.top_k), T);
    st.lists[kBottom].reset(Order::Smallest, K, static_cast<size_t>(o.bottom_k), T);
    for (int b = 0; b < kBuckets; ++b) {
      st.lists[kBucket0 + static_cast<size_t>(b)].reset(Order::Priority, K,
                                                        static_cast<size_t>(o.per_quantile), T);
    }
    st.lists[kRandom].reset(Order::Priority, K, static_cast<size_t>(o.random_sample), T);
    st.wmax.resize(K);
    st.wmin.resize(K);
    st.amax.resize(K);
    st.amin.resize(K);
  }
}

void ExamplesStudy::add_window(SiteState& st, const std::vector<float>& rows,
                               std::span<const Sample> samples, size_t i0, size_t i1,
                               int64_t window, uint64_t key, const WindowSpec& spec, size_t T,
                               size_t bins) {
  const size_t K = st.K;
  const size_t n = i1 - i0;  // measured positions of the window
  st.tokens += static_cast<int64_t>(n);
  if (n == 0) return;  // only special tokens: nothing to rank
  const size_t stride = bins + 2;
  const auto top_bin = static_cast<int32_t>(bins) - 1;
  // Neurons in blocks, rows in order: the per-neuron arrays of a block are contiguous (the
  // compiler vectorizes across neurons) and cache-resident, and the window's sums are its own
  // (fixed order, so a window adds the same bits on any rank).
  constexpr size_t kBlock = 64;
  st.block_sums.resize(4 * kBlock);
  st.block_positive.resize(kBlock);
  st.block_slot.resize(kBlock);
  for (size_t k0 = 0; k0 < K; k0 += kBlock) {
    const size_t kb = std::min(kBlock, K - k0);
    float* mx = st.wmax.data() + k0;
    float* mn = st.wmin.data() + k0;
    int32_t* amx = st.amax.data() + k0;
    int32_t* amn = st.amin.data() + k0;
    const double* shift = st.shift.data() + k0;
    double* s1 = st.block_sums.data();
    double* s2 = s1 + kBlock;
    double* s3 = s2 + kBlock;
    double* s4 = s3 + kBlock;
    int32_t* positive = st.block_positive.data();
    int32_t* slot = st.block_slot.data();
    std::fill_n(mx, kb, -std::numeric_limits<float>::infinity());
    std::fill_n(mn, kb, std::numeric_limits<float>::infinity());
    std::fill_n(amx, kb, -1);
    std::fill_n(amn, kb, -1);
    std::fill_n(s1, 4 * kBlock, 0.0);
    std::fill_n(positive, kb, 0);
    const float* lo = st.lo.data() + k0;
    const float* hi = st.hi.data() + k0;
    const float* inv = st.inv.data() + k0;
    for (size_t r = 0; r < n; ++r) {
      const float* row = rows.data() + (i0 + r) * K + k0;
      const int32_t p = samples[i0 + r].position;
      for (size_t j = 0; j < kb; ++j) {
        const float x = row[j];
        const bool above = x > mx[j];
        mx[j] = above ? x : mx[j];
        amx[j] = above ? p : amx[j];
      }
      for (size_t j = 0; j < kb; ++j) {
        const float x = row[j];
        const bool below = x < mn[j];
        mn[j] = below ? x : mn[j];
        amn[j] = below ? p : amn[j];
      }
      for (size_t j = 0; j < kb; ++j) {
        const double d = static_cast<double>(row[j]) - shift[j];
        const double d2 = d * d;
        s1[j] += d;
        s2[j] += d2;
        s3[j] += d2 * d;
        s4[j] += d2 * d2;
      }
      // Histogram slot: underflow 0, bins 1..B by floor((x - lo) * inv) in float, overflow B+1.
      for (size_t j = 0; j < kb; ++j) {
        const float x = row[j];
        positive[j] += x > 0.0f ? 1 : 0;
        const float f = std::min(std::max((x - lo[j]) * inv[j], 0.0f), static_cast<float>(top_bin));
        const int32_t b = static_cast<int32_t>(f) + 1;
        slot[j] = x < lo[j] ? 0 : x > hi[j] ? static_cast<int32_t>(bins) + 1 : b;
      }
      int64_t* hist = st.hist.data() + k0 * stride;
      for (size_t j = 0; j < kb; ++j) ++hist[j * stride + static_cast<size_t>(slot[j])];
    }
    for (size_t j = 0; j < kb; ++j) {
      double* sum = st.sums.data() + 4 * (k0 + j);
      sum[0] += s1[j];
      sum[1] += s2[j];
      sum[2] += s3[j];
      sum[3] += s4[j];
      st.positive[k0 + j] += positive[j];
    }
    // The block's neurons' lists; an entry's activations are read back from the rows, which
    // the pass above just brought into cache (and the lists admit a window less and less often
    // as the corpus streams).
    for (size_t k = k0; k < k0 + kb; ++k) {
      const auto fill = [&](uint16_t* dst) {
        std::fill(dst, dst + T, kF16NaN);
        for (size_t r = i0; r < i1; ++r) {
          const auto p = static_cast<size_t>(samples[r].position);
          if (p < T) dst[p] = model::f32_to_f16(rows[r * K + k]);
        }
      };
      const auto offer = [&](Lists& l, const Entry& e) {
        if (!l.admits(k, e)) return;
        store_.acquire(window, spec);
        store_.release(l.insert(k, e, fill));
      };
      st.max[k] = std::max(st.max[k], st.wmax[k]);
      st.min[k] = std::min(st.min[k], st.wmin[k]);
      const Entry top{st.wmax[k], st.amax[k], window, key};
      const float* q = st.boundaries.data() + 5 * k;
      size_t bucket = 0;
      while (bucket < 4 && top.value >= q[bucket + 1]) ++bucket;
      ++st.bucket[5 * k + bucket];
      offer(st.lists[kTop], top);
      offer(st.lists[kBottom], Entry{st.wmin[k], st.amin[k], window, key});
      if (bucket < kBuckets) offer(st.lists[kBucket0 + bucket], top);
      offer(st.lists[kRandom], top);
    }
  }
}

void ExamplesStudy::finalize(RunContext& ctx, const Plan& /*plan*/, ResultsWriter& out) {
  write_vocabulary(ctx, out);
  const auto t_finalize = std::chrono::steady_clock::now();
  const double reduce_before = ctx.times.reduce, logit_before = logit_seconds_;
  for (size_t s = 0; s < ctx.sites.size(); ++s) write_site(ctx, out, s);
  store_.all().clear();  // every site's lists merged: their windows are no longer needed
  const ExamplesOptions o = examples_options(ctx.job);
  const std::string g = "/examples";
  out.set_attribute(g, "seq_len", static_cast<int64_t>(o.seq_len));
  out.set_attribute(g, "top_k", static_cast<int64_t>(o.top_k));
  out.set_attribute(g, "bottom_k", static_cast<int64_t>(o.bottom_k));
  out.set_attribute(g, "per_quantile", static_cast<int64_t>(o.per_quantile));
  out.set_attribute(g, "random_sample", static_cast<int64_t>(o.random_sample));
  out.set_attribute(g, "bins", static_cast<int64_t>(o.bins));
  out.set_attribute(g, "logit_tokens", static_cast<int64_t>(o.logit_tokens));
  out.set_attribute(g, "pilot_windows", pilot_windows_);
  out.set_attribute(g, "pilot_seconds", pilot_seconds_);
  out.set_attribute(g, "logit_seconds", logit_seconds_);
  // Rank 0's time in add() (per-window statistics and list updates, beside the forward pass),
  // and the most windows any rank's token store held at once (memory: 4 T bytes each).
  out.set_attribute(g, "accumulate_seconds", add_seconds_);
  out.set_attribute(g, "token_store_windows_peak", ctx.comm.allreduce_max(store_peak_));
  out.set_attribute(g, "n_windows", ctx.n_windows);
  out.set_attribute(g, "n_tokens", ctx.n_samples);
  out.set_attribute(g, "seed", static_cast<int64_t>(ctx.job.seed));
  out.set_attribute(g, "tie_rule",
                    std::string("top: larger max, then smaller window id; bottom: smaller min, "
                                "then smaller id; reservoirs and random sample: smaller "
                                "splitmix64(seed ^ window id), then smaller id; position: the "
                                "first of the max (min)"));
  out.set_attribute(g, "kurtosis", std::string("excess (Fisher)"));
  out.set_attribute(g, "variance", std::string("population (ddof 0)"));
  const std::vector<double> levels = {0.0, 0.5, 0.9, 0.99, 0.999, 1.0};
  out.write_shared(g + "/quantile_levels", io::H5Type::F64, {6}, levels.data());
  // The uniform sample's windows.
  const auto T = static_cast<size_t>(o.seq_len);
  std::vector<int64_t> doc, start;
  std::vector<int32_t> tokens;
  for (int64_t w : random_windows_) {
    const auto it = random_sources_.find(w);
    doc.push_back(it == random_sources_.end() ? -1 : it->second.document);
    start.push_back(it == random_sources_.end() ? 0 : it->second.start);
    std::vector<int32_t> t(T, -1);
    if (it != random_sources_.end()) {
      std::copy_n(it->second.tokens.begin(), std::min(T, it->second.tokens.size()), t.begin());
    }
    tokens.insert(tokens.end(), t.begin(), t.end());
  }
  const auto n_random = static_cast<hsize_t>(random_windows_.size());
  out.write_shared(g + "/random_window", io::H5Type::I64, {n_random}, random_windows_.data());
  out.write_shared(g + "/random_document", io::H5Type::I64, {n_random}, doc.data());
  out.write_shared(g + "/random_start", io::H5Type::I64, {n_random}, start.data());
  out.write_shared(g + "/random_tokens", io::H5Type::I32, {n_random, static_cast<hsize_t>(T)},
                   tokens.data());
  // Write time: all of finalize but the merges (reduce) and the logit effects (their attribute).
  ctx.times.write += seconds_since(t_finalize) - (ctx.times.reduce - reduce_before) -
                     (logit_seconds_ - logit_before);
}

void ExamplesStudy::write_vocabulary(RunContext& ctx, ResultsWriter& out) {
  out.file().create_group("/examples");
  const model::Tokenizer& tok = ctx.tokenizer;
  const int V = tok.vocab_size();
  std::vector<int64_t> offsets(static_cast<size_t>(V) + 1, 0);
  std::vector<uint8_t> bytes;
  for (int t = 0; t < V; ++t) {
    const std::string b = tok.token_bytes(t);
    bytes.insert(bytes.end(), b.begin(), b.end());
    offsets[static_cast<size_t>(t) + 1] = static_cast<int64_t>(bytes.size());
  }
  if (bytes.empty()) bytes.push_back(0);
  std::vector<uint8_t> special = special_token_flags(tok);
  special.resize(static_cast<size_t>(V), 0);
  out.write_shared("/examples/token_offsets", io::H5Type::I64,
                   {static_cast<hsize_t>(offsets.size())}, offsets.data());
  out.write_shared("/examples/token_bytes", io::H5Type::U8,
                   {static_cast<hsize_t>(offsets.back() > 0 ? bytes.size() : 0)}, bytes.data());
  out.write_shared("/examples/special_token", io::H5Type::U8, {static_cast<hsize_t>(V)},
                   special.data());
}

void ExamplesStudy::write_site(RunContext& ctx, ResultsWriter& out, size_t s) {
  const Comm& comm = ctx.comm;
  const ExamplesOptions o = examples_options(ctx.job);
  const SiteSpace& site = ctx.sites[s];
  SiteState& st = sites_[s];
  const size_t K = st.K;
  const auto T = static_cast<size_t>(o.seq_len);
  const auto bins = static_cast<size_t>(o.bins);
  const auto me = static_cast<size_t>(comm.rank());
  const std::vector<int64_t> offsets = block_offsets(static_cast<int64_t>(K), comm.size());
  const Block slice{offsets[me], offsets[me + 1]};
  const auto n = static_cast<size_t>(slice.size());
  const auto first = static_cast<size_t>(slice.begin);

  // Statistics: sums by neuron slice (one record of F doubles per neuron).
  const size_t F = 4 + 1 + 5 + (bins + 2);
  std::vector<double> record(K * F);
  for (size_t k = 0; k < K; ++k) {
    double* r = record.data() + k * F;
    std::copy_n(st.sums.data() + 4 * k, 4, r);
    r[4] = static_cast<double>(st.positive[k]);
    for (size_t b = 0; b < 5; ++b) r[5 + b] = static_cast<double>(st.bucket[5 * k + b]);
    for (size_t b = 0; b < bins + 2; ++b) {
      r[10 + b] = static_cast<double>(st.hist[k * (bins + 2) + b]);
    }
  }
  std::vector<int64_t> record_offsets(offsets.begin(), offsets.end());
  for (int64_t& v : record_offsets) v *= static_cast<int64_t>(F);
  const auto t_reduce = std::chrono::steady_clock::now();
  const std::vector<double> reduced = comm.reduce_scatter_sum(record, record_offsets);
  std::vector<double>().swap(record);
  std::vector<double> mx(st.max.begin(), st.max.end()), mn(st.min.begin(), st.min.end());
  comm.allreduce_max(mx);
  comm.allreduce_min(mn);
  const double count = static_cast<double>(comm.allreduce_sum(st.tokens));

  // Lists by neuron slice, with the windows' tokens.
  const MergedLists merged = merge_by_slice(comm, st.lists, store_, offsets, T);
  ctx.times.reduce += seconds_since(t_reduce);
  const std::vector<int64_t>& rtable = merged.table;
  const std::vector<int32_t>& rtokens = merged.tokens;
  const std::unordered_map<int64_t, size_t>& row_of = merged.row_of;

  // The random sample's windows (every neuron has the same): rank 0's first neuron's, to all.
  if (s == 0) {
    std::vector<int64_t> triples, toks;
    if (comm.root() && n > 0) {
      for (size_t c = 0; c < st.lists[kRandom].cap; ++c) {
        const Entry& e = merged.lists[kRandom].entries[c];
        if (e.window < 0) continue;
        const auto it = row_of.find(e.window);
        const bool known = it != row_of.end();
        triples.insert(triples.end(), {e.window, known ? rtable[it->second * 3 + 1] : -1,
                                       known ? rtable[it->second * 3 + 2] : 0});
        for (size_t t = 0; t < T; ++t) toks.push_back(known ? rtokens[it->second * T + t] : -1);
      }
    }
    triples = comm.allgatherv(triples);
    toks = comm.allgatherv(toks);
    random_windows_.clear();
    for (size_t i = 0; i + 2 < triples.size(); i += 3) {
      random_windows_.push_back(triples[i]);
      SourceWindow& src = random_sources_[triples[i]];
      src.document = triples[i + 1];
      src.start = triples[i + 2];
      src.tokens.assign(toks.begin() + static_cast<long>(i / 3 * T),
                        toks.begin() + static_cast<long>((i / 3 + 1) * T));
    }
  }

  out.create_site(site);
  auto cube = [&](const std::string& name, io::H5Type type, std::vector<hsize_t> trailing,
                  std::vector<std::string> labels, const void* data) {
    write_neuron_cube(out, site, name, type, trailing, labels, slice, data);
  };
  // Statistics.
  {
    std::vector<double> mean(n), var(n), skew(n), kurt(n), pos(n);
    std::vector<float> smax(n), smin(n), bounds(n * 5), edges(n * (bins + 1));
    std::vector<int64_t> hist(n * (bins + 2)), buckets(n * 5);
    for (size_t j = 0; j < n; ++j) {
      const double* r = reduced.data() + j * F;
      const size_t k = first + j;
      const double m1 = count > 0 ? r[0] / count : 0.0;
      const double e2 = count > 0 ? r[1] / count : 0.0, e3 = count > 0 ? r[2] / count : 0.0,
                   e4 = count > 0 ? r[3] / count : 0.0;
      const double mu2 = std::max(0.0, e2 - m1 * m1);
      const double mu3 = e3 - 3 * m1 * e2 + 2 * m1 * m1 * m1;
      const double mu4 = e4 - 4 * m1 * e3 + 6 * m1 * m1 * e2 - 3 * m1 * m1 * m1 * m1;
      mean[j] = st.shift[k] + m1;
      var[j] = mu2;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      skew[j] = mu2 > 0 ? mu3 / std::pow(mu2, 1.5) : nan;
      kurt[j] = mu2 > 0 ? mu4 / (mu2 * mu2) - 3.0 : nan;
      pos[j] = count > 0 ? r[4] / count : nan;
      smax[j] = static_cast<float>(mx[k]);
      smin[j] = static_cast<float>(mn[k]);
      for (size_t b = 0; b < 5; ++b) {
        bounds[j * 5 + b] = st.boundaries[k * 5 + b];
        buckets[j * 5 + b] = static_cast<int64_t>(r[5 + b]);
      }
      std::copy_n(st.edges.data() + k * (bins + 1), bins + 1, edges.data() + j * (bins + 1));
      for (size_t b = 0; b < bins + 2; ++b) {
        hist[j * (bins + 2) + b] = static_cast<int64_t>(r[10 + b]);
      }
    }
    cube("mean", io::H5Type::F64, {}, {}, mean.data());
    cube("variance", io::H5Type::F64, {}, {}, var.data());
    cube("skewness", io::H5Type::F64, {}, {}, skew.data());
    cube("kurtosis", io::H5Type::F64, {}, {}, kurt.data());
    cube("frac_positive", io::H5Type::F64, {}, {}, pos.data());
    cube("max_activation", io::H5Type::F32, {}, {}, smax.data());
    cube("min_activation", io::H5Type::F32, {}, {}, smin.data());
    cube("hist_edges", io::H5Type::F32, {bins + 1}, {"edge"}, edges.data());
    cube("hist_counts", io::H5Type::I64, {bins + 2}, {"bin"}, hist.data());
    cube("quantile_boundaries", io::H5Type::F32, {5}, {"level"}, bounds.data());
    cube("quantile_count", io::H5Type::I64, {5}, {"bucket"}, buckets.data());
  }
  // Lists: top, bottom, the quantile buckets (one [n, 4, q] cube), random.
  auto write_lists = [&](const std::string& prefix, const std::vector<size_t>& which,
                         std::vector<hsize_t> shape, std::vector<std::string> labels) {
    const size_t per = [&] {
      size_t p = 0;
      for (size_t li : which) p += st.lists[li].cap;
      return p;
    }();
    std::vector<float> value(n * per, std::numeric_limits<float>::quiet_NaN());
    std::vector<int64_t> window(n * per, -1), document(n * per, -1), start(n * per, -1);
    std::vector<int32_t> position(n * per, -1), tokens(n * per * T, -1);
    std::vector<uint16_t> acts(n * per * T, kF16NaN);
    for (size_t j = 0; j < n; ++j) {
      size_t c_out = 0;
      for (size_t li : which) {
        const size_t C = st.lists[li].cap;
        for (size_t c = 0; c < C; ++c, ++c_out) {
          const Entry& e = merged.lists[li].entries[j * C + c];
          if (e.window < 0) continue;
          const size_t at = j * per + c_out;
          value[at] = e.value;
          window[at] = e.window;
          position[at] = e.position;
          const auto it = row_of.find(e.window);
          if (it != row_of.end()) {
            document[at] = rtable[it->second * 3 + 1];
            start[at] = rtable[it->second * 3 + 2];
            std::copy_n(rtokens.data() + it->second * T, T, tokens.data() + at * T);
          }
          std::copy_n(merged.lists[li].acts.data() + (j * C + c) * T, T, acts.data() + at * T);
        }
      }
    }
    std::vector<hsize_t> with_t = shape;
    with_t.push_back(T);
    std::vector<std::string> labels_t = labels;
    labels_t.push_back("token");
    cube(prefix + "_value", io::H5Type::F32, shape, labels, value.data());
    if (prefix != "random") {
      cube(prefix + "_window", io::H5Type::I64, shape, labels, window.data());
      cube(prefix + "_document", io::H5Type::I64, shape, labels, document.data());
      cube(prefix + "_start", io::H5Type::I64, shape, labels, start.data());
      cube(prefix + "_tokens", io::H5Type::I32, with_t, labels_t, tokens.data());
    }
    cube(prefix + "_position", io::H5Type::I32, shape, labels, position.data());
    cube(prefix + "_activations", io::H5Type::F16, with_t, labels_t, acts.data());
  };
  write_lists("top", {kTop}, {static_cast<hsize_t>(o.top_k)}, {"rank"});
  if (o.bottom_k > 0)
    write_lists("bottom", {kBottom}, {static_cast<hsize_t>(o.bottom_k)}, {"rank"});
  write_lists("quantile", {kBucket0, kBucket0 + 1, kBucket0 + 2, kBucket0 + 3},
              {kBuckets, static_cast<hsize_t>(o.per_quantile)}, {"bucket", "sample"});
  write_lists("random", {kRandom}, {static_cast<hsize_t>(o.random_sample)}, {"sample"});

  // Summary lines: the planted neurons of this site and its strongest neuron, by the rank
  // whose slice holds them, gathered in rank order.
  auto describe = [&](size_t j) {
    std::map<int32_t, int> counts;
    for (size_t c = 0; c < st.lists[kTop].cap; ++c) {
      const Entry& e = merged.lists[kTop].entries[j * st.lists[kTop].cap + c];
      if (e.window < 0) continue;
      const auto it = row_of.find(e.window);
      if (it == row_of.end() || e.position < 0) continue;
      ++counts[rtokens[it->second * T + static_cast<size_t>(e.position)]];
    }
    std::vector<std::pair<int, int32_t>> order;
    for (const auto& [t, c] : counts) order.emplace_back(-c, t);
    std::sort(order.begin(), order.end());
    std::string text;
    for (size_t i = 0; i < order.size() && i < 4; ++i) {
      std::string tok = ctx.tokenizer.token_bytes(order[i].second);
      for (char& ch : tok) {
        if (ch == '\n') ch = ' ';
      }
      text += (i ? ", \"" : "\"") + tok + "\" x" + std::to_string(-order[i].first);
    }
    return text;
  };
  std::vector<std::string> lines;
  for (const model::PlantedNeuron& p : model::read_planted(ctx.model.dir)) {
    if (p.site != "mlp.hook_pre" || !is_mlp_neuron_site(site.site)) continue;
    const auto it = std::find(site.layers.begin(), site.layers.end(), p.layer);
    if (it == site.layers.end()) continue;
    const auto li = static_cast<size_t>(it - site.layers.begin());
    const size_t k = li * static_cast<size_t>(site.width) + static_cast<size_t>(p.neuron);
    if (k < first || k >= first + n) continue;
    char head[256];
    std::snprintf(head, sizeof head,
                  "planted %s neuron %s #%d: max %.3g; top-%d max tokens: ", p.concept_name.c_str(),
                  model::hook_name(site.points[li]).c_str(), p.neuron, static_cast<double>(mx[k]),
                  o.top_k);
    lines.push_back(head + describe(k - first));
  }
  // The strongest neuron of the site by max activation.
  size_t best = 0;
  for (size_t k = 1; k < K; ++k) {
    if (mx[k] > mx[best]) best = k;
  }
  if (best >= first && best < first + n) {
    const size_t li = best / static_cast<size_t>(site.width);
    char head[256];
    std::snprintf(head, sizeof head,
                  "%s: largest max %s #%zu: %.3g; top-%d max tokens: ", site.site.c_str(),
                  model::hook_name(site.points[li]).c_str(), best % static_cast<size_t>(site.width),
                  mx[best], o.top_k);
    lines.push_back(head + describe(best - first));
  }
  const std::vector<std::string> all_lines = comm.allgather_strings(lines);
  summary_lines_.insert(summary_lines_.end(), all_lines.begin(), all_lines.end());

  // Logit effects of MLP neurons: W_U w_out, top and bottom logit_tokens tokens.
  if (o.logit_tokens > 0 && is_mlp_neuron_site(site.site)) {
    const auto t_logit = std::chrono::steady_clock::now();
    const size_t V = std::min<size_t>(static_cast<size_t>(ctx.model.config.n_vocab),
                                      static_cast<size_t>(ctx.tokenizer.vocab_size()));
    const auto nl = static_cast<size_t>(o.logit_tokens);
    const LogitEffects e = mlp_logit_effects(ctx.model, site, slice, V, nl);
    cube("logit_top_token", io::H5Type::I32, {nl}, {"rank"}, e.top_token.data());
    cube("logit_top_value", io::H5Type::F32, {nl}, {"rank"}, e.top_value.data());
    cube("logit_bottom_token", io::H5Type::I32, {nl}, {"rank"}, e.bottom_token.data());
    cube("logit_bottom_value", io::H5Type::F32, {nl}, {"rank"}, e.bottom_value.data());
    out.set_attribute("/" + site.site, "logit_effect",
                      std::string("W_U w_out: the neuron's output weights through the "
                                  "unembedding, no final norm"));
    logit_seconds_ += seconds_since(t_logit);
  }
}

StudySummary ExamplesStudy::summarize(const RunContext& ctx) const {
  const ExamplesOptions o = examples_options(ctx.job);
  StudySummary summary;
  char line[256];
  std::snprintf(line, sizeof line,
                "examples: %lld windows of %d tokens (%lld documents); pilot %lld windows",
                static_cast<long long>(ctx.n_windows), o.seq_len,
                static_cast<long long>(ctx.documents), static_cast<long long>(pilot_windows_));
  summary.lines.push_back(line);
  summary.lines.insert(summary.lines.end(), summary_lines_.begin(), summary_lines_.end());
  return summary;
}

}  // namespace

const StudySpec& examples_study_spec() {
  static const StudySpec spec{
      .name = "examples",
      .summary = "per neuron: top-k and quantile dataset examples, statistics, logit effects",
      .keys = {integer_key("seq_len", "64", "tokens per window", 1, 1 << 16),
               integer_key("top_k", "20", "windows with the largest max kept per neuron", 1,
                           1 << 10),
               integer_key("bottom_k", "0", "windows with the smallest min kept per neuron", 0,
                           1 << 10),
               integer_key("per_quantile", "5",
                           "random windows per quantile bucket [0,.5) [.5,.9) [.9,.99) "
                           "[.99,.999)",
                           0, 1 << 10),
               integer_key("random_sample", "5", "uniform random windows (the same for all)", 0,
                           1 << 10),
               integer_key("pilot_windows", "1024",
                           "first windows whose maxima give the quantile boundaries and "
                           "histogram range",
                           1, 1 << 24),
               integer_key("bins", "40", "histogram bins per neuron", 1, 1 << 12),
               integer_key("logit_tokens", "10", "top and bottom direct-logit tokens (MLP)", 0,
                           1 << 12)},
      .tests = {},
      .default_test = TestKind::Welch,
      .refuses_test = "",
      .needs_corpus = true,
      .default_hooks = "mlp.hook_post",
      .make = [] { return std::make_unique<ExamplesStudy>(); },
  };
  return spec;
}

}  // namespace neurolens::runner
