#include "runner/engine/engine.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>

#include <climits>
#include "io/error.hpp"
#include "io/text.hpp"
#include "model/arch/forward.hpp"
#include "model/ops/gemm_bf16.hpp"
#include "runner/engine/resume_state.hpp"
#include "runner/engine/sample_spill.hpp"
#include "runner/parallel/sharding.hpp"
#include "stats/effect_size.hpp"
#include "stats/multiple_testing.hpp"
#include "stats/ttest.hpp"

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

// ---- Moment records ---------------------------------------------------------------------------

std::vector<MomentRecord> to_records(const stats::GroupMoments& m) {
  std::vector<MomentRecord> out(m.neurons());
  for (size_t k = 0; k < m.neurons(); ++k) {
    out[k] = {m.count(), m.mean()[k], m.m2()[k], m.min()[k], m.max()[k]};
  }
  return out;
}

stats::GroupMoments from_records(std::span<const MomentRecord> records) {
  const size_t K = records.size();
  std::vector<double> buf(2 + 4 * K);
  buf[0] = static_cast<double>(K);
  buf[1] = K > 0 ? records[0].n : 0.0;
  for (size_t k = 0; k < K; ++k) {
    buf[2 + k] = records[k].mean;
    buf[2 + K + k] = records[k].m2;
    buf[2 + 2 * K + k] = records[k].min;
    buf[2 + 3 * K + k] = records[k].max;
  }
  return stats::GroupMoments::deserialize(buf);
}

// ---- GroupStatistics --------------------------------------------------------------------------

GroupStatistics::GroupStatistics(const std::vector<SiteSpace>& sites, int n_groups, Mode mode,
                                 bool keep_samples)
    : sites_(sites), n_groups_(n_groups), mode_(mode), keep_samples_(keep_samples) {
  for (const SiteSpace& site : sites_) {
    const auto K = static_cast<size_t>(site.neurons());
    moments_.emplace_back(static_cast<size_t>(n_groups_), stats::GroupMoments(K));
    differences_.emplace_back(K);
    kept_.emplace_back();
  }
}

GroupStatistics::~GroupStatistics() = default;

void GroupStatistics::set_moments(size_t site, int group, stats::GroupMoments moments) {
  moments_[site][static_cast<size_t>(group)] = std::move(moments);
}

const stats::GroupMoments& GroupStatistics::moments(size_t site, int group) const {
  return moments_[site][static_cast<size_t>(group)];
}

void GroupStatistics::add(const SampleBatch& batch) {
  const size_t n = batch.samples.size();
  for (size_t s = 0; s < sites_.size(); ++s) {
    const auto K = static_cast<size_t>(sites_[s].neurons());
    const std::vector<float>& rows = batch.rows[s];
    // Group rows by label (in sample order), then add each group as one batch.
    for (int g = 0; g < n_groups_; ++g) {
      std::vector<float> group_rows;
      size_t count = 0;
      for (size_t i = 0; i < n; ++i) {
        if (batch.samples[i].label != g) continue;
        group_rows.insert(group_rows.end(), rows.begin() + static_cast<long>(i * K),
                          rows.begin() + static_cast<long>((i + 1) * K));
        ++count;
      }
      if (count > 0) moments_[s][static_cast<size_t>(g)].add(group_rows, count, K);
    }
    if (keep_samples_) {
      kept_[s].insert(kept_[s].end(), rows.begin(), rows.begin() + static_cast<long>(n * K));
    }
  }
  if (spill_) spill_->append(batch.first_sample, batch.samples, batch.rows, batch.window_offset);
  if (keep_samples_) {
    for (size_t i = 0; i < n; ++i) {
      kept_ids_.push_back(batch.first_sample + static_cast<int64_t>(i));
      kept_labels_.push_back(batch.samples[i].label);
    }
  }
  if (mode_ == Mode::Paired) {
    for (size_t i = 0; i < n; ++i) {
      const Sample& sample = batch.samples[i];
      if (sample.pair_id < 0) continue;
      auto it = std::find_if(pending_.begin(), pending_.end(),
                             [&](const auto& p) { return p.first == sample.pair_id; });
      std::vector<std::vector<float>> mine(sites_.size());
      for (size_t s = 0; s < sites_.size(); ++s) {
        const auto K = static_cast<size_t>(sites_[s].neurons());
        mine[s].assign(batch.rows[s].begin() + static_cast<long>(i * K),
                       batch.rows[s].begin() + static_cast<long>((i + 1) * K));
      }
      if (it == pending_.end()) {
        // Remember the label with the rows: the first element of site 0 row is preceded by it.
        mine.push_back({static_cast<float>(sample.label)});
        pending_.emplace_back(sample.pair_id, std::move(mine));
        continue;
      }
      const bool first_is_a = it->second.back()[0] == 0.0f;
      for (size_t s = 0; s < sites_.size(); ++s) {
        const auto K = static_cast<size_t>(sites_[s].neurons());
        const std::vector<float>& a = first_is_a ? it->second[s] : mine[s];
        const std::vector<float>& b = first_is_a ? mine[s] : it->second[s];
        differences_[s].add_differences(a, b, 1, K);
      }
      pending_.erase(it);
    }
  }
}

std::vector<double> GroupStatistics::save_state() const {
  std::vector<double> out;
  auto put = [&](const std::vector<double>& v) {
    out.push_back(static_cast<double>(v.size()));
    out.insert(out.end(), v.begin(), v.end());
  };
  for (size_t s = 0; s < sites_.size(); ++s) {
    for (const auto& m : moments_[s]) put(m.serialize());
    put(differences_[s].serialize());
    put(std::vector<double>(kept_[s].begin(), kept_[s].end()));
  }
  put(std::vector<double>(kept_ids_.begin(), kept_ids_.end()));
  put(std::vector<double>(kept_labels_.begin(), kept_labels_.end()));
  std::vector<double> pending;
  for (const auto& [id, rows] : pending_) {
    pending.push_back(static_cast<double>(id));
    for (const auto& r : rows) {
      pending.push_back(static_cast<double>(r.size()));
      pending.insert(pending.end(), r.begin(), r.end());
    }
  }
  put(pending);
  return out;
}

void GroupStatistics::load_state(std::span<const double> state) {
  size_t i = 0;
  auto take = [&]() {
    if (i >= state.size())
      throw Error("checkpoint", "state is truncated", "start without --resume");
    const auto n = static_cast<size_t>(state[i++]);
    if (i + n > state.size())
      throw Error("checkpoint", "state is truncated", "start without --resume");
    std::span<const double> v = state.subspan(i, n);
    i += n;
    return v;
  };
  for (size_t s = 0; s < sites_.size(); ++s) {
    for (auto& m : moments_[s]) m = stats::GroupMoments::deserialize(take());
    differences_[s] = stats::GroupMoments::deserialize(take());
    auto kept = take();
    kept_[s].assign(kept.begin(), kept.end());
  }
  auto ids = take();
  kept_ids_.assign(ids.begin(), ids.end());
  auto labels = take();
  kept_labels_.assign(labels.begin(), labels.end());
  auto pending = take();
  pending_.clear();
  size_t j = 0;
  while (j < pending.size()) {
    const auto id = static_cast<int64_t>(pending[j++]);
    std::vector<std::vector<float>> rows;
    for (size_t s = 0; s < sites_.size() + 1; ++s) {
      const auto n = static_cast<size_t>(pending[j++]);
      rows.emplace_back(pending.begin() + static_cast<long>(j),
                        pending.begin() + static_cast<long>(j + n));
      j += n;
    }
    pending_.emplace_back(id, std::move(rows));
  }
  if (i != state.size())
    throw Error("checkpoint", "state has unexpected trailing data", "start without --resume");
}

void GroupStatistics::finalize(RunContext& ctx, const Plan& plan, ResultsWriter& out) {
  summaries_ = finalize_and_write(ctx, plan, out);
}

std::vector<GroupStatistics::SiteSummary> GroupStatistics::finalize_and_write(RunContext& ctx,
                                                                              const Plan& /*plan*/,
                                                                              ResultsWriter& out) {
  const Comm& comm = ctx.comm;
  const Job& job = ctx.job;
  const auto t_reduce = std::chrono::steady_clock::now();
  if (!pending_.empty()) {
    throw Error("paired", "internal: " + std::to_string(pending_.size()) +
                              " pairs lost their partner on this rank");
  }
  struct SiteResult {
    Block slice;
    std::vector<std::pair<std::string, std::vector<double>>> doubles;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> bytes;
    std::vector<double> p;          // this rank's slice
    std::vector<double> statistic;  // this rank's slice of t or beta
    double n_a = 0, n_b = 0;
  };
  std::vector<SiteResult> results(sites_.size());
  for (size_t s = 0; s < sites_.size(); ++s) {
    const int64_t K = sites_[s].neurons();
    const std::vector<int64_t> offsets = block_offsets(K, comm.size());
    SiteResult& r = results[s];
    r.slice = {offsets[static_cast<size_t>(comm.rank())],
               offsets[static_cast<size_t>(comm.rank()) + 1]};
    if (mode_ == Mode::Paired) {
      const stats::GroupMoments d =
          from_records(comm.reduce_scatter_moments(to_records(differences_[s]), offsets));
      const stats::TTestResult t = stats::paired_ttest(d);
      std::vector<double> mean(d.mean().begin(), d.mean().end()), sd(d.neurons());
      for (size_t k = 0; k < d.neurons(); ++k) sd[k] = std::sqrt(d.variance(k));
      r.doubles = {{"t", t.t}, {"df", t.df}, {"p", t.p}, {"mean_diff", mean}, {"sd_diff", sd}};
      r.bytes = {{"flags", t.flags}};
      r.p = t.p;
      r.statistic = t.t;
      r.n_a = comm.allreduce_max(d.count());
      r.n_b = r.n_a;
      continue;
    }
    const stats::GroupMoments a =
        from_records(comm.reduce_scatter_moments(to_records(moments_[s][0]), offsets));
    const stats::GroupMoments b =
        from_records(comm.reduce_scatter_moments(to_records(moments_[s][1]), offsets));
    r.n_a = comm.allreduce_max(a.count());
    r.n_b = comm.allreduce_max(b.count());
    std::vector<double> mean_a(a.mean().begin(), a.mean().end());
    std::vector<double> mean_b(b.mean().begin(), b.mean().end());
    std::vector<double> sd_a(a.neurons()), sd_b(b.neurons());
    for (size_t k = 0; k < a.neurons(); ++k) {
      sd_a[k] = std::sqrt(a.variance(k));
      sd_b[k] = std::sqrt(b.variance(k));
    }
    if (job.test == TestKind::Logistic) {
      // Every rank fits all neurons on its own samples' partial sums, all-reduced per iteration.
      std::vector<uint8_t> y(kept_labels_.begin(), kept_labels_.end());
      const stats::LogisticFit fit = distributed_logistic(
          comm, kept_[s], y, kept_labels_.size(), static_cast<size_t>(K), stats::LogisticOptions{});
      auto slice = [&](const std::vector<double>& v) {
        return std::vector<double>(v.begin() + r.slice.begin, v.begin() + r.slice.end);
      };
      std::vector<uint8_t> flags(fit.flags.begin() + r.slice.begin,
                                 fit.flags.begin() + r.slice.end);
      std::vector<uint8_t> converged(flags.size()), separated(flags.size());
      for (size_t k = 0; k < flags.size(); ++k) {
        converged[k] = !stats::has_flag(flags[k], stats::Flag::NotConverged) &&
                       !stats::has_flag(flags[k], stats::Flag::ConstantPredictor) &&
                       !stats::has_flag(flags[k], stats::Flag::SingleClass);
        separated[k] = stats::has_flag(flags[k], stats::Flag::Separated);
      }
      r.doubles = {{"beta", slice(fit.beta1)},
                   {"intercept", slice(fit.beta0)},
                   {"se", slice(fit.se1)},
                   {"se_intercept", slice(fit.se0)},
                   {"z", slice(fit.z1)},
                   {"p", slice(fit.p1)},
                   {"mean_a", mean_a},
                   {"mean_b", mean_b},
                   {"sd_a", sd_a},
                   {"sd_b", sd_b}};
      r.bytes = {{"converged", converged}, {"separated", separated}, {"flags", flags}};
      r.p = slice(fit.p1);
      r.statistic = slice(fit.beta1);
    } else {
      const stats::TTestResult t =
          job.test == TestKind::Student ? stats::student_ttest(a, b) : stats::welch_ttest(a, b);
      const stats::EffectSizeResult e = stats::cohens_d(a, b);
      r.doubles = {{"t", t.t},         {"df", t.df},       {"p", t.p},
                   {"mean_a", mean_a}, {"mean_b", mean_b}, {"sd_a", sd_a},
                   {"sd_b", sd_b},     {"cohens_d", e.d},  {"hedges_g", e.g}};
      r.bytes = {{"flags", t.flags}};
      r.p = t.p;
      r.statistic = t.t;
    }
  }
  // Multiple comparisons over the whole family: every tested neuron of every site and layer.
  std::vector<std::vector<double>> all_p(sites_.size());
  std::vector<std::span<const double>> family;
  for (size_t s = 0; s < sites_.size(); ++s) {
    all_p[s] = comm.allgatherv(results[s].p);
    family.emplace_back(all_p[s]);
  }
  const stats::MultipleTestingResult mt = job.correction == Correction::Bonferroni
                                              ? stats::bonferroni(family, job.alpha)
                                              : stats::benjamini_hochberg(family, job.alpha);
  ctx.times.reduce += seconds_since(t_reduce);

  const auto t_write = std::chrono::steady_clock::now();
  std::vector<SiteSummary> summaries(sites_.size());
  size_t family_offset = 0;
  for (size_t s = 0; s < sites_.size(); ++s) {
    const SiteSpace& site = sites_[s];
    SiteResult& r = results[s];
    out.create_site(site);
    for (const auto& [name, values] : r.doubles)
      out.write_neuron_slice(site, name, r.slice.begin, values);
    for (const auto& [name, values] : r.bytes)
      out.write_neuron_slice(site, name, r.slice.begin, values);
    const size_t base = family_offset + static_cast<size_t>(r.slice.begin);
    std::vector<double> adjusted(mt.adjusted.begin() + static_cast<long>(base),
                                 mt.adjusted.begin() + static_cast<long>(base + r.p.size()));
    std::vector<uint8_t> reject(mt.reject.begin() + static_cast<long>(base),
                                mt.reject.begin() + static_cast<long>(base + r.p.size()));
    out.write_neuron_slice(site, "p_adjusted", r.slice.begin, adjusted);
    out.write_neuron_slice(site, "significant", r.slice.begin, reject);
    SiteSummary& summary = summaries[s];
    summary.statistic = job.test == TestKind::Logistic ? "beta" : "t";
    summary.values = comm.allgatherv(r.statistic);
    summary.p = all_p[s];
    summary.significant.assign(
        mt.reject.begin() + static_cast<long>(family_offset),
        mt.reject.begin() + static_cast<long>(family_offset + all_p[s].size()));
    for (uint8_t v : summary.significant) summary.n_significant += v;
    family_offset += all_p[s].size();
    const std::string group = "/" + site.site;
    out.set_attribute(group, "n_a", static_cast<int64_t>(r.n_a));
    out.set_attribute(group, "n_b", static_cast<int64_t>(r.n_b));
    out.set_attribute(group, "n_significant", summary.n_significant);
  }
  out.set_attribute("/", "correction",
                    std::string(job.correction == Correction::Bonferroni ? "bonferroni" : "bh"));
  out.set_attribute("/", "alpha", job.alpha);
  out.set_attribute("/", "threshold", mt.threshold);
  out.set_attribute("/", "family_size", static_cast<int64_t>(mt.family_size));

  if (job.save_samples) write_samples(ctx, out);
  ctx.times.write += seconds_since(t_write);
  return summaries;
}

void GroupStatistics::spill_samples(const std::filesystem::path& output, int rank) {
  std::vector<int64_t> neurons;
  for (const SiteSpace& site : sites_) neurons.push_back(site.neurons());
  spill_ = std::make_unique<SampleSpill>(output, rank, std::move(neurons));
}

void GroupStatistics::spill(const SampleBatch& batch) {
  if (spill_) spill_->append(batch.first_sample, batch.samples, batch.rows, batch.window_offset);
}

void GroupStatistics::write_samples(RunContext& ctx, ResultsWriter& out) {
  const Comm& comm = ctx.comm;
  if (!spill_) throw Error("save_samples", "internal: samples were not spilled");
  const int64_t n_samples = ctx.n_samples;
  // Dimension scales so netCDF / xarray readers name the dimensions sample, layer, neuron
  // (per-site layer / neuron scales carry the site in their name when there are several).
  // The sample scale 0..n-1: each rank writes the ids of its own runs.
  io::H5Dataset sample_scale = out.file().create_dataset("/samples/sample", io::H5Type::I64,
                                                         {static_cast<hsize_t>(n_samples)});
  std::vector<io::H5Dataset> rows;
  for (size_t s = 0; s < sites_.size(); ++s) {
    const SiteSpace& site = sites_[s];
    const std::string suffix = sites_.size() == 1 ? "" : "_" + site.site;
    std::vector<int64_t> layers(site.layers.begin(), site.layers.end());
    std::vector<int64_t> neurons(static_cast<size_t>(site.width));
    for (int j = 0; j < site.width; ++j) neurons[static_cast<size_t>(j)] = j;
    out.write_scale("/samples/layer" + suffix, "layer" + suffix, layers);
    out.write_scale("/samples/neuron" + suffix, "neuron" + suffix, neurons);
    rows.push_back(out.file().create_dataset(
        "/samples/" + site.site, io::H5Type::F32,
        {static_cast<hsize_t>(n_samples), site.layers.size(), static_cast<hsize_t>(site.width)}));
  }
  const char* names[] = {"label", "token_id", "position", "pair_id", "window_id"};
  const io::H5Type types[] = {io::H5Type::I32, io::H5Type::I32, io::H5Type::I32, io::H5Type::I64,
                              io::H5Type::I64};
  std::vector<io::H5Dataset> meta_sets;
  for (size_t m = 0; m < 5; ++m) {
    meta_sets.push_back(out.file().create_dataset(std::string("/samples/") + names[m], types[m],
                                                  {static_cast<hsize_t>(n_samples)}));
  }
  // Each rank's runs of consecutive samples, one run per collective write.
  const int64_t max_runs = comm.allreduce_max(static_cast<int64_t>(spill_->n_runs()));
  std::vector<SampleSpill::Meta> meta;
  std::vector<std::vector<float>> run_rows;
  std::vector<int32_t> i32;
  std::vector<int64_t> i64;
  for (int64_t i = 0; i < max_runs; ++i) {
    hsize_t first = 0, count = 0;
    if (i < static_cast<int64_t>(spill_->n_runs())) {
      spill_->read_run(static_cast<size_t>(i), meta, run_rows);
      first = static_cast<hsize_t>(spill_->run(static_cast<size_t>(i)).first);
      count = static_cast<hsize_t>(meta.size());
    } else {
      meta.clear();
      run_rows.assign(sites_.size(), {});
    }
    for (size_t s = 0; s < sites_.size(); ++s) {
      const hsize_t offset[3] = {first, 0, 0};
      const hsize_t block[3] = {count, sites_[s].layers.size(),
                                static_cast<hsize_t>(sites_[s].width)};
      rows[s].write_block(offset, block, run_rows[s].data());
    }
    {
      i64.resize(count);
      for (hsize_t j = 0; j < count; ++j) i64[j] = static_cast<int64_t>(first + j);
      const hsize_t offset[1] = {first};
      const hsize_t block[1] = {count};
      sample_scale.write_block(offset, block, i64.data());
    }
    for (size_t m = 0; m < 5; ++m) {
      const hsize_t offset[1] = {first};
      const hsize_t block[1] = {count};
      auto field = [&](const SampleSpill::Meta& x) {
        return m == 0   ? x.label
               : m == 1 ? x.token
               : m == 2 ? x.position
               : m == 3 ? x.pair_id
                        : x.window;
      };
      if (types[m] == io::H5Type::I32) {
        i32.clear();
        for (const auto& x : meta) i32.push_back(static_cast<int32_t>(field(x)));
        meta_sets[m].write_block(offset, block, i32.data());
      } else {
        i64.clear();
        for (const auto& x : meta) i64.push_back(field(x));
        meta_sets[m].write_block(offset, block, i64.data());
      }
    }
  }
  rows.clear();
  meta_sets.clear();
  sample_scale.make_dimension_scale("sample");
  for (size_t s = 0; s < sites_.size(); ++s) {
    const std::string suffix = sites_.size() == 1 ? "" : "_" + sites_[s].site;
    out.attach_scales("/samples/" + sites_[s].site,
                      {"/samples/sample", "/samples/layer" + suffix, "/samples/neuron" + suffix},
                      {"sample", "layer", "neuron"});
  }
  for (const char* name : names) {
    out.attach_scales(std::string("/samples/") + name, {"/samples/sample"}, {"sample"});
  }
}

// ---- Distributed logistic regression ------------------------------------------------------------

stats::LogisticFit distributed_logistic(const Comm& comm, std::span<const float> x,
                                        std::span<const uint8_t> y, size_t n_local, size_t k,
                                        const stats::LogisticOptions& options) {
  // Separation precheck from the per-class min / max over all ranks.
  stats::GroupMoments class0(k), class1(k);
  std::vector<float> rows0, rows1;
  size_t n0 = 0, n1 = 0;
  for (size_t i = 0; i < n_local; ++i) {
    auto& dst = y[i] ? rows1 : rows0;
    dst.insert(dst.end(), x.begin() + static_cast<long>(i * k),
               x.begin() + static_cast<long>((i + 1) * k));
    (y[i] ? n1 : n0) += 1;
  }
  if (n0 > 0) class0.add(rows0, n0, k);
  if (n1 > 0) class1.add(rows1, n1, k);
  std::vector<MomentRecord> r0 = to_records(class0), r1 = to_records(class1);
  comm.allreduce_moments(r0);
  comm.allreduce_moments(r1);
  const std::vector<uint8_t> precheck =
      stats::logistic_precheck(from_records(r0), from_records(r1));
  stats::LogisticSolver solver(k, options, precheck);
  auto partials = [&](std::span<const uint8_t> active, bool loglik, std::span<const double> firth) {
    stats::LogisticPartials p = stats::logistic_partials(solver.beta0(), solver.beta1(), x, y,
                                                         n_local, k, active, loglik, firth);
    comm.allreduce_sum(p.data());
    return p;
  };
  while (!solver.done()) {
    const stats::LogisticPartials at_beta = partials(solver.active(), false, {});
    if (solver.needs_firth_pass()) {
      const stats::LogisticPartials firth =
          partials(solver.firth_active(), false, solver.firth_inverse_info(at_beta));
      solver.step(at_beta, &firth);
    } else {
      solver.step(at_beta);
    }
  }
  return solver.finalize(partials(solver.fitted(), true, {}));
}

}  // namespace neurolens::runner
