// Engine — what every study shares once it has a Plan: running a rank's windows through the
// forward pass in batches, handing the activations at the plan's samples to the study's
// accumulators, the collective checkpoint / stop decision between batches, finalizing the
// accumulators into the results file, and the group statistics (two-group and paired t-tests,
// logistic regression), the common accumulator, reduced by neuron slice and written collectively.
// Legend: B windows per batch, T tokens per window, P captured positions, K neurons of a site
// (n_layers x width, layer-major), N samples.
// Example:
//   GroupStatistics stats(ctx.sites, 2, GroupStatistics::Mode::TwoGroup, keep_samples);
//   ResultsWriter& out = accumulate(ctx, plan, stats, open);  // batches, then finalize
//   for (const auto& site : stats.summaries()) ...
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/corpus.hpp"
#include "model/arch/forward.hpp"
#include "model/load/checkpoint.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/engine/corpus_stream.hpp"
#include "runner/engine/job.hpp"
#include "runner/engine/plan.hpp"
#include "runner/parallel/mpi.hpp"
#include "runner/results/sites.hpp"
#include "runner/results/writer.hpp"
#include "stats/logistic.hpp"
#include "stats/moments.hpp"

namespace neurolens::runner {

// Wall time of a run's phases, in seconds (rank 0's view is reported).
struct PhaseTimes {
  double load = 0, plan = 0, forward = 0, reduce = 0, write = 0;
};

// Progress on rank 0: windows done, tokens/s, ETA; printed at most every `interval` seconds.
class Progress {
 public:
  Progress(const Comm& comm, int64_t total_windows, int64_t tokens_per_window);
  void update(int64_t local_windows_done);  // collective-free: rank 0 extrapolates by size
  void finish();

 private:
  const Comm& comm_;
  int64_t total_;
  int64_t tokens_per_window_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
  bool printed_ = false;
};

// The forward pass precision a job asks for (compute = fp32 | bf16).
inline model::Precision forward_precision(const Job& job) {
  return job.compute == Compute::Bf16 ? model::Precision::Bf16 : model::Precision::Fp32;
}

// Throws neurolens::Error on `key` (with `hint`) when this CPU cannot run `precision`, so a job
// fails before any output exists (ForwardPass would only fail later, when constructed).
void require_precision_supported(model::Precision precision, const std::string& key,
                                 const std::string& hint);

struct RunContext {
  const Job& job;
  const Comm& comm;
  const model::Model& model;
  const model::Tokenizer& tokenizer;
  const io::Corpus* corpus = nullptr;
  std::vector<SiteSpace> sites;
  PhaseTimes times;
  int64_t tokens_processed = 0;  // forward tokens, all ranks (filled by run_batches)
  uint64_t bytes_read = 0;       // corpus bytes this rank read (filled by stream_batches)
  // What the study read and measured, all ranks (set by the study: from its plan or stream).
  int64_t n_windows = 0, n_samples = 0, corpus_tokens = 0, documents = 0;
};

// One batch of samples: rows[s] is [samples.size(), K_s] for site s.
struct SampleBatch {
  std::span<const Sample> samples;
  int64_t first_sample = 0;   // global index of samples[0]
  int64_t window_offset = 0;  // add to Sample::window for the global window id (local plans)
  const std::vector<std::vector<float>>& rows;
};

// Thrown (on every rank together) when a run stops at a checkpoint because of SIGTERM.
struct Interrupted {
  int64_t batches_done;
};

// Installs SIGTERM / SIGINT handlers that ask the run to checkpoint and stop.
void install_stop_handlers();

// Accumulator — what a study hands the engine: this rank's running state, fed batch by batch
// (add), saved in the resume state between batches (save_state / load_state), and reduced across
// ranks and written at the end (finalize, collective: by neuron slice, merged in rank order, so
// the results do not depend on the rank count).
// The saved state is a flat vector of doubles (one per rank, in the resume state's files).
class ResumeState;
class SampleSpill;

class Accumulator {
 public:
  virtual ~Accumulator() = default;
  virtual void add(const SampleBatch& batch) = 0;
  virtual std::vector<double> save_state() const = 0;
  virtual void load_state(std::span<const double> state) = 0;
  virtual void finalize(RunContext& ctx, const Plan& plan, ResultsWriter& out) = 0;
};

// Creates the results file (collectively) with the root attributes written; called once the
// statistics are ready.
using OpenResults = std::function<ResultsWriter&()>;

// BatchRunner — the batch loop over plans: a global plan (this rank's block of its batches) or
// the local plans of a corpus stream, round after round, with one forward pass workspace. Between
// batches (and between rounds) all ranks decide together whether to write a checkpoint (every
// job.checkpoint_every seconds, and on SIGTERM, after which it throws Interrupted); a checkpoint
// holds the accumulator's state, the stream's totals and the batches done in the round, so
// --resume skips the rounds and batches already done.
class BatchRunner {
 public:
  BatchRunner(RunContext& ctx, Accumulator& accumulator);
  ~BatchRunner();
  // With job.resume: loads the saved state into the accumulator and returns the stream totals to
  // continue from (default totals for a global plan, or without job.resume).
  StreamTotals resume();
  // Collective. Runs this rank's batches of `plan` (plan.make_batches must have been called) and
  // adds each batch's samples to the accumulator. For a round of a stream, `before` and `after`
  // are the stream's totals before and after the round (what a checkpoint saves).
  void run(const Plan& plan, const StreamTotals& before, const StreamTotals& after);
  // Rounds of the stream, for progress lines (rank 0, every 10 s).
  void set_rounds(int64_t total_rounds);
  // Collective: sums the forward tokens into ctx.tokens_processed.
  void finish();

 private:
  void save(int64_t skip_batches, const StreamTotals& totals);
  void ensure_forward(int B, int T);
  std::vector<int> flags() const;
  void report_round(const StreamTotals& after);

  RunContext& ctx_;
  Accumulator& accumulator_;
  std::unique_ptr<ResumeState> checkpoint_;
  std::unique_ptr<model::ForwardPass> forward_;
  int forward_B_ = 0, forward_T_ = 0;
  int64_t generation_ = 0;    // checkpoints written (or loaded)
  int64_t skip_batches_ = 0;  // resumed: batches of the first round already done
  int64_t forward_tokens_ = 0;
  int64_t total_rounds_ = 0;
  bool printed_ = false;
  std::chrono::steady_clock::time_point last_checkpoint_, start_, last_print_;
};

// Runs the rank's batches of a global plan (plan.make_batches must have been called) through a
// BatchRunner, resuming with job.resume.
void run_batches(RunContext& ctx, const Plan& plan, Accumulator& accumulator);

// Called with each round's local plan before its batches run (e.g. to drop windows, or to count).
using RoundHook = std::function<void(Plan& round)>;

// Streams the corpus (CorpusStream: each rank reads its own segments, round by round), runs each
// round's windows in batches of job.batch_size and adds their samples to `accumulator`. Returns
// the counts of everything streamed (identical on every rank) and sets ctx.n_windows, n_samples,
// corpus_tokens, documents, bytes_read. Collective; resumes with job.resume.
PlanCounts stream_batches(RunContext& ctx, const WindowFinder& finder, StreamLimits limits,
                          Accumulator& accumulator, const RoundHook& on_round = {});

// The same stream without the forward pass: what a streamed study would read and measure
// (--dry-run). Collective.
PlanCounts count_stream(RunContext& ctx, const WindowFinder& finder, StreamLimits limits,
                        const RoundHook& on_round = {});

// run_batches, then opens the results file and finalizes `accumulator` into it (collective).
ResultsWriter& accumulate(RunContext& ctx, const Plan& plan, Accumulator& accumulator,
                          const OpenResults& open);

// Per-site statistics of labelled samples. Modes:
//   TwoGroup: moments per label (0 = a, 1 = b, ... up to n_groups); Welch / Student t-tests of
//             a vs b (test = welch | student), or logistic regression y = label (test = logistic,
//             samples kept).
//   Paired:   moments of a - b per pair (pair members must reach the same rank); one-sample t.
class GroupStatistics : public Accumulator {
 public:
  enum class Mode { TwoGroup, Paired };
  GroupStatistics(const std::vector<SiteSpace>& sites, int n_groups, Mode mode, bool keep_samples);
  ~GroupStatistics() override;

  void add(const SampleBatch& batch) override;
  std::vector<double> save_state() const override;
  void load_state(std::span<const double> state) override;
  // finalize_and_write, keeping the summaries (summaries()).
  void finalize(RunContext& ctx, const Plan& plan, ResultsWriter& out) override;

  // Reduce-scatter by neuron slice, finalize each rank's slice, write /<site>/... datasets and
  // /samples when job.save_samples. Returns, on every rank, each site's summary.
  struct SiteSummary {
    std::string statistic;             // "t" or "beta"
    std::vector<double> values;        // [K] the statistic of every neuron (all-gathered)
    std::vector<double> p;             // [K]
    std::vector<uint8_t> significant;  // [K] after the family-wide correction
    int64_t n_significant = 0;
  };
  std::vector<SiteSummary> finalize_and_write(RunContext& ctx, const Plan& plan,
                                              ResultsWriter& out);

  const std::vector<SiteSummary>& summaries() const { return summaries_; }
  // save_samples: every added sample's rows go to a scratch file next to `output` (this rank's
  // share, never held in memory) and into /samples at finalize (ctx.n_samples rows).
  void spill_samples(const std::filesystem::path& output, int rank);
  // Only spills the batch's rows (a study that accumulates its own moments, e.g. length).
  void spill(const SampleBatch& batch);

  const stats::GroupMoments& moments(size_t site, int group) const;
  // Replaces a group's moments (studies that accumulate in their own classes, e.g. length).
  void set_moments(size_t site, int group, stats::GroupMoments moments);
  bool keeps_samples() const { return keep_samples_; }
  // Kept samples of this rank: [n_kept, K_s] per site, with their global sample indices.
  const std::vector<float>& kept_rows(size_t site) const { return kept_[site]; }
  const std::vector<int64_t>& kept_sample_ids() const { return kept_ids_; }

 private:
  std::vector<SiteSpace> sites_;
  int n_groups_;
  Mode mode_;
  bool keep_samples_;
  std::vector<std::vector<stats::GroupMoments>> moments_;  // [site][group]
  std::vector<stats::GroupMoments> differences_;           // [site] (paired)
  void write_samples(RunContext& ctx, ResultsWriter& out);
  std::unique_ptr<SampleSpill> spill_;    // save_samples
  std::vector<std::vector<float>> kept_;  // [site] rows [n_kept, K]
  std::vector<int64_t> kept_ids_;         // [n_kept]
  std::vector<SiteSummary> summaries_;    // after finalize
  std::vector<int32_t> kept_labels_;      // [n_kept]
  // Paired: first member of a pair waiting for its partner: pair id -> rows per site.
  std::vector<std::pair<int64_t, std::vector<std::vector<float>>>> pending_;
};

// Conversions between stats::GroupMoments and MPI moment records.
std::vector<MomentRecord> to_records(const stats::GroupMoments& m);
stats::GroupMoments from_records(std::span<const MomentRecord> records);

// Per-neuron logistic regression of y (labels in {0,1}) on each kept activation, with gradient
// and Hessian partial sums all-reduced every Newton iteration (so any split of the samples
// across ranks gives the same fit). Every rank gets the full fit.
stats::LogisticFit distributed_logistic(const Comm& comm, std::span<const float> x,
                                        std::span<const uint8_t> y, size_t n_local, size_t k,
                                        const stats::LogisticOptions& options);

}  // namespace neurolens::runner
