// study = sampling: activation maximization by data sampling, for every dimension of every
// requested layer at once (the original: GPT-Neo 125M, one book, 1000 random batches of 32 x 256
// tokens, the argmax of one hidden_states dimension per batch, tallied).
// Procedure (docs/studies.md, "sampling"):
//  1. Chunks: every document cut into consecutive chunks of seq_len tokens (tails dropped). A
//     first read of the corpus (each rank its own segments, no forward pass) counts them.
//  2. Batches: `repetitions` batches of `batch_sequences` distinct chunks (without replacement
//     within a batch, batches independent), drawn by std::mt19937_64 seeded with `seed` through
//     a partial Fisher-Yates shuffle (a sparse permutation) with an unbiased rejection draw: the
//     same on every rank, every platform and every rank count. A second read keeps only the
//     DRAWN chunks (at most repetitions x batch_sequences), round by round as the corpus streams
//     (each rank its own segments); each goes through the forward pass once. Per drawn chunk and
//     neuron the maximum activation and where it is (position, token) are folded at once into
//     the repetitions that drew the chunk; ties: the smaller token id, then the smaller position
//     (stats::ArgmaxTally's rule). Memory: [repetitions, neurons] maxima and [neurons,
//     top_contexts] contexts (with the tokens around them), whatever the corpus or the draws.
//  3. Per batch and neuron the winner is the best of its chunks' maxima (same tie rule): exactly
//     the argmax over the batch's [batch_sequences, seq_len] activations. Winners are tallied.
// Distribution: each rank folds the chunks it streamed; Comm::alltoallv sends every rank the
// repetition maxima and contexts of its neuron slice, folded with the same rules (so the rank
// count does not change a bit), and each rank tallies and
// writes its slice. Results per site: top_token / top_token_count [L, W, top_tokens],
// distinct_tokens [L, W], context_value / context_window / context_position / context_token
// [L, W, top_contexts] (the highest-activating of the DRAWN chunks), context_text
// [L * W * top_contexts]; /sampling: the table of drawn chunks (chunk_id = the chunk's index in
// the corpus, chunk_document, chunk_start), batch_chunks [repetitions, batch_sequences] (indices
// into that table), attributes n_chunks (the corpus's) and n_drawn_chunks. save_samples: every
// batch's winner, winner_token / winner_value [L, W, repetitions].
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <unordered_map>

#include "io/error.hpp"
#include "io/text.hpp"
#include "model/arch/hooks.hpp"
#include "model/synth/plant.hpp"
#include "runner/parallel/sharding.hpp"
#include "runner/studies/sampling_chunks.hpp"
#include "runner/studies/study.hpp"

namespace neurolens::runner {
namespace {

// The [sampling] section.
struct SamplingOptions {
  int batch_sequences = 32;
  int seq_len = 256;
  int repetitions = 1000;
  int top_tokens = 10;     // per dimension, the most frequent winning tokens
  int top_contexts = 5;    // per dimension, the highest-activating contexts
  int context_tokens = 8;  // tokens of text either side of a context
};

SamplingOptions sampling_options(const Job& job) {
  const StudyOptions& o = job.options;
  return {o.integer("sampling.batch_sequences"), o.integer("sampling.seq_len"),
          o.integer("sampling.repetitions"),     o.integer("sampling.top_tokens"),
          o.integer("sampling.top_contexts"),    o.integer("sampling.context_tokens")};
}

// The maximum of one neuron over one chunk.
struct Cell {
  float value;
  int32_t position;
  int32_t token;
};
static_assert(sizeof(Cell) == 12);

constexpr Cell kEmptyCell{-std::numeric_limits<float>::infinity(), INT32_MAX, INT32_MAX};

// One of a neuron's top contexts: a drawn chunk's maximum (chunk = its index in the plan).
struct Context {
  Cell cell;
  int32_t pad = 0;
  int64_t chunk = -1;
};
static_assert(sizeof(Context) == 24);

// Top-context order: larger value, then smaller chunk (one context per chunk).
inline bool better_context(const Cell& a, int64_t a_chunk, const Context& b) {
  if (a.value != b.cell.value) return a.value > b.cell.value;
  return a_chunk < b.chunk;
}

// True when (value, token, position) beats `best`: larger value; ties: smaller token, then
// smaller position. NaN never wins.
inline bool beats(float value, int32_t token, int32_t position, const Cell& best) {
  if (value != best.value) return value > best.value;
  if (token != best.token) return token < best.token;
  return position < best.position;
}

// Uniform integer in [0, n) from a 64-bit engine: rejection of the biased top range, so the
// stream of draws is fully specified by the standard's mt19937_64 (unlike
// std::uniform_int_distribution, whose algorithm differs between standard libraries).
uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return x % n;
}

// [repetitions, batch] chunk ids: each batch is a partial Fisher-Yates shuffle of a permutation
// carried over from the previous batch (any arrangement shuffled this way gives a uniform draw
// without replacement).
// The permutation is sparse (only moved entries are stored), so memory follows the draws, not the
// corpus's chunk count.
std::vector<int64_t> draw_batches(uint64_t seed, int64_t n_chunks, int repetitions, int batch) {
  std::mt19937_64 rng(seed);
  std::unordered_map<int64_t, int64_t> moved;  // perm[i] where it is not i
  auto at = [&](int64_t i) {
    const auto it = moved.find(i);
    return it == moved.end() ? i : it->second;
  };
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(repetitions) * static_cast<size_t>(batch));
  for (int r = 0; r < repetitions; ++r) {
    for (int i = 0; i < batch; ++i) {
      const auto j = static_cast<int64_t>(i) +
                     static_cast<int64_t>(draw_below(rng, static_cast<uint64_t>(n_chunks - i)));
      const int64_t a = at(i), b = at(j);
      moved[i] = b;
      moved[j] = a;
      out.push_back(b);
    }
  }
  return out;
}

// A token for a summary line: its text quoted, with control characters escaped.
std::string quote_token(const model::Tokenizer& tok, int32_t id) {
  if (id < 0) return "(none)";
  std::string out = "\"";
  for (char c : tok.token_bytes(id)) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class SamplingStudy : public Study, public Accumulator {
 public:
  // Two reads of the corpus, each rank its own segments: 1. (here) count the chunks (no forward
  // pass) and draw the batches; 2. (run) stream the corpus again, keep only the DRAWN chunks (at
  // most repetitions x batch_sequences) and run them through the forward pass round by round,
  // folding each chunk's maxima into its repetitions. Memory follows the repetitions and the
  // neurons, not the corpus nor the draws.
  Plan make_plan(RunContext& ctx) override {
    const SamplingOptions o = sampling_options(ctx.job);
    check_seq_len(o.seq_len, ctx.model.config, "sampling.seq_len");
    const PlanCounts all = count_stream(ctx, chunk_finder(o.seq_len), {0, ctx.job.max_tokens});
    n_chunks_ = all.windows;
    documents_ = all.documents;
    corpus_tokens_ = all.corpus_tokens;
    drawn_.clear();
    batches_.clear();
    if (n_chunks_ < o.batch_sequences) return {};  // check_plan says why
    std::vector<int64_t> ids =
        draw_batches(ctx.job.seed, n_chunks_, o.repetitions, o.batch_sequences);
    drawn_ = ids;
    std::sort(drawn_.begin(), drawn_.end());
    drawn_.erase(std::unique(drawn_.begin(), drawn_.end()), drawn_.end());
    for (int64_t& id : ids) {
      id = std::lower_bound(drawn_.begin(), drawn_.end(), id) - drawn_.begin();
    }
    batches_ = std::move(ids);
    // The repetitions of every drawn chunk (CSR by drawn index).
    const auto reps = static_cast<size_t>(o.repetitions);
    const auto B = static_cast<size_t>(o.batch_sequences);
    rep_offsets_.assign(drawn_.size() + 1, 0);
    for (int64_t c : batches_) ++rep_offsets_[static_cast<size_t>(c) + 1];
    for (size_t c = 0; c < drawn_.size(); ++c) rep_offsets_[c + 1] += rep_offsets_[c];
    rep_list_.assign(batches_.size(), 0);
    std::vector<int64_t> fill(rep_offsets_.begin(), rep_offsets_.end() - 1);
    for (size_t r = 0; r < reps; ++r) {
      for (size_t i = 0; i < B; ++i) {
        const auto c = static_cast<size_t>(batches_[r * B + i]);
        rep_list_[static_cast<size_t>(fill[c]++)] = static_cast<int32_t>(r);
      }
    }
    return {};  // streamed: run() reads the corpus again
  }

  bool streamed() const override { return true; }
  WindowFinder finder(RunContext& ctx) override {
    // No sample (so no winner) at special tokens: a document's BOS carries attention-sink
    // activations that would win every batch.
    return chunk_finder(sampling_options(ctx.job).seq_len, true,
                        special_token_flags(ctx.tokenizer));
  }
  StreamLimits limits(const RunContext& ctx) const override { return {0, ctx.job.max_tokens}; }
  // Keeps the drawn chunks of each round; their samples carry the chunk's drawn index in
  // pair_id, and the chunk's place in the corpus joins this rank's part of the chunk table.
  RoundHook round_hook(RunContext& /*ctx*/) override {
    return [this](Plan& round) {
      size_t s = 0;
      for (size_t w = 0; w < round.windows.size(); ++w) {
        const int64_t id = round.first_window + static_cast<int64_t>(w);
        const auto it = std::lower_bound(drawn_.begin(), drawn_.end(), id);
        const bool drawn = it != drawn_.end() && *it == id;
        const int64_t d = drawn ? it - drawn_.begin() : -1;
        if (drawn) {
          chunk_table_.insert(chunk_table_.end(),
                              {d, round.windows[w].document, round.windows[w].start});
        }
        for (; s < round.samples.size() && round.samples[s].window == static_cast<int64_t>(w);
             ++s) {
          round.samples[s].pair_id = d;
        }
      }
      keep_windows(round, [this](int64_t id) {
        return std::binary_search(drawn_.begin(), drawn_.end(), id);
      });
    };
  }

  std::vector<std::string> check_plan(RunContext& ctx, const PlanCounts& counts) override {
    const SamplingOptions o = sampling_options(ctx.job);
    const auto n_chunks = n_chunks_;
    PlanCounts plan = counts;
    plan.documents = documents_;
    plan.corpus_tokens = corpus_tokens_;
    if (n_chunks < o.batch_sequences) {
      throw Error("sampling.batch_sequences",
                  "the corpus gives " + std::to_string(n_chunks) + " chunk(s) of " +
                      std::to_string(o.seq_len) + " tokens (" + std::to_string(plan.documents) +
                      " documents, " + std::to_string(plan.corpus_tokens) +
                      " tokens; each document's tail shorter than seq_len is dropped) but a batch "
                      "needs " +
                      std::to_string(o.batch_sequences) + " distinct chunks",
                  "use a larger corpus, a smaller sampling.seq_len or sampling.batch_sequences");
    }
    std::vector<std::string> warnings;
    if (n_chunks == o.batch_sequences) {
      warnings.push_back("sampling: the corpus gives exactly " + std::to_string(n_chunks) +
                         " chunks, so every batch is the whole corpus and all " +
                         std::to_string(o.repetitions) + " repetitions agree");
    }
    return warnings;
  }

  StudySummary run(RunContext& ctx, const Plan& /*plan*/, const OpenResults& open) override {
    const SamplingOptions o = sampling_options(ctx.job);
    PlanCounts counted;
    counted.windows = n_chunks_;
    counted.documents = documents_;
    counted.corpus_tokens = corpus_tokens_;
    check_streamed(*this, ctx, counted);  // before any output: too few chunks is an error
    const auto reps = static_cast<size_t>(o.repetitions);
    const auto S = static_cast<size_t>(snippet_width(o));
    rep_best_.assign(ctx.sites.size(), {});
    contexts_.assign(ctx.sites.size(), {});
    snippets_.assign(ctx.sites.size(), {});
    chunk_table_.clear();
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const auto K = static_cast<size_t>(ctx.sites[s].neurons());
      rep_best_[s].assign(reps * K, kEmptyCell);
      contexts_[s].assign(K * static_cast<size_t>(o.top_contexts), Context{kEmptyCell, 0, -1});
      snippets_[s].assign(K * static_cast<size_t>(o.top_contexts) * S, -1);
    }
    // 1. Per repetition and neuron: the best of the repetition's chunks' maxima so far; per
    // neuron the top contexts among the chunks seen (with the tokens around them).
    ctx_ = &ctx;
    stream_batches(ctx, finder(ctx), limits(ctx), *this, round_hook(ctx));
    ctx.n_windows = static_cast<int64_t>(drawn_.size());
    ctx.n_samples = static_cast<int64_t>(drawn_.size()) * o.seq_len;
    ctx.documents = documents_;
    ctx.corpus_tokens = corpus_tokens_;
    ResultsWriter& out = open();
    finalize(ctx, Plan{}, out);
    return summarize(ctx, Plan{}, results_);
  }

  // 2. and 3. below (the reduction by neuron slice, the batch winners), then the collective
  // write.
  void finalize(RunContext& ctx, const Plan& /*plan*/, ResultsWriter& out) override {
    const auto t_reduce = std::chrono::steady_clock::now();
    const std::vector<int64_t>& batches = batches_;  // indices into the drawn chunks
    results_.clear();
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      results_.push_back(analyse_site(ctx, s));
    }
    ctx.times.reduce += seconds_since(t_reduce);

    const auto t_write = std::chrono::steady_clock::now();
    write_results(ctx, out, results_, batches);
    ctx.times.write += seconds_since(t_write);
  }

  double extra_memory(const RunContext& ctx, const PlanCounts& /*plan*/) const override {
    const SamplingOptions o = sampling_options(ctx.job);
    const double draws = static_cast<double>(o.repetitions) * o.batch_sequences;
    double bytes = 8.0 * draws + 12.0 * draws;             // batches, repetition lists, drawn ids
    bytes += 24.0 * draws / std::max(1, ctx.comm.size());  // this rank's chunk table
    const double per_context = 24.0 + 4.0 * snippet_width(o);
    for (const SiteSpace& s : ctx.sites) {
      const double K = static_cast<double>(s.neurons());
      bytes += 2 * 12.0 * o.repetitions * K;          // per-repetition maxima, own + received
      bytes += 2 * per_context * o.top_contexts * K;  // top contexts, own + received
      bytes += 12.0 * K;                              // one chunk's maxima
    }
    return bytes;
  }

  // Checkpoint: the per-repetition maxima and the top contexts so far.
  std::vector<double> save_state() const override {
    std::vector<double> out;
    for (size_t s = 0; s < rep_best_.size(); ++s) {
      out.push_back(static_cast<double>(rep_best_[s].size()));
      for (const Cell& c : rep_best_[s]) {
        out.push_back(c.value);
        out.push_back(c.position);
        out.push_back(c.token);
      }
      out.push_back(static_cast<double>(contexts_[s].size()));
      for (const Context& c : contexts_[s]) {
        out.push_back(c.cell.value);
        out.push_back(c.cell.position);
        out.push_back(c.cell.token);
        out.push_back(static_cast<double>(c.chunk));
      }
      out.push_back(static_cast<double>(snippets_[s].size()));
      out.insert(out.end(), snippets_[s].begin(), snippets_[s].end());
    }
    out.push_back(static_cast<double>(chunk_table_.size()));
    out.insert(out.end(), chunk_table_.begin(), chunk_table_.end());
    return out;
  }
  void load_state(std::span<const double> state) override {
    size_t i = 0;
    const auto expect = [&](size_t n, size_t width) {
      if (i >= state.size() || static_cast<size_t>(state[i]) != n ||
          i + 1 + width * n > state.size()) {
        throw Error("checkpoint", "does not match this sampling job", "start without --resume");
      }
      ++i;
    };
    for (size_t s = 0; s < rep_best_.size(); ++s) {
      expect(rep_best_[s].size(), 3);
      for (Cell& c : rep_best_[s]) {
        c = {static_cast<float>(state[i]), static_cast<int32_t>(state[i + 1]),
             static_cast<int32_t>(state[i + 2])};
        i += 3;
      }
      expect(contexts_[s].size(), 4);
      for (Context& c : contexts_[s]) {
        c.cell = {static_cast<float>(state[i]), static_cast<int32_t>(state[i + 1]),
                  static_cast<int32_t>(state[i + 2])};
        c.chunk = static_cast<int64_t>(state[i + 3]);
        i += 4;
      }
      expect(snippets_[s].size(), 1);
      for (int32_t& t : snippets_[s]) t = static_cast<int32_t>(state[i++]);
    }
    if (i >= state.size()) {
      throw Error("checkpoint", "does not match this sampling job", "start without --resume");
    }
    const auto n_table = static_cast<size_t>(state[i++]);
    if (i + n_table != state.size()) {
      throw Error("checkpoint", "does not match this sampling job", "start without --resume");
    }
    chunk_table_.assign(n_table, 0);
    for (int64_t& v : chunk_table_) v = static_cast<int64_t>(state[i++]);
    if (i != state.size()) {
      throw Error("checkpoint", "does not match this sampling job", "start without --resume");
    }
  }

 private:
  struct SiteResult {
    Block slice;                          // flat neurons [begin, end) of this rank
    std::vector<int32_t> top_token;       // [slice, top_tokens], -1 padded
    std::vector<int64_t> top_count;       // [slice, top_tokens], 0 padded
    std::vector<int64_t> distinct;        // [slice]
    std::vector<float> context_value;     // [slice, top_contexts], NaN padded
    std::vector<int64_t> context_window;  // [slice, top_contexts], -1 padded
    std::vector<int32_t> context_position, context_token;
    std::vector<std::string> context_text;  // [slice, top_contexts]
    std::vector<int32_t> winner_token;      // [slice, repetitions] (save_samples)
    std::vector<float> winner_value;
    std::vector<int64_t> best_all;  // [K, 4] (top1 token, count, top2 token, count), all ranks
  };

  // Accumulator: the batch's maxima into this rank's chunks (run_batches calls it).
  void add(const SampleBatch& b) override { consume(*ctx_, b); }

  void consume(const RunContext& ctx, const SampleBatch& b) {
    const SamplingOptions o = sampling_options(ctx.job);
    const auto n_ctx = static_cast<size_t>(o.top_contexts);
    const int c_tokens = o.context_tokens;
    const auto S = static_cast<size_t>(snippet_width(o));
    chunk_tokens_.resize(static_cast<size_t>(o.seq_len));
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const auto K = static_cast<size_t>(ctx.sites[s].neurons());
      const std::vector<float>& rows = b.rows[s];
      chunk_max_.resize(K);
      snippet_.resize(S);
      // Runs of samples of one chunk (pair_id = its drawn index, set by round_hook): the chunk's
      // maxima, then into its repetitions and the top contexts. A chunk split over two batches
      // would be folded twice; both folds are max operations and a chunk keeps one context, so
      // the result does not depend on the split.
      size_t i = 0;
      while (i < b.samples.size()) {
        const int64_t chunk = b.samples[i].pair_id;
        const size_t run_begin = i;
        std::fill(chunk_max_.begin(), chunk_max_.end(), kEmptyCell);
        std::fill(chunk_tokens_.begin(), chunk_tokens_.end(), -1);
        for (; i < b.samples.size() && b.samples[i].pair_id == chunk; ++i) {
          const Sample& sample = b.samples[i];
          if (sample.position >= 0 && sample.position < o.seq_len) {
            chunk_tokens_[static_cast<size_t>(sample.position)] = sample.token;
          }
          const float* row = rows.data() + i * K;
          for (size_t k = 0; k < K; ++k) {
            if (beats(row[k], sample.token, sample.position, chunk_max_[k])) {
              chunk_max_[k] = {row[k], sample.position, sample.token};
            }
          }
        }
        if (chunk < 0 || chunk >= static_cast<int64_t>(drawn_.size())) {
          throw Error("sampling", "internal: a sample of a chunk that was not drawn (" +
                                      std::to_string(i - run_begin) + " samples)");
        }
        const auto c = static_cast<size_t>(chunk);
        for (int64_t e = rep_offsets_[c]; e < rep_offsets_[c + 1]; ++e) {
          Cell* best =
              rep_best_[s].data() + static_cast<size_t>(rep_list_[static_cast<size_t>(e)]) * K;
          for (size_t k = 0; k < K; ++k) {
            const Cell& m = chunk_max_[k];
            if (beats(m.value, m.token, m.position, best[k])) best[k] = m;
          }
        }
        if (n_ctx == 0) continue;
        for (size_t k = 0; k < K; ++k) {
          const Cell& m = chunk_max_[k];
          if (m.token == INT32_MAX) continue;
          // The tokens around the maximum: positions p - c_tokens .. p + c_tokens (-1 outside).
          for (size_t j = 0; j < S; ++j) {
            const int pos = m.position - c_tokens + static_cast<int>(j);
            snippet_[j] =
                pos >= 0 && pos < o.seq_len ? chunk_tokens_[static_cast<size_t>(pos)] : -1;
          }
          insert_context(contexts_[s].data() + k * n_ctx, snippets_[s].data() + k * n_ctx * S,
                         n_ctx, S, m, chunk, snippet_.data());
        }
      }
    }
  }

  // Keeps list[0, n) sorted by better_context, one entry per chunk (chunk -1: empty, last), and
  // each entry's snippet (S tokens, at snippets + index * S) with it.
  static void insert_context(Context* list, int32_t* snippets, size_t n, size_t S, const Cell& c,
                             int64_t chunk, const int32_t* snippet) {
    const auto beats_entry = [](const Cell& v, int64_t ch, const Context& e) {
      return e.chunk < 0 || better_context(v, ch, e);
    };
    // Not better than the last: nothing to do (an entry of the same chunk, if any, is at least
    // as good, since the list is sorted).
    if (!beats_entry(c, chunk, list[n - 1])) return;
    // An entry of the same chunk that is better stays; a worse one is replaced.
    size_t at = n - 1;
    for (size_t j = 0; j < n; ++j) {
      if (list[j].chunk != chunk) continue;
      if (!beats_entry(c, chunk, list[j])) return;
      at = j;
      break;
    }
    size_t j = at;
    while (j > 0 && beats_entry(c, chunk, list[j - 1])) {
      list[j] = list[j - 1];
      std::copy_n(snippets + (j - 1) * S, S, snippets + j * S);
      --j;
    }
    list[j] = Context{c, 0, chunk};
    std::copy_n(snippet, S, snippets + j * S);
  }

  static int snippet_width(const SamplingOptions& o) { return 2 * o.context_tokens + 1; }

  SiteResult analyse_site(RunContext& ctx, size_t s) {
    const Comm& comm = ctx.comm;
    const SamplingOptions o = sampling_options(ctx.job);
    const int n_ranks = comm.size();
    const int64_t K = ctx.sites[s].neurons();
    const std::vector<int64_t> offsets = block_offsets(K, n_ranks);
    SiteResult r;
    r.slice = {offsets[static_cast<size_t>(comm.rank())],
               offsets[static_cast<size_t>(comm.rank()) + 1]};
    const auto slice = static_cast<size_t>(r.slice.size());

    // 2. Reduce by neuron slice: rank q receives every rank's per-repetition maxima and top
    // contexts of its slice, and folds them (same tie rules, so the order of ranks is moot).
    const auto reps = static_cast<size_t>(o.repetitions);
    const auto n_top = static_cast<size_t>(o.top_tokens);
    const auto n_ctx = static_cast<size_t>(o.top_contexts);
    const auto Ku = static_cast<size_t>(K);
    std::vector<int64_t> send_counts(static_cast<size_t>(n_ranks)),
        send_displs(static_cast<size_t>(n_ranks)), recv_counts(static_cast<size_t>(n_ranks));
    if (reps * slice * static_cast<size_t>(n_ranks) > static_cast<size_t>(INT_MAX) ||
        reps * Ku > static_cast<size_t>(INT_MAX)) {
      throw Error("sampling", "more than 2^31 repetition maxima per rank",
                  "run on more ranks, fewer repetitions or fewer layers per job");
    }
    std::vector<Cell> send;
    send.reserve(reps * Ku);
    for (int q = 0; q < n_ranks; ++q) {
      const auto q0 = static_cast<size_t>(offsets[static_cast<size_t>(q)]),
                 q1 = static_cast<size_t>(offsets[static_cast<size_t>(q) + 1]);
      send_displs[static_cast<size_t>(q)] = static_cast<int64_t>(send.size());
      for (size_t rep = 0; rep < reps; ++rep) {
        const Cell* row = rep_best_[s].data() + rep * Ku;
        send.insert(send.end(), row + q0, row + q1);
      }
      send_counts[static_cast<size_t>(q)] = static_cast<int64_t>(reps * (q1 - q0));
      recv_counts[static_cast<size_t>(q)] = static_cast<int64_t>(reps * slice);
    }
    std::vector<Cell>().swap(rep_best_[s]);
    std::vector<Cell> recv = comm.alltoallv<Cell>(send, send_counts, send_displs, recv_counts);
    std::vector<Cell>().swap(send);
    // best[j, rep]: the fold over ranks.
    std::vector<Cell> best(slice * reps, kEmptyCell);
    for (int q = 0; q < n_ranks; ++q) {
      const Cell* from = recv.data() + static_cast<size_t>(q) * reps * slice;
      for (size_t rep = 0; rep < reps; ++rep) {
        for (size_t j = 0; j < slice; ++j) {
          const Cell& c = from[rep * slice + j];
          Cell& b = best[j * reps + rep];
          if (beats(c.value, c.token, c.position, b)) b = c;
        }
      }
    }
    std::vector<Cell>().swap(recv);
    std::vector<Context> contexts;  // [slice, n_ctx] merged
    std::vector<int32_t> snippets;  // [slice, n_ctx, S]
    const auto S = static_cast<size_t>(snippet_width(o));
    if (n_ctx > 0) {
      std::vector<int64_t> c_counts(static_cast<size_t>(n_ranks)),
          c_displs(static_cast<size_t>(n_ranks)), c_recv(static_cast<size_t>(n_ranks));
      std::vector<int64_t> t_counts(static_cast<size_t>(n_ranks)),
          t_displs(static_cast<size_t>(n_ranks)), t_recv(static_cast<size_t>(n_ranks));
      for (int q = 0; q < n_ranks; ++q) {
        const auto q0 = static_cast<size_t>(offsets[static_cast<size_t>(q)]),
                   q1 = static_cast<size_t>(offsets[static_cast<size_t>(q) + 1]);
        c_displs[static_cast<size_t>(q)] = static_cast<int64_t>(q0 * n_ctx);
        c_counts[static_cast<size_t>(q)] = static_cast<int64_t>((q1 - q0) * n_ctx);
        c_recv[static_cast<size_t>(q)] = static_cast<int64_t>(slice * n_ctx);
        t_displs[static_cast<size_t>(q)] = static_cast<int64_t>(q0 * n_ctx * S);
        t_counts[static_cast<size_t>(q)] = static_cast<int64_t>((q1 - q0) * n_ctx * S);
        t_recv[static_cast<size_t>(q)] = static_cast<int64_t>(slice * n_ctx * S);
      }
      std::vector<Context> crecv =
          comm.alltoallv<Context>(contexts_[s], c_counts, c_displs, c_recv);
      std::vector<Context>().swap(contexts_[s]);
      std::vector<int32_t> trecv =
          comm.alltoallv<int32_t>(snippets_[s], t_counts, t_displs, t_recv);
      std::vector<int32_t>().swap(snippets_[s]);
      contexts.assign(slice * n_ctx, Context{kEmptyCell, 0, -1});
      snippets.assign(slice * n_ctx * S, -1);
      for (int q = 0; q < n_ranks; ++q) {
        const Context* from = crecv.data() + static_cast<size_t>(q) * slice * n_ctx;
        const int32_t* from_t = trecv.data() + static_cast<size_t>(q) * slice * n_ctx * S;
        for (size_t j = 0; j < slice; ++j) {
          for (size_t i = 0; i < n_ctx; ++i) {
            const Context& c = from[j * n_ctx + i];
            if (c.chunk < 0) continue;
            insert_context(contexts.data() + j * n_ctx, snippets.data() + j * n_ctx * S, n_ctx, S,
                           c.cell, c.chunk, from_t + (j * n_ctx + i) * S);
          }
        }
      }
    }

    // 3. Per neuron of the slice: batch winners, tally, top contexts.
    r.top_token.assign(slice * n_top, -1);
    r.top_count.assign(slice * n_top, 0);
    r.distinct.assign(slice, 0);
    r.context_value.assign(slice * n_ctx, std::numeric_limits<float>::quiet_NaN());
    r.context_window.assign(slice * n_ctx, -1);
    r.context_position.assign(slice * n_ctx, -1);
    r.context_token.assign(slice * n_ctx, -1);
    if (ctx.job.save_samples) {
      r.winner_token.assign(slice * reps, -1);
      r.winner_value.assign(slice * reps, std::numeric_limits<float>::quiet_NaN());
    }
    std::vector<int64_t> best_mine(slice * 4, -1);
    std::vector<int32_t> winners(reps);
    std::vector<std::pair<int32_t, int64_t>> counts;
    for (size_t j = 0; j < slice; ++j) {
      for (size_t rep = 0; rep < reps; ++rep) {
        const Cell& b = best[j * reps + rep];
        winners[rep] = b.token == INT32_MAX ? -1 : b.token;
        if (ctx.job.save_samples) {
          r.winner_token[j * reps + rep] = winners[rep];
          r.winner_value[j * reps + rep] = b.value;
        }
      }
      std::sort(winners.begin(), winners.end());
      counts.clear();
      for (int32_t t : winners) {
        if (t < 0) continue;
        if (!counts.empty() && counts.back().first == t) {
          counts.back().second += 1;
        } else {
          counts.emplace_back(t, 1);
        }
      }
      std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
      });
      r.distinct[j] = static_cast<int64_t>(counts.size());
      for (size_t i = 0; i < std::min(n_top, counts.size()); ++i) {
        r.top_token[j * n_top + i] = counts[i].first;
        r.top_count[j * n_top + i] = counts[i].second;
      }
      for (size_t i = 0; i < std::min<size_t>(2, counts.size()); ++i) {
        best_mine[j * 4 + 2 * i] = counts[i].first;
        best_mine[j * 4 + 2 * i + 1] = counts[i].second;
      }
      // Top contexts over the drawn chunks: value desc, then chunk asc (one per chunk).
      for (size_t i = 0; i < n_ctx; ++i) {
        const Context& c = contexts[j * n_ctx + i];
        if (c.chunk < 0) continue;
        r.context_value[j * n_ctx + i] = c.cell.value;
        r.context_window[j * n_ctx + i] = c.chunk;
        r.context_position[j * n_ctx + i] = c.cell.position;
        r.context_token[j * n_ctx + i] = c.cell.token;
      }
    }
    r.best_all = comm.allgatherv(best_mine);
    r.context_text = context_texts(ctx, r, snippets);
    return r;
  }

  // "text before[[token]]text after": up to context_tokens tokens either side of the position,
  // inside its chunk (what the model saw before it, and what followed), from the snippets kept
  // with the contexts.
  std::vector<std::string> context_texts(const RunContext& ctx, const SiteResult& r,
                                         const std::vector<int32_t>& snippets) {
    const SamplingOptions o = sampling_options(ctx.job);
    const auto S = static_cast<size_t>(snippet_width(o));
    const auto c = static_cast<size_t>(o.context_tokens);
    std::vector<std::string> out(r.context_window.size());
    std::vector<int32_t> ids;
    const auto decode = [&](const int32_t* t, size_t n) {
      ids.clear();
      for (size_t i = 0; i < n; ++i) {
        if (t[i] >= 0) ids.push_back(t[i]);
      }
      return ctx.tokenizer.decode(ids);
    };
    for (size_t i = 0; i < out.size(); ++i) {
      if (r.context_window[i] < 0) continue;
      const int32_t* t = snippets.data() + i * S;
      out[i] = decode(t, c) + "[[" + decode(t + c, 1) + "]]" + decode(t + c + 1, c);
    }
    return out;
  }

  static void write_cube(ResultsWriter& out, const SiteSpace& site, const std::string& name,
                         io::H5Type type, size_t depth, const char* depth_label,
                         const SiteResult& r, const void* data) {
    write_neuron_cube(out, site, name, type, {static_cast<hsize_t>(depth)}, {depth_label}, r.slice,
                      data);
  }

  void write_results(RunContext& ctx, ResultsWriter& out, const std::vector<SiteResult>& results,
                     const std::vector<int64_t>& batches) {
    const SamplingOptions o = sampling_options(ctx.job);
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const SiteSpace& site = ctx.sites[s];
      const SiteResult& r = results[s];
      out.create_site(site);
      const auto n_top = static_cast<size_t>(o.top_tokens);
      const auto n_ctx = static_cast<size_t>(o.top_contexts);
      write_cube(out, site, "top_token", io::H5Type::I32, n_top, "rank", r, r.top_token.data());
      write_cube(out, site, "top_token_count", io::H5Type::I64, n_top, "rank", r,
                 r.top_count.data());
      write_cube(out, site, "distinct_tokens", io::H5Type::I64, 1, "one", r, r.distinct.data());
      if (n_ctx > 0) {
        write_cube(out, site, "context_value", io::H5Type::F32, n_ctx, "context", r,
                   r.context_value.data());
        write_cube(out, site, "context_window", io::H5Type::I64, n_ctx, "context", r,
                   r.context_window.data());
        write_cube(out, site, "context_position", io::H5Type::I32, n_ctx, "context", r,
                   r.context_position.data());
        write_cube(out, site, "context_token", io::H5Type::I32, n_ctx, "context", r,
                   r.context_token.data());
        const std::vector<std::string> texts = ctx.comm.allgather_strings(r.context_text);
        const std::string path = "/" + site.site + "/context_text";
        out.file().write_strings(path, texts, ctx.comm.root());
        out.set_attribute(path, "layout",
                          std::string("[n_layers, width, top_contexts] flattened row-major; "
                                      "text before[[token]]text after"));
      }
      if (ctx.job.save_samples) {
        const auto reps = static_cast<size_t>(o.repetitions);
        write_cube(out, site, "winner_token", io::H5Type::I32, reps, "repetition", r,
                   r.winner_token.data());
        write_cube(out, site, "winner_value", io::H5Type::F32, reps, "repetition", r,
                   r.winner_value.data());
      }
      out.set_attribute("/" + site.site, "repetitions", static_cast<int64_t>(o.repetitions));
    }
    out.file().create_group("/sampling");
    // The drawn chunks' places in the corpus: each rank's part of the table, gathered.
    const std::vector<int64_t> table = ctx.comm.allgatherv(chunk_table_);
    std::vector<int64_t> document(drawn_.size(), -2), start(drawn_.size(), -2);
    size_t found = 0;
    for (size_t i = 0; i + 2 < table.size(); i += 3) {
      const auto d = static_cast<size_t>(table[i]);
      if (d >= drawn_.size() || document[d] != -2) continue;
      document[d] = table[i + 1];
      start[d] = table[i + 2];
      ++found;
    }
    if (found != drawn_.size()) {
      throw Error("corpus",
                  "the corpus changed between its two reads (" + std::to_string(found) + " of " +
                      std::to_string(drawn_.size()) + " drawn chunks found)",
                  "do not modify corpus files during a run");
    }
    const std::vector<hsize_t> chunk_dims = {static_cast<hsize_t>(drawn_.size())};
    out.write_shared("/sampling/chunk_document", io::H5Type::I64, chunk_dims, document.data());
    out.write_shared("/sampling/chunk_start", io::H5Type::I64, chunk_dims, start.data());
    out.write_shared("/sampling/batch_chunks", io::H5Type::I64,
                     {static_cast<hsize_t>(o.repetitions), static_cast<hsize_t>(o.batch_sequences)},
                     batches.data());
    out.set_attribute("/sampling", "repetitions", static_cast<int64_t>(o.repetitions));
    out.set_attribute("/sampling", "batch_sequences", static_cast<int64_t>(o.batch_sequences));
    out.set_attribute("/sampling", "seq_len", static_cast<int64_t>(o.seq_len));
    out.set_attribute("/sampling", "n_chunks", n_chunks_);
    out.set_attribute("/sampling", "n_drawn_chunks", static_cast<int64_t>(drawn_.size()));
    out.write_shared("/sampling/chunk_id", io::H5Type::I64, chunk_dims, drawn_.data());
    out.set_attribute("/sampling", "seed", static_cast<int64_t>(ctx.job.seed));
    out.set_attribute("/sampling", "top_tokens", static_cast<int64_t>(o.top_tokens));
    out.set_attribute("/sampling", "top_contexts", static_cast<int64_t>(o.top_contexts));
    out.set_attribute("/sampling", "context_tokens", static_cast<int64_t>(o.context_tokens));
    out.set_attribute("/sampling", "draw",
                      std::string("mt19937_64(seed), partial Fisher-Yates: "
                                  "distinct chunks within a batch, batches independent"));
    out.set_attribute("/sampling", "tie_rule",
                      std::string("larger value; ties: smaller token id, then smaller position"));
  }

  StudySummary summarize(const RunContext& ctx, const Plan& /*plan*/,
                         const std::vector<SiteResult>& results) const {
    const SamplingOptions o = sampling_options(ctx.job);
    StudySummary summary;
    char line[512];
    std::snprintf(
        line, sizeof line,
        "sampling: %d batches of %d x %d tokens drawn (seed %llu) from %lld chunks of %lld "
        "documents",
        o.repetitions, o.batch_sequences, o.seq_len, static_cast<unsigned long long>(ctx.job.seed),
        static_cast<long long>(n_chunks_), static_cast<long long>(documents_));
    summary.lines.push_back(line);
    const double reps = o.repetitions;
    auto describe = [&](const SiteSpace& site, const SiteResult& r, size_t k) {
      const int64_t* b = r.best_all.data() + 4 * k;
      std::string text = "top token " + quote_token(ctx.tokenizer, static_cast<int32_t>(b[0]));
      char buf[128];
      std::snprintf(buf, sizeof buf, " won %.1f%% of %d batches",
                    100.0 * static_cast<double>(std::max<int64_t>(b[1], 0)) / reps, o.repetitions);
      text += buf;
      if (b[2] >= 0) {
        std::snprintf(buf, sizeof buf, ", %.1f%%)", 100.0 * static_cast<double>(b[3]) / reps);
        text += " (next " + quote_token(ctx.tokenizer, static_cast<int32_t>(b[2])) + buf;
      }
      (void)site;
      return text;
    };
    for (size_t s = 0; s < ctx.sites.size(); ++s) {
      const SiteSpace& site = ctx.sites[s];
      const SiteResult& r = results[s];
      // The dimension whose top token wins most often (ties: smaller flat index).
      size_t best = 0;
      for (size_t k = 1; k < static_cast<size_t>(site.neurons()); ++k) {
        if (r.best_all[4 * k + 1] > r.best_all[4 * best + 1]) best = k;
      }
      const size_t layer_i = best / static_cast<size_t>(site.width);
      std::snprintf(line, sizeof line, "%s: most concentrated: %s #%zu: ", site.site.c_str(),
                    model::hook_name(site.points[layer_i]).c_str(),
                    best % static_cast<size_t>(site.width));
      summary.lines.push_back(line + describe(site, r, best));
      for (const model::PlantedNeuron& planted : model::read_planted(ctx.model.dir)) {
        if (planted.site != site.site) continue;
        const auto it = std::find(site.layers.begin(), site.layers.end(), planted.layer);
        if (it == site.layers.end()) continue;
        const auto li = static_cast<size_t>(it - site.layers.begin());
        const size_t k = li * static_cast<size_t>(site.width) + static_cast<size_t>(planted.neuron);
        std::snprintf(line, sizeof line, "planted %s %s %s #%d: ", planted.concept_name.c_str(),
                      site.site == "hidden_states" ? "dimension" : "neuron",
                      model::hook_name(site.points[li]).c_str(), planted.neuron);
        summary.lines.push_back(line + describe(site, r, k));
      }
    }
    return summary;
  }

  std::vector<std::vector<Cell>> rep_best_;      // [site][repetition, K] best chunk maxima so far
  std::vector<std::vector<Context>> contexts_;   // [site][K, top_contexts] sorted, -1 = empty
  std::vector<Cell> chunk_max_;                  // [K] one chunk's maxima (scratch)
  std::vector<std::vector<int32_t>> snippets_;   // [site][K, top_contexts, 2 c + 1] token ids
  std::vector<int32_t> chunk_tokens_, snippet_;  // scratch: one chunk's tokens, one snippet
  std::vector<int64_t> rep_offsets_;             // [drawn + 1] CSR offsets into rep_list_
  std::vector<int32_t> rep_list_;                // the repetitions of each drawn chunk
  std::vector<int64_t> chunk_table_;  // this rank's drawn chunks: (drawn index, document, start)
  const RunContext* ctx_ = nullptr;
  std::vector<SiteResult>
      results_;           // per site, after finalize       // the run being accumulated (add)
  int64_t n_chunks_ = 0;  // chunks of the whole corpus
  int64_t documents_ = 0, corpus_tokens_ = 0;
  std::vector<int64_t> drawn_;    // global ids of the drawn chunks, sorted (= the plan's windows)
  std::vector<int64_t> batches_;  // [repetitions, batch_sequences] indices into drawn_
};

}  // namespace

const StudySpec& sampling_study_spec() {
  static const StudySpec spec{
      .name = "sampling",
      .summary = "random batches: per dimension, the winning tokens and top contexts (no test)",
      .keys = {integer_key("batch_sequences", "32", "sequences per random batch", 1, 1 << 20),
               integer_key("seq_len", "256", "tokens per sequence", 1, 1 << 20),
               integer_key("repetitions", "1000", "random batches", 1, 1 << 30),
               integer_key("top_tokens", "10", "most frequent winning tokens kept per dimension", 1,
                           1 << 20),
               integer_key("top_contexts", "5", "highest-activating contexts kept per dimension", 0,
                           1 << 10),
               integer_key("context_tokens", "8", "tokens of text either side of a context", 0,
                           1 << 10)},
      .tests = {},
      .default_test = TestKind::Welch,
      .refuses_test = "",
      .needs_corpus = true,
      .make = [] { return std::make_unique<SamplingStudy>(); },
  };
  return spec;
}

}  // namespace neurolens::runner
