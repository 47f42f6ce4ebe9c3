// GroupStatistics (runner/engine/engine.hpp) — the common accumulator of the studies: moments
// per group and site, paired differences, rows kept for logistic regression or spilled for
// save_samples; its resume state; its collective finalize (reduce by neuron slice, t-tests /
// effect sizes / logistic fits, family-wide correction, the written datasets). Also the moment
// records the MPI reductions carry and the distributed logistic regression. The batch loop
// that feeds it is runner/engine/engine.cpp.
#include <algorithm>
#include <climits>
#include <cmath>
#include <map>

#include "io/error.hpp"
#include "io/text.hpp"
#include "runner/engine/engine.hpp"
#include "runner/engine/sample_spill.hpp"
#include "runner/parallel/sharding.hpp"
#include "stats/effect_size.hpp"
#include "stats/multiple_testing.hpp"
#include "stats/ttest.hpp"

namespace neurolens::runner {

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
