// vocab_json — a GPT-2 vocab.json read into (symbol string, id) entries.
// Owns: the JSON side of the vocabulary: a direct scanner for the canonical layout
// {"token": id, ...} (escapes decoded, UTF-8 checked), nlohmann's SAX parser for anything else
// (same results, and the error messages name the file, line or token), and the checks that the
// document is a non-empty object of non-negative 32-bit ids. The symbols stay GPT-2's
// byte-to-unicode strings; Tokenizer::load turns them into bytes and builds the index.
// Example:
//   std::vector<VocabEntry> e = parse_vocab_json(R"({"a": 0, "\u0120the": 1})", "vocab.json");
//   // e[1].key == "\xC4\xA0the" (U+0120 in UTF-8), e[1].id == 1
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace neurolens::model {

struct VocabEntry {
  std::string key;  // the token's symbols, UTF-8
  int64_t id = -1;
};

// Entries in document order (duplicates kept: the caller decides). Throws neurolens::Error
// with `name` (and a line or token) on invalid JSON, a value that is not an id in
// 0..INT32_MAX - 1, or a document that is not a non-empty object.
std::vector<VocabEntry> parse_vocab_json(std::string_view text, const std::string& name);

}  // namespace neurolens::model
