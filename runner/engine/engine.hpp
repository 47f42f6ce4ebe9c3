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
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "io/corpus.hpp"
#include "model/arch/forward.hpp"
#include "model/load/checkpoint.hpp"
#include "model/tokenizer/tokenizer.hpp"
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
};

// One batch of samples: rows[s] is [samples.size(), K_s] for site s.
struct SampleBatch {
  std::span<const Sample> samples;
  int64_t first_sample = 0;  // global index of samples[0] in plan.samples
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

// Runs the rank's batches (plan.rank_batches; plan.make_batches must have been called) and adds
// each batch's samples to `accumulator`. Between batches all ranks decide together whether to
// write a checkpoint (every job.checkpoint_every seconds, and on SIGTERM, after which it throws
// Interrupted). With job.resume, the state saved in the checkpoint is loaded into `accumulator` and
// the batches already done are skipped.
void run_batches(RunContext& ctx, const Plan& plan, Accumulator& accumulator);

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

  const stats::GroupMoments& moments(size_t site, int group) const;
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
  std::vector<std::vector<float>> kept_;                   // [site] rows [n_kept, K]
  std::vector<int64_t> kept_ids_;                          // [n_kept]
  std::vector<SiteSummary> summaries_;                     // after finalize
  std::vector<int32_t> kept_labels_;                       // [n_kept]
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
