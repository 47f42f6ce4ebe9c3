// Study — one `study =` kind of `neurolens run`.
// Owns: the interface every study implements: building its Plan (which windows, which samples,
// which groups), checking it (empty groups, missing words: clear errors or warnings with
// counts), and running it through the engine into the results file. The registry
// (runner/studies/registry.hpp) maps the job's study key to its implementation
// (runner/studies/study_<name>.cpp).
// Example:
//   std::unique_ptr<Study> study = study_spec(job.study).make();
//   Plan plan = study->make_plan(ctx);
//   study->check_plan(ctx, plan);
//   StudySummary summary = study->run(ctx, plan, open_results);
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/format.hpp"  // format_p, format_number
#include "runner/engine/engine.hpp"
#include "runner/engine/plan.hpp"
#include "runner/results/writer.hpp"
#include "runner/studies/registry.hpp"

namespace neurolens::runner {

struct StudySummary {
  std::vector<std::string> lines;  // printed by rank 0 after the run
};

class Study {
 public:
  virtual ~Study() = default;
  // A global plan (bounded studies), or, for streamed studies, preparation (word lists, ...) and
  // an empty plan: they read the corpus in run().
  virtual Plan make_plan(RunContext& ctx) = 0;
  // Throws neurolens::Error (the same on every rank) when what was found cannot give a result;
  // returns warnings for rank 0 to print. Streamed studies call it from run(), after the stream
  // and before the results file exists.
  virtual std::vector<std::string> check_plan(RunContext& ctx, const PlanCounts& counts) = 0;
  virtual StudySummary run(RunContext& ctx, const Plan& plan, const OpenResults& open) = 0;
  // Extra memory per rank beyond the forward pass (bytes), for --dry-run.
  virtual double extra_memory(const RunContext& ctx, const PlanCounts& counts) const = 0;
  // Further --dry-run lines (e.g. what extra_memory is made of); none by default.
  virtual std::vector<std::string> dry_run_lines(const RunContext& /*ctx*/,
                                                 const PlanCounts& /*counts*/) const {
    return {};
  }

  // Streamed studies: the corpus is read once, in rounds, each rank its own segments
  // (stream_batches); --dry-run counts what they would read with these (count_stream).
  virtual bool streamed() const { return false; }
  virtual WindowFinder finder(RunContext& /*ctx*/) { return {}; }
  virtual StreamLimits limits(const RunContext& /*ctx*/) const { return {}; }
  // Applied to each round after it is read (e.g. keep only some windows), in the run and in
  // --dry-run's count alike.
  virtual RoundHook round_hook(RunContext& /*ctx*/) { return {}; }
};

// For streamed studies, after the stream: check_plan (collectively: an error on every rank
// together, before any output exists), warnings printed by rank 0.
void check_streamed(Study& study, RunContext& ctx, const PlanCounts& counts);

// Shared helpers for studies.
// The token ids of " word" (a word preceded by a space) as the tokenizer splits it mid-text:
// encode("a " + word) minus encode("a") when that prefix is kept, else encode(" " + word). The
// same as encode(" " + word) for byte-level vocabularies; for SentencePiece-style ones
// ("\u2581word", Llama 2, Mistral, Gemma) the word's own "\u2581word" tokens.
inline constexpr const char* kWordProbe = "a";
std::vector<int32_t> word_tokens(const model::Tokenizer& tokenizer, const std::string& word);
// [vocab_size] flags: the token starts a new word, i.e. its text (token_bytes) starts with a
// space: GPT-2 "\u0120word", SentencePiece "\u2581word" and "\u2581", the byte-fallback
// "<0x20>". Special tokens (BOS, EOS, ...) never do; punctuation and "\n" do not.
std::vector<uint8_t> word_start_flags(const model::Tokenizer& tokenizer);
// The logistic study's proper-noun rule over a document's tokens (document_tokens): 1 where a
// token, whitespace stripped, starts with A-Z and the previous non-blank token neither ends with
// . ? ! nor is a special token (the BOS), nor is missing (the document's first token).
std::vector<uint8_t> proper_noun_flags(const model::Tokenizer& tokenizer,
                                       const std::vector<int32_t>& tokens);
// Lines naming the strongest neurons of each site by |statistic|: layer, neuron, value, p.
std::vector<std::string> top_neuron_lines(
    const std::vector<SiteSpace>& sites, const std::vector<GroupStatistics::SiteSummary>& summaries,
    size_t top);

// For a model with planted.json (neurolens synth-model --plant): where each planted neuron of
// `concept` (empty: every concept) landed among the site's neurons, e.g.
// "planted negation neuron blocks.1.mlp.hook_pre #434: rank 1 of 2048 by |t|, t = +795.7, p <
// 1e-300".
std::vector<std::string> planted_lines(const model::Model& model,
                                       const std::vector<SiteSpace>& sites,
                                       const std::vector<GroupStatistics::SiteSummary>& summaries,
                                       const std::string& concept_name);

// Appends the strongest neurons of each site and, for a model with planted.json, where the
// planted neuron of `concept_name` ranks.
void append_neuron_summary(StudySummary& summary, const RunContext& ctx,
                           const std::vector<GroupStatistics::SiteSummary>& summaries,
                           const std::string& concept_name);

// Writes /<site>/<name> [L, W, trailing...] collectively: this rank's flat neurons
// [slice.begin, slice.end) from `data` ([slice, prod(trailing)] elements of `type`), one block
// per layer (an empty block where the slice does not reach the layer); the layer and neuron
// scales are attached and the trailing dimensions labelled.
void write_neuron_cube(ResultsWriter& out, const SiteSpace& site, const std::string& name,
                       io::H5Type type, const std::vector<hsize_t>& trailing,
                       const std::vector<std::string>& labels, const Block& slice,
                       const void* data);

// Samples a rank holds at most (balanced blocks), for --dry-run memory estimates.
double samples_per_rank(const RunContext& ctx, const PlanCounts& counts);

}  // namespace neurolens::runner
