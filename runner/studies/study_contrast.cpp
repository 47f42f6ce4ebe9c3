// study = contrast: two word lists (negations vs affirmations by default). A target is an
// occurrence of a listed word, written with a leading space, whose NEXT token starts with a
// space (so "can" in "cannot" or a prefix of a longer word is not a target), with
// context_before tokens before it and context_after after it inside the same document.
// Multi-token words: the whole token sequence of " word" must match and the target is its LAST
// token. Windows are [context_before + 1 + context_after] with the target at index
// context_before; since the model is causal, the forward pass stops at the target.
// SentencePiece vocabularies ("\u2581word") and BOS: a word's tokens are those it has mid-text
// after a space (word_tokens), "starts a new word" is word_start_flags (a leading space in the
// token's text: "\u2581", "<0x20>" and "\u0120word" all count), a window lies inside one document
// and so never holds a BOS except at its start, and no target is a special token.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <unordered_map>

#include "io/error.hpp"
#include "io/text.hpp"
#include "runner/studies/study.hpp"

namespace neurolens::runner {
namespace {

// The [contrast] section (defaults: kContrastKeys below).
struct ContrastOptions {
  std::vector<std::string> group_a;  // words; default: negations
  std::vector<std::string> group_b;  // words; default: affirmations
  int context_before = 90;
  int context_after = 10;
};

ContrastOptions contrast_options(const Job& job) {
  const StudyOptions& o = job.options;
  return {o.words("contrast.group_a"), o.words("contrast.group_b"),
          o.integer("contrast.context_before"), o.integer("contrast.context_after")};
}

struct WordPattern {
  std::string word;
  std::vector<int32_t> ids;
  int32_t label;
  int32_t index;  // into the combined list (group a words, then group b words)
};

class ContrastStudy : public Study {
 public:
  Plan make_plan(RunContext& ctx) override {
    const Job& job = ctx.job;
    patterns_.clear();
    std::map<std::string, int> seen;
    auto add = [&](const std::vector<std::string>& words, int32_t label, const char* key) {
      for (const std::string& w : words) {
        if (seen.count(w)) {
          throw Error(std::string(key), "word '" + w + "' is listed twice (or in both groups)",
                      "list every word once");
        }
        seen[w] = 1;
        patterns_.push_back(
            {w, word_tokens(ctx.tokenizer, w), label, static_cast<int32_t>(patterns_.size())});
      }
    };
    add(contrast_options(job).group_a, 0, "contrast.group_a");
    add(contrast_options(job).group_b, 1, "contrast.group_b");
    by_last_.clear();
    for (const WordPattern& p : patterns_) by_last_[p.ids.back()].push_back(&p);
    starts_with_space_ = word_start_flags(ctx.tokenizer);
    // Never a target at a special token (a word listed as "<s>" would otherwise match the BOS).
    const std::vector<uint8_t> special = special_token_flags(ctx.tokenizer);
    for (auto it = by_last_.begin(); it != by_last_.end();) {
      const auto id = static_cast<size_t>(it->first);
      it = id < special.size() && special[id] ? by_last_.erase(it) : std::next(it);
    }
    const int before = contrast_options(job).context_before;
    const int after = contrast_options(job).context_after;
    const int length = before + 1 + after;
    if (length > ctx.model.config.n_positions) {
      throw Error("contrast.context_before",
                  "windows of " + std::to_string(length) + " tokens exceed the model's " +
                      std::to_string(ctx.model.config.n_positions) + " positions",
                  "reduce context_before / context_after");
    }
    return {};  // streamed: run() reads the corpus
  }

  bool streamed() const override { return true; }
  StreamLimits limits(const RunContext& ctx) const override { return {0, ctx.job.max_tokens}; }

  WindowFinder finder(RunContext& ctx) override {
    const int before = contrast_options(ctx.job).context_before;
    const int after = contrast_options(ctx.job).context_after;
    const int length = before + 1 + after;
    const auto& by_last = by_last_;
    const auto& starts_with_space = starts_with_space_;
    return [&by_last, &starts_with_space, before, after, length](
               const io::Document&, const std::vector<int32_t>& tokens) {
      DocumentFinds finds;
      const auto n = static_cast<int64_t>(tokens.size());
      for (int64_t i = before; i + after < n; ++i) {
        auto it = by_last.find(tokens[static_cast<size_t>(i)]);
        if (it == by_last.end()) continue;
        if (i + 1 >= n ||
            !starts_with_space[static_cast<size_t>(tokens[static_cast<size_t>(i + 1)])]) {
          continue;  // a prefix of a longer word, or followed by punctuation
        }
        for (const WordPattern* p : it->second) {
          const auto m = static_cast<int64_t>(p->ids.size());
          if (i - m + 1 < 0) continue;
          if (!std::equal(p->ids.begin(), p->ids.end(), tokens.begin() + (i - m + 1))) continue;
          WindowSpec w;
          w.start = i - before;
          w.length = length;
          finds.samples.push_back({static_cast<int64_t>(finds.windows.size()), before, p->label, -1,
                                   tokens[static_cast<size_t>(i)], p->index});
          finds.windows.push_back(w);
          break;
        }
      }
      return finds;
    };
  }

  std::vector<std::string> check_plan(RunContext& ctx, const PlanCounts& plan) override {
    std::vector<std::string> warnings;
    counts_.assign(patterns_.size(), 0);
    for (size_t i = 0; i < plan.words.size() && i < counts_.size(); ++i) counts_[i] = plan.words[i];
    std::string missing;
    for (size_t i = 0; i < patterns_.size(); ++i) {
      if (counts_[i] == 0) missing += (missing.empty() ? "" : ", ") + patterns_[i].word;
    }
    if (!missing.empty()) {
      warnings.push_back("contrast: no target found for: " + missing +
                         " (each needs a following token that starts with a space and " +
                         std::to_string(contrast_options(ctx.job).context_before) + " + " +
                         std::to_string(contrast_options(ctx.job).context_after) +
                         " tokens of context in one document)");
    }
    for (int32_t label : {0, 1}) {
      const int64_t n = plan.label_count(label);
      const char* key = label == 0 ? "contrast.group_a" : "contrast.group_b";
      if (n < 2) {
        throw Error(key,
                    "only " + std::to_string(n) + " target(s) found in " +
                        std::to_string(plan.documents) + " documents (" +
                        std::to_string(plan.corpus_tokens) + " tokens); a test needs 2 or more" +
                        (missing.empty() ? "" : "; no target for: " + missing),
                    "use a larger corpus, other words, or a smaller context_before/context_after");
      }
    }
    return warnings;
  }

  StudySummary run(RunContext& ctx, const Plan& /*plan*/, const OpenResults& open) override {
    // test = logistic keeps the samples' rows in memory for the Newton iterations; the t-tests
    // stream them into moments (save_samples spills them to disk).
    const bool keep = ctx.job.test == TestKind::Logistic;
    GroupStatistics stats(ctx.sites, 2, GroupStatistics::Mode::TwoGroup, keep);
    if (ctx.job.save_samples) stats.spill_samples(ctx.job.output, ctx.comm.rank());
    const PlanCounts plan = stream_batches(ctx, finder(ctx), limits(ctx), stats);
    check_streamed(*this, ctx, plan);
    ResultsWriter& out = open();
    stats.finalize(ctx, Plan{}, out);
    const auto& summaries = stats.summaries();
    // Targets per word.
    std::vector<std::string> words;
    std::vector<int64_t> counts, labels;
    for (size_t i = 0; i < patterns_.size(); ++i) {
      words.push_back(patterns_[i].word);
      counts.push_back(counts_[i]);
      labels.push_back(patterns_[i].label);
    }
    out.file().write_strings("/contrast/word", words, ctx.comm.root());
    const std::vector<hsize_t> dims = {static_cast<hsize_t>(words.size())};
    out.write_shared("/contrast/count", io::H5Type::I64, dims, counts.data());
    out.write_shared("/contrast/label", io::H5Type::I64, dims, labels.data());
    out.set_attribute("/contrast", "context_before",
                      static_cast<int64_t>(contrast_options(ctx.job).context_before));
    out.set_attribute("/contrast", "context_after",
                      static_cast<int64_t>(contrast_options(ctx.job).context_after));
    StudySummary summary;
    char line[256];
    std::snprintf(
        line, sizeof line, "contrast: %lld targets of group a, %lld of group b, %lld windows",
        static_cast<long long>(plan.label_count(0)), static_cast<long long>(plan.label_count(1)),
        static_cast<long long>(plan.windows));
    summary.lines.push_back(line);
    append_neuron_summary(summary, ctx, summaries, "negation");
    return summary;
  }

  double extra_memory(const RunContext& ctx, const PlanCounts& plan) const override {
    double bytes = 0;
    const double per_rank = samples_per_rank(ctx, plan);
    for (const SiteSpace& s : ctx.sites) {
      bytes += 2.0 * 4 * 8 * static_cast<double>(s.neurons());  // moments of two groups
      if (ctx.job.test == TestKind::Logistic) {
        bytes += per_rank * 4.0 * static_cast<double>(s.neurons());
      }
    }
    return bytes;
  }

 private:
  std::vector<WordPattern> patterns_;
  std::unordered_map<int32_t, std::vector<const WordPattern*>> by_last_;  // last token -> words
  std::vector<uint8_t> starts_with_space_;                                // [V]
  std::vector<int64_t> counts_;
};

}  // namespace

const StudySpec& contrast_study_spec() {
  static const StudySpec spec{
      .name = "contrast",
      .summary = "two word lists (negations vs affirmations): two-group tests at the targets",
      .keys = {{.name = "group_a",
                .default_value = "not, never, cannot, can't, don't, won't, wasn't, isn't, didn't, "
                                 "doesn't, couldn't, wouldn't, shouldn't, no, nothing, nobody",
                .help = "group a words (negations)",
                .type = KeyType::Words},
               {.name = "group_b",
                .default_value = "can, could, may, will, would, should, must, might, shall, do, "
                                 "does, did, is, was, always, yes",
                .help = "group b words (affirmations)",
                .type = KeyType::Words},
               {.name = "context_before",
                .default_value = "90",
                .help = "tokens before the target in every window",
                .type = KeyType::Integer,
                .min = 0,
                .max = 1 << 20},
               {.name = "context_after",
                .default_value = "10",
                .help = "tokens after the target in every window",
                .type = KeyType::Integer,
                .min = 0,
                .max = 1 << 20}},
      .tests = {TestKind::Welch, TestKind::Student, TestKind::Logistic},
      .default_test = TestKind::Welch,
      .refuses_test = "has no pairs",
      .needs_corpus = true,
      .check_job =
          [](const Job& job, const KeyContext& where) {
            const ContrastOptions o = contrast_options(job);
            if (o.group_a.empty() || o.group_b.empty()) {
              throw Error(where(o.group_a.empty() ? "contrast.group_a" : "contrast.group_b"),
                          "empty word list", "give comma-separated words");
            }
          },
      .make = [] { return std::make_unique<ContrastStudy>(); },
  };
  return spec;
}

}  // namespace neurolens::runner
