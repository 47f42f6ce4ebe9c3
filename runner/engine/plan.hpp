// Plan — every window a job feeds to the forward pass and every sample it measures, identical
// on all ranks, and the assignment of windows to ranks.
// Owns: the global, deterministic list of windows (a token span of one document) and samples
// (one position of one window, with its group label and pair id); building it scalably (each
// rank tokenizes a share of the documents and finds its windows, descriptors are all-gathered
// and sorted, so the plan never depends on the rank count); assigning windows to ranks in
// balanced contiguous blocks of units (the windows of one pair stay together); and fetching
// the tokens of a rank's own windows.
// Legend: W windows, S samples, T tokens per window.
// Example:
//   Plan plan = build_plan(corpus, tokenizer, finder, comm, max_windows);
//   Block mine = plan.rank_block(comm.rank(), comm.size());   // windows [begin, end)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/corpus.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/parallel/sharding.hpp"

namespace neurolens::runner {

class Comm;

struct WindowSpec {
  int64_t document = 0;         // corpus document index; -1: the window's tokens come from `tokens`
  int64_t start = 0;            // first token's index in the document
  int32_t length = 0;           // T
  int64_t unit = -1;            // windows with the same unit go to the same rank (-1: own unit)
  std::vector<int32_t> tokens;  // only for document == -1 (generated text, e.g. word pairs)
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

  void make_batches(int batch_size);
  int64_t n_batches() const { return static_cast<int64_t>(batch_offsets.size()) - 1; }
  // Batches [begin, end) of this rank: balanced contiguous blocks.
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

// Tokenizes documents rank, rank + size, ... with `tokenizer`, runs `finder` on each, and
// all-gathers the result. Stops adding windows after `max_windows` (0: no limit) in global
// order. Throws (collectively) neurolens::Error on bad documents.
Plan build_plan(const io::Corpus& corpus, const model::Tokenizer& tokenizer,
                const WindowFinder& finder, const Comm& comm, int64_t max_windows,
                int64_t max_tokens);

// A plan of windows made from given token lists (no corpus), e.g. word pairs in a template.
// The document's token ids; invalid UTF-8 is an Error naming the document's source.
std::vector<int32_t> encode_document(const io::Document& document,
                                     const model::Tokenizer& tokenizer);

Plan plan_from_windows(std::vector<WindowSpec> windows, std::vector<Sample> samples);

// Fetches the tokens of a rank's windows batch by batch, re-tokenizing only the documents those
// windows come from (the last document's tokens are cached: windows are sorted by document).
class WindowTokens {
 public:
  WindowTokens(const Plan& plan, const io::Corpus* corpus, const model::Tokenizer& tokenizer)
      : plan_(plan), corpus_(corpus), tokenizer_(tokenizer) {}
  // Windows [begin, end) into out: [end - begin, T] row-major.
  void fetch(int64_t begin, int64_t end, std::vector<int32_t>& out);

 private:
  const Plan& plan_;
  const io::Corpus* corpus_;
  const model::Tokenizer& tokenizer_;
  int64_t cached_document_ = -1;
  std::vector<int32_t> cached_tokens_;
};

}  // namespace neurolens::runner
