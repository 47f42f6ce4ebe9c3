// Text and token inputs of the command line: reading a UTF-8 text file, cutting its tokens into
// equal sequences, reading a token file (one sequence per line, space-separated ids), and
// checking sequences against a model before any compute.
// Legend: N sequences, T tokens per sequence.
// Example:
//   TokenSequences s = read_token_file("ids.txt");        // s.ids: [N, T]
//   check_sequences(s, model.config, "ids.txt");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/load/config.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace neurolens::runner {

struct TokenSequences {
  std::vector<int32_t> ids;  // [N, T] row-major
  int n_sequences = 0;       // N
  int seq_len = 0;           // T
  int64_t dropped_tokens = 0;
};

// The whole file; throws Error naming the file when it cannot be read.
std::string read_text_file(const std::string& path);

// seq_len == 0: the whole text is one sequence. Otherwise consecutive sequences of seq_len
// tokens; a shorter tail is dropped and counted in dropped_tokens.
TokenSequences sequences_from_text(const std::string& text, const model::Tokenizer& tokenizer,
                                   int seq_len, const std::string& source);

// One sequence per line, space-separated ids, all lines the same length (blank lines skipped).
TokenSequences read_token_file(const std::string& path);

// Ids inside the vocabulary, sequences not longer than the position table, at least one.
void check_sequences(const TokenSequences& seqs, const model::ModelConfig& config,
                     const std::string& source);

}  // namespace neurolens::runner
