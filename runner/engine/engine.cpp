#include "runner/engine/engine.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>

#include "io/error.hpp"
#include "io/text.hpp"
#include "model/arch/forward.hpp"
#include "model/ops/gemm_bf16.hpp"
#include "runner/engine/resume_state.hpp"
#include "runner/engine/sample_spill.hpp"
#include "runner/parallel/sharding.hpp"

namespace neurolens::runner {

void require_precision_supported(model::Precision precision, const std::string& key,
                                 const std::string& hint) {
  if (precision == model::Precision::Bf16 && !model::bf16_compute_supported()) {
    throw Error(key, "bf16 needs a CPU with AVX-512 BF16 (AVX512_BF16); this one has none", hint);
  }
}
namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void request_stop(int) {
  g_stop_requested.store(true);
}

std::string format_duration(double s) {
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                  (static_cast<int>(s) % 3600) / 60);
  }
  return buf;
}

}  // namespace

// ---- Progress ---------------------------------------------------------------------------------

Progress::Progress(const Comm& comm, int64_t total_windows, int64_t tokens_per_window)
    : comm_(comm),
      total_(total_windows),
      tokens_per_window_(tokens_per_window),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

void Progress::update(int64_t local_windows_done) {
  if (!comm_.root()) return;
  const double since_print = seconds_since(last_print_);
  if (since_print < 10.0) return;
  last_print_ = std::chrono::steady_clock::now();
  // Rank 0 sees its own share; ranks hold balanced shares, so it extrapolates.
  const int64_t share = block_range(total_, 0, comm_.size()).size();
  const double fraction = share > 0 ? static_cast<double>(local_windows_done) / share : 1.0;
  const double elapsed = seconds_since(start_);
  const double done = fraction * static_cast<double>(total_);
  const double rate = elapsed > 0 ? done * static_cast<double>(tokens_per_window_) / elapsed : 0;
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  std::fprintf(stderr, "neurolens: %lld/%lld windows (%.0f%%), %.0f tokens/s, ETA %s\n",
               static_cast<long long>(done), static_cast<long long>(total_), 100 * fraction, rate,
               format_duration(eta).c_str());
  printed_ = true;
}

void Progress::finish() {
  if (comm_.root() && printed_) {
    std::fprintf(stderr, "neurolens: %lld/%lld windows done in %s\n",
                 static_cast<long long>(total_), static_cast<long long>(total_),
                 format_duration(seconds_since(start_)).c_str());
  }
}

// ---- Batches ----------------------------------------------------------------------------------

void install_stop_handlers() {
  g_stop_requested.store(false);
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
}

BatchRunner::BatchRunner(RunContext& ctx, Accumulator& accumulator)
    : ctx_(ctx),
      accumulator_(accumulator),
      checkpoint_(std::make_unique<ResumeState>(ctx.job, ctx.comm)),
      last_checkpoint_(std::chrono::steady_clock::now()),
      start_(last_checkpoint_),
      last_print_(last_checkpoint_) {}

BatchRunner::~BatchRunner() = default;

StreamTotals BatchRunner::resume() {
  StreamTotals totals;
  if (!ctx_.job.resume) return totals;
  std::vector<double> saved = checkpoint_->load(generation_);
  if (saved.empty())
    throw Error("checkpoint", "the saved state is empty", "start without --resume");
  size_t at = 0;
  if (saved.size() < 2)
    throw Error("checkpoint", "the saved state is truncated", "start without --resume");
  skip_batches_ = static_cast<int64_t>(saved[at++]);
  forward_tokens_ = static_cast<int64_t>(saved[at++]);
  totals = StreamTotals::deserialize(saved, at);
  accumulator_.load_state(std::span<const double>(saved).subspan(at));
  if (ctx_.comm.root()) {
    std::fprintf(stderr, "neurolens: resuming after batch %lld (checkpoint)\n",
                 static_cast<long long>(generation_));
  }
  return totals;
}

void BatchRunner::save(int64_t skip_batches, const StreamTotals& totals) {
  std::vector<double> state = {static_cast<double>(skip_batches),
                               static_cast<double>(forward_tokens_)};
  const std::vector<double> t = totals.serialize();
  state.insert(state.end(), t.begin(), t.end());
  const std::vector<double> acc = accumulator_.save_state();
  state.insert(state.end(), acc.begin(), acc.end());
  checkpoint_->save(++generation_, state);
  last_checkpoint_ = std::chrono::steady_clock::now();
}

void BatchRunner::ensure_forward(int B, int T) {
  if (forward_ && B <= forward_B_ && T <= forward_T_) return;
  forward_B_ = std::max(B, forward_B_);
  forward_T_ = std::max(T, forward_T_);
  forward_.reset();
  forward_ = std::make_unique<model::ForwardPass>(ctx_.model, forward_B_, std::max(forward_T_, 1),
                                                  forward_precision(ctx_.job));
}

void BatchRunner::run(const Plan& plan, const StreamTotals& before, const StreamTotals& after) {
  const Comm& comm = ctx_.comm;
  const Block my = plan.rank_batches(comm.rank(), comm.size());
  const Block block = plan.rank_block(comm.rank(), comm.size());
  int B = 1;
  for (int64_t b = 0; b < plan.n_batches(); ++b) {
    B = std::max<int>(B, static_cast<int>(plan.batch_offsets[static_cast<size_t>(b) + 1] -
                                          plan.batch_offsets[static_cast<size_t>(b)]));
  }
  const int64_t my_batches = my.size();
  // Every rank runs the same number of iterations (some empty), so the collective decisions
  // between batches match up.
  const int64_t max_batches = comm.allreduce_max(my_batches);

  // All samples at one position p: capture only p and stop the forward at p (a causal model's
  // activations at p do not depend on later tokens). Decided on every rank alike.
  int single_position = -1;
  {
    int lo = INT32_MAX, hi = -1;
    for (const Sample& s : plan.samples) {
      lo = std::min(lo, s.position);
      hi = std::max(hi, s.position);
    }
    lo = -comm.allreduce_max(-lo);
    hi = comm.allreduce_max(hi);
    if (hi >= 0 && lo == hi) single_position = lo;
  }
  const int T = comm.allreduce_max(plan.window_length);
  const int run_T = single_position >= 0 ? single_position + 1 : T;
  const int P = single_position >= 0 ? 1 : T;
  const std::vector<int> positions =
      single_position >= 0 ? std::vector<int>{single_position} : std::vector<int>{};
  const int64_t start_batch = std::min(skip_batches_, max_batches);
  skip_batches_ = 0;
  if (max_batches > 0) ensure_forward(B, run_T);

  std::vector<std::vector<float>> capture(ctx_.sites.size());
  std::vector<std::vector<std::vector<float>>> per_point(ctx_.sites.size());
  for (size_t s = 0; s < ctx_.sites.size(); ++s) {
    per_point[s].resize(ctx_.sites[s].points.size());
    for (auto& buf : per_point[s]) {
      buf.resize(static_cast<size_t>(B) * P * static_cast<size_t>(ctx_.sites[s].width));
    }
  }
  std::vector<std::vector<float>> rows(ctx_.sites.size());
  std::vector<int32_t> tokens, run_tokens;
  std::unique_ptr<Progress> progress;
  if (!plan.local) {
    progress = std::make_unique<Progress>(comm, static_cast<int64_t>(plan.windows.size()), run_T);
  }

  Comm::MaxVote decision(comm);  // {stop, checkpoint}
  for (int64_t batch = start_batch; batch < max_batches; ++batch) {
    const int64_t global_batch = my.begin + batch;
    const int64_t w0 =
        batch < my_batches ? plan.batch_offsets[static_cast<size_t>(global_batch)] : block.end;
    const int64_t w1 =
        batch < my_batches ? plan.batch_offsets[static_cast<size_t>(global_batch) + 1] : block.end;
    if (w1 > w0) {
      const auto t0 = std::chrono::steady_clock::now();
      const int n = static_cast<int>(w1 - w0);
      fetch_window_tokens(plan, w0, w1, tokens);
      const int32_t* ids = tokens.data();
      if (run_T != T) {
        run_tokens.resize(static_cast<size_t>(n) * run_T);
        for (int i = 0; i < n; ++i) {
          std::copy_n(tokens.begin() + static_cast<long>(i) * T, run_T,
                      run_tokens.begin() + static_cast<long>(i) * run_T);
        }
        ids = run_tokens.data();
      }
      std::vector<model::CaptureRequest> requests;
      for (size_t s = 0; s < ctx_.sites.size(); ++s) {
        for (size_t l = 0; l < ctx_.sites[s].points.size(); ++l) {
          requests.push_back({ctx_.sites[s].points[l], per_point[s][l].data()});
        }
      }
      forward_->run(std::span<const int32_t>(ids, static_cast<size_t>(n) * run_T), n, run_T,
                    requests, positions);
      forward_tokens_ += static_cast<int64_t>(n) * run_T;
      ctx_.times.forward += seconds_since(t0);

      // Rows of the samples in these windows, per site: [n_samples, n_layers * width].
      const Block sample_range = plan.samples_of({w0, w1});
      const auto first = plan.samples.begin() + sample_range.begin;
      const std::span<const Sample> samples(&*first, static_cast<size_t>(sample_range.size()));
      for (size_t s = 0; s < ctx_.sites.size(); ++s) {
        const SiteSpace& site = ctx_.sites[s];
        const size_t width = static_cast<size_t>(site.width);
        const size_t K = static_cast<size_t>(site.neurons());
        rows[s].resize(samples.size() * K);
        for (size_t i = 0; i < samples.size(); ++i) {
          const size_t b = static_cast<size_t>(samples[i].window - w0);
          const size_t p = single_position >= 0 ? 0 : static_cast<size_t>(samples[i].position);
          for (size_t l = 0; l < site.points.size(); ++l) {
            const float* src = per_point[s][l].data() + (b * P + p) * width;
            std::copy_n(src, width, rows[s].data() + i * K + l * width);
          }
        }
      }
      if (!samples.empty()) {
        accumulator_.add(
            SampleBatch{samples, plan.first_sample + sample_range.begin, plan.first_window, rows});
      }
      if (progress) progress->update(w1 - block.begin);
    }
    // Between batches, all ranks decide together: checkpoint now? stop? The decision about the
    // flags raised before batch b is exchanged with a non-blocking all-reduce that overlaps the
    // compute of batch b + 1, so no rank idles (or busy-polls) in it; a checkpoint then follows
    // batch b + 1.
    const bool last = batch + 1 == max_batches;
    if (decision.pending()) {
      const std::span<const int> flags_in = decision.wait();
      if ((flags_in[0] != 0 || flags_in[1] != 0) && !last) {
        save(batch + 1, before);
        if (flags_in[0] != 0) throw Interrupted{generation_};
      }
    }
    if (!last) decision.start(flags());
  }
  if (progress) progress->finish();
  if (plan.local) {
    // Between rounds: one blocking vote, so rounds of a single batch still checkpoint.
    const std::vector<int> mine = flags();
    const int stop = comm.allreduce_max(mine[0]);
    const int save_now = comm.allreduce_max(mine[1]);
    if ((stop != 0 || save_now != 0) && !after.done) {
      save(0, after);
      if (stop != 0) throw Interrupted{generation_};
    }
    report_round(after);
  }
}

std::vector<int> BatchRunner::flags() const {
  return {g_stop_requested.load() ? 1 : 0,
          (ctx_.job.checkpoint_every > 0 &&
           seconds_since(last_checkpoint_) >= ctx_.job.checkpoint_every)
              ? 1
              : 0};
}

void BatchRunner::set_rounds(int64_t total_rounds) {
  total_rounds_ = total_rounds;
}

void BatchRunner::report_round(const StreamTotals& after) {
  if (!ctx_.comm.root() || total_rounds_ <= 0) return;
  if (seconds_since(last_print_) < 10.0) return;
  last_print_ = std::chrono::steady_clock::now();
  const double elapsed = seconds_since(start_);
  const double fraction =
      std::min(1.0, static_cast<double>(after.rounds) / static_cast<double>(total_rounds_));
  const double rate =
      elapsed > 0 ? static_cast<double>(forward_tokens_) * ctx_.comm.size() / elapsed : 0.0;
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  std::fprintf(stderr,
               "neurolens: corpus round %lld/%lld (%.0f%%), %lld windows, %.0f tokens/s, ETA %s "
               "(at most: limits may end it sooner)\n",
               static_cast<long long>(after.rounds), static_cast<long long>(total_rounds_),
               100 * fraction, static_cast<long long>(after.windows), rate,
               format_duration(eta).c_str());
  printed_ = true;
}

void BatchRunner::finish() {
  ctx_.tokens_processed = ctx_.comm.allreduce_sum(forward_tokens_);
  if (ctx_.comm.root() && printed_) {
    std::fprintf(stderr, "neurolens: corpus done in %s\n",
                 format_duration(seconds_since(start_)).c_str());
  }
}

void run_batches(RunContext& ctx, const Plan& plan, Accumulator& accumulator) {
  BatchRunner runner(ctx, accumulator);
  runner.resume();
  runner.run(plan, {}, {});
  runner.finish();
}

namespace {

// Sums each rank's counts of labels / words, and fills the stream's totals.
PlanCounts reduce_counts(const Comm& comm, PlanCounts local, const StreamTotals& totals) {
  PlanCounts c = std::move(local);
  for (std::vector<int64_t>* v : {&c.labels, &c.words}) {
    const int64_t n = comm.allreduce_max(static_cast<int64_t>(v->size()));
    v->resize(static_cast<size_t>(n), 0);
    comm.allreduce_sum(std::span<int64_t>(*v));
  }
  c.most_rank_windows = comm.allreduce_max(c.windows);
  c.least_rank_windows = -comm.allreduce_max(-c.windows);
  c.batches = comm.allreduce_sum(c.batches);
  c.window_length = comm.allreduce_max(c.window_length);
  c.documents = totals.documents;
  c.corpus_tokens = totals.corpus_tokens;
  c.windows = totals.windows;
  c.samples = totals.samples;
  return c;
}

}  // namespace

PlanCounts stream_batches(RunContext& ctx, const WindowFinder& finder, StreamLimits limits,
                          Accumulator& accumulator, const RoundHook& on_round) {
  if (ctx.corpus == nullptr) throw Error("corpus", "internal: a streamed study without a corpus");
  const auto t_stream = std::chrono::steady_clock::now();
  const double forward_before = ctx.times.forward;
  CorpusStream stream(*ctx.corpus, ctx.tokenizer, finder, ctx.comm, limits);
  BatchRunner runner(ctx, accumulator);
  stream.resume_from(runner.resume());
  runner.set_rounds(stream.n_rounds());
  PlanCounts local;
  Plan round;
  StreamTotals before = stream.totals();
  while (stream.next(round)) {
    if (on_round) on_round(round);
    round.make_batches(ctx.job.batch_size);
    local.add(round);
    local.batches += round.n_batches();
    runner.run(round, before, stream.totals());
    before = stream.totals();
  }
  runner.finish();
  // Reading, tokenizing and finding windows is the stream's "plan" time.
  ctx.times.plan += seconds_since(t_stream) - (ctx.times.forward - forward_before);
  ctx.bytes_read = ctx.corpus->bytes_read();
  PlanCounts counts = reduce_counts(ctx.comm, std::move(local), stream.totals());
  ctx.n_windows = counts.windows;
  ctx.n_samples = counts.samples;
  ctx.corpus_tokens = counts.corpus_tokens;
  ctx.documents = counts.documents;
  return counts;
}

PlanCounts count_stream(RunContext& ctx, const WindowFinder& finder, StreamLimits limits,
                        const RoundHook& on_round) {
  if (ctx.corpus == nullptr) throw Error("corpus", "internal: a streamed study without a corpus");
  CorpusStream stream(*ctx.corpus, ctx.tokenizer, finder, ctx.comm, limits);
  PlanCounts local;
  Plan round;
  while (stream.next(round)) {
    if (on_round) on_round(round);
    round.make_batches(ctx.job.batch_size);
    local.add(round);
    local.batches += round.n_batches();
  }
  ctx.bytes_read = ctx.corpus->bytes_read();
  PlanCounts counts = reduce_counts(ctx.comm, std::move(local), stream.totals());
  ctx.n_windows = counts.windows;
  ctx.n_samples = counts.samples;
  ctx.corpus_tokens = counts.corpus_tokens;
  ctx.documents = counts.documents;
  return counts;
}

ResultsWriter& accumulate(RunContext& ctx, const Plan& plan, Accumulator& accumulator,
                          const OpenResults& open) {
  run_batches(ctx, plan, accumulator);
  ResultsWriter& out = open();
  accumulator.finalize(ctx, plan, out);
  return out;
}

}  // namespace neurolens::runner
