// Plan — the windows a batch loop feeds to the forward pass and the samples it measures.
// Owns: a list of windows (a token span of one document, its tokens carried inline) and samples
// (one position of one window, with its group label and pair id), cut into batches of whole
// units (the windows of one pair stay together). A plan is either GLOBAL (identical on all ranks,
// each rank runs a balanced contiguous block of its batches; bounded plans: word pairs, the
// logistic study's two batches) or LOCAL (one round of a corpus stream on one rank: every batch is
// this rank's, and window / sample ids are offset by first_window / first_sample to be global).
// Corpus studies stream local plans round by round (runner/engine/corpus_stream.hpp), so no rank
// ever holds the windows or samples of the whole corpus.
// Legend: W windows, S samples, T tokens per window.
// Example:
//   Plan plan = build_plan(corpus, tokenizer, finder, comm, max_windows, max_tokens);  // global
//   Block mine = plan.rank_block(comm.rank(), comm.size());   // windows [begin, end)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/corpus.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/parallel/sharding.hpp"

namespace neurolens::runner {

class Comm;

struct WindowSpec {
  int64_t document = -1;        // global corpus document index; -1: generated text (word pairs)
  int64_t start = 0;            // first token's index in the document
  int32_t length = 0;           // T
  int64_t unit = -1;            // windows with the same unit go to the same rank (-1: own unit)
  std::vector<int32_t> tokens;  // [T] the window's token ids
  std::vector<int64_t> extra;   // study-specific counters carried with the window (may be empty)
};

struct Sample {
  int64_t window = 0;    // index into Plan::windows
  int32_t position = 0;  // position in the window
  int32_t label = 0;     // 0 = group a, 1 = group b, ...
  int64_t pair_id = -1;  // paired studies: the pair this sample belongs to
  int32_t token = 0;     // token id at that position
  int32_t word = -1;     // study-specific: which word list entry matched (-1: none)
};

// What a study finds in one document: windows (with window indices local to the document) and
// samples referring to them.
struct DocumentFinds {
  std::vector<WindowSpec> windows;
  std::vector<Sample> samples;  // Sample::window indexes `windows`
};

using WindowFinder =
    std::function<DocumentFinds(const io::Document& document, const std::vector<int32_t>& tokens)>;

struct Plan {
  std::vector<WindowSpec> windows;  // [W], sorted by (document, start)
  std::vector<Sample> samples;      // [S], sorted by (window, position)
  int64_t documents = 0;
  int64_t corpus_tokens = 0;          // tokens of every document read
  int32_t window_length = 0;          // T (every window of a plan has the same length)
  std::vector<int64_t> unit_offsets;  // window index where each unit starts, plus W at the end
  // Global batches: window index where each batch starts, plus W. Batches are whole units of
  // at most batch_size windows (a larger unit is a batch of its own). Every window is always
  // computed in the same batch, so its activations are bitwise the same on any rank count.
  std::vector<int64_t> batch_offsets;
  // Local plans (one rank's round of a corpus stream): global ids of windows[0] and samples[0].
  bool local = false;
  int64_t first_window = 0;
  int64_t first_sample = 0;

  void make_batches(int batch_size);
  // Sorts samples, finds units, checks that every window has length T (after filling windows).
  void finish();
  int64_t n_batches() const { return static_cast<int64_t>(batch_offsets.size()) - 1; }
  // Batches [begin, end) of this rank: balanced contiguous blocks (local plans: all batches).
  Block rank_batches(int rank, int size) const;
  // Windows [begin, end) of this rank's batches.
  Block rank_block(int rank, int size) const;
  // Samples of windows [block.begin, block.end): their index range in `samples`.
  Block samples_of(const Block& windows_block) const;
  int64_t label_count(int32_t label) const;
  // Ranks take whole batches, so with few batches per rank some ranks idle: a one-line warning
  // with a batch_size that spreads the windows evenly when under 90% of the ranks' time would be
  // used; empty otherwise (also for 1 rank).
  std::string balance_warning(int batch_size, int ranks) const;
};

// PlanCounts — what a plan (or a whole corpus stream) holds, in numbers: enough for the checks
// (empty groups, missing words), --dry-run and the results' attributes without the windows.
struct PlanCounts {
  int64_t documents = 0;
  int64_t corpus_tokens = 0;
  int64_t windows = 0;
  int64_t samples = 0;
  int32_t window_length = 0;       // T
  std::vector<int64_t> labels;     // samples per label
  std::vector<int64_t> words;      // samples per Sample::word (study word-list entry)
  int64_t batches = 0;             // global plans: batches; streams: rank-local batches, summed
  int64_t most_rank_windows = 0;   // windows of the busiest rank
  int64_t least_rank_windows = 0;  // windows of the idlest rank

  int64_t label_count(int32_t label) const {
    return label >= 0 && static_cast<size_t>(label) < labels.size()
               ? labels[static_cast<size_t>(label)]
               : 0;
  }
  // Adds a plan's windows and samples (labels, words, window length); not documents / tokens.
  void add(const Plan& plan);
};

// The counts of a global plan with its batches made (rank blocks for `ranks`).
PlanCounts count_plan(const Plan& plan, int ranks);

// A GLOBAL plan of a bounded part of the corpus: streams the corpus (CorpusStream: each rank
// reads its segments) and all-gathers each round's windows and samples, stopping after
// `max_windows` windows (0: no limit) or the document that reaches `max_tokens` (0: no limit) in
// corpus order. For studies whose windows are bounded by the job (not the corpus); with neither
// limit it holds the whole corpus's finds on every rank. Throws (collectively) neurolens::Error.
// `on_round`, when given, may drop windows of each round (keep_windows) before the all-gather.
Plan build_plan(const io::Corpus& corpus, const model::Tokenizer& tokenizer,
                const WindowFinder& finder, const Comm& comm, int64_t max_windows,
                int64_t max_tokens, const std::function<void(Plan&)>& on_round = {});

// Keeps the windows of a local plan whose GLOBAL id (first_window + index) passes `keep`, with
// their samples (re-indexed); first_window is left as it was.
void keep_windows(Plan& round, const std::function<bool(int64_t)>& keep);

// The document's text encoded; invalid UTF-8 is an Error naming the document's source.
std::vector<int32_t> encode_document(const io::Document& document,
                                     const model::Tokenizer& tokenizer);

// A global plan of windows made from given token lists (no corpus), e.g. word pairs in a template.
Plan plan_from_windows(std::vector<WindowSpec> windows, std::vector<Sample> samples);

// Fetches the tokens of windows [begin, end) of `plan` into out: [end - begin, T] row-major.
void fetch_window_tokens(const Plan& plan, int64_t begin, int64_t end, std::vector<int32_t>& out);

// The document's token ids: pre-tokenized corpora's ids, or the text encoded (invalid UTF-8 is an
// Error naming the document's source); when the model's tokenizer adds a BOS (adds_bos(), e.g.
// Llama 2, Mistral, Gemma), the ids start with it, for text and pre-tokenized documents alike
// (a pre-tokenized document that already starts with it keeps one), so a run on a tokenized
// corpus equals the run on its text. An empty document stays empty.
std::vector<int32_t> document_tokens(const io::Document& document,
                                     const model::Tokenizer& tokenizer);

// The BOS every document starts with (document_tokens): the post-processor's BOS when the
// tokenizer adds one, else none (GPT-2, Llama 3 and Qwen tokenizer.json files without a template).
std::optional<int32_t> document_bos(const model::Tokenizer& tokenizer);

// Tokens of a text document before its text's first token: 1 with a document BOS, else 0 (for
// indices from tokenizer.encode_with_offsets(document.text)).
int64_t document_text_offset(const model::Tokenizer& tokenizer);

// [vocab_size] flags: 1 for the special tokens (Tokenizer::special_ids: BOS, EOS, added special
// tokens), at which no study takes a sample.
std::vector<uint8_t> special_token_flags(const model::Tokenizer& tokenizer);

}  // namespace neurolens::runner
