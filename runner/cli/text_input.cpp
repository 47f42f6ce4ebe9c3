#include "runner/cli/text_input.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "io/error.hpp"

namespace neurolens::runner {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open the file", "check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path, "cannot read the file", "check the path");
  return ss.str();
}

TokenSequences sequences_from_text(const std::string& text, const model::Tokenizer& tokenizer,
                                   int seq_len, const std::string& source) {
  std::vector<int32_t> ids;
  try {
    ids = tokenizer.encode(text);
  } catch (const Error& e) {
    throw Error(source, e.problem(), e.hint());
  }
  if (ids.empty()) throw Error(source, "the text has no tokens", "give a non-empty text file");
  if (seq_len < 0) throw Error("--seq-len", "must be positive", "e.g. --seq-len 128");
  TokenSequences out;
  if (seq_len == 0) {
    out.seq_len = static_cast<int>(ids.size());
    out.n_sequences = 1;
    out.ids = std::move(ids);
    return out;
  }
  const int64_t n = static_cast<int64_t>(ids.size()) / seq_len;
  if (n == 0) {
    throw Error(source,
                "the text has " + std::to_string(ids.size()) +
                    " tokens, fewer than one sequence of --seq-len " + std::to_string(seq_len),
                "give a longer text or a smaller --seq-len");
  }
  out.seq_len = seq_len;
  out.n_sequences = static_cast<int>(n);
  out.dropped_tokens = static_cast<int64_t>(ids.size()) - n * seq_len;
  ids.resize(static_cast<size_t>(n * seq_len));
  out.ids = std::move(ids);
  return out;
}

TokenSequences read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open the token file", "check the --token-file path");
  TokenSequences out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const char* p = line.data();
    const char* end = line.data() + line.size();
    int count = 0;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
      if (p == end) break;
      int64_t value = 0;
      auto [next, ec] = std::from_chars(p, end, value);
      if (ec != std::errc() || (next < end && *next != ' ' && *next != '\t' && *next != '\r') ||
          value < 0 || value > INT32_MAX) {
        throw Error(path + ":" + std::to_string(line_no),
                    "'" + std::string(p, static_cast<size_t>(std::min<ptrdiff_t>(end - p, 20))) +
                        "' is not a token id",
                    "write non-negative integer ids separated by spaces");
      }
      out.ids.push_back(static_cast<int32_t>(value));
      ++count;
      p = next;
    }
    if (count == 0) continue;
    if (out.n_sequences > 0 && count != out.seq_len) {
      throw Error(path + ":" + std::to_string(line_no),
                  "has " + std::to_string(count) + " ids but earlier lines have " +
                      std::to_string(out.seq_len),
                  "make every line the same length (pad or cut sequences)");
    }
    out.seq_len = count;
    ++out.n_sequences;
  }
  if (out.n_sequences == 0)
    throw Error(path, "no sequences in the token file", "one sequence per line");
  return out;
}

void check_sequences(const TokenSequences& seqs, const model::ModelConfig& config,
                     const std::string& source) {
  if (seqs.n_sequences == 0) throw Error(source, "no sequences", "give a non-empty input");
  if (seqs.seq_len > config.n_positions) {
    throw Error(source,
                "sequences of " + std::to_string(seqs.seq_len) +
                    " tokens exceed the model's position table (" +
                    std::to_string(config.n_positions) + ")",
                "use --seq-len " + std::to_string(config.n_positions) + " or less");
  }
  for (size_t i = 0; i < seqs.ids.size(); ++i) {
    if (seqs.ids[i] >= config.n_vocab) {
      throw Error(source,
                  "token id " + std::to_string(seqs.ids[i]) + " (sequence " +
                      std::to_string(i / static_cast<size_t>(seqs.seq_len)) +
                      ") is outside the vocabulary of " + std::to_string(config.n_vocab),
                  "use ids below vocab_size");
    }
  }
}

}  // namespace neurolens::runner
