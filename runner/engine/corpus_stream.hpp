// CorpusStream — a corpus read once, in rounds, each rank reading only its own segments.
// Owns: the round loop over io::Corpus segments (round i: rank r reads segment i * R + r), the
// tokenizing of each document (or the ids of a pre-tokenized corpus), running a study's
// WindowFinder on it, and turning one round's finds into a LOCAL Plan whose window, sample,
// document, unit and pair ids are global: two small all-gathers per round (R x 6 counts) give each
// rank the counts of the ranks and rounds before it, so ids follow corpus order and never depend
// on the rank count. Limits (max_windows, max_tokens) apply in corpus order, as if one process
// read the corpus from the start. Nothing of size W or S is exchanged: a rank's memory is one
// segment's documents and finds.
// Legend: R ranks, W windows, S samples.
// Example:
//   CorpusStream stream(corpus, tokenizer, finder, comm, {.max_windows = 0, .max_tokens = 0});
//   Plan round;
//   while (stream.next(round)) runner.run(round);          // collective
//   const StreamTotals& all = stream.totals();              // identical on every rank
#pragma once

#include <cstdint>
#include <vector>

#include "io/corpus.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/engine/plan.hpp"

namespace neurolens::runner {

class Comm;

struct StreamLimits {
  int64_t max_windows = 0;  // 0: no limit
  int64_t max_tokens = 0;   // stop after the document that reaches it; 0: no limit
};

// Counts over the rounds read so far (all ranks), identical on every rank.
struct StreamTotals {
  int64_t rounds = 0;
  int64_t documents = 0;
  int64_t corpus_tokens = 0;
  int64_t windows = 0;
  int64_t samples = 0;
  int64_t units = 0;
  int64_t pairs = 0;
  bool done = false;  // a limit was reached or every segment was read

  std::vector<double> serialize() const;
  static StreamTotals deserialize(const std::vector<double>& v, size_t& offset);
};

class CorpusStream {
 public:
  CorpusStream(const io::Corpus& corpus, const model::Tokenizer& tokenizer, WindowFinder finder,
               const Comm& comm, StreamLimits limits);

  // Collective. The next round's local plan of this rank (windows with their tokens, samples;
  // plan.local, first_window / first_sample set; batches not made yet). Returns false, on every
  // rank together, when the corpus or a limit is exhausted (then `round` is left empty).
  // Throws (collectively) neurolens::Error on a bad document.
  bool next(Plan& round);

  // Continue after `totals` (a resumed run): the next round read is totals.rounds.
  void resume_from(const StreamTotals& totals) { totals_ = totals; }
  const StreamTotals& totals() const { return totals_; }
  // Rounds needed to read every segment: ceil(segments / R).
  int64_t n_rounds() const;
  // Bytes this rank has read from the corpus so far.
  uint64_t bytes_read() const { return corpus_.bytes_read(); }

 private:
  const io::Corpus& corpus_;
  const model::Tokenizer& tokenizer_;
  WindowFinder finder_;
  const Comm& comm_;
  StreamLimits limits_;
  StreamTotals totals_;
};

}  // namespace neurolens::runner
