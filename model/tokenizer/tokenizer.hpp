// Tokenizer — GPT-2's byte-level BPE: text (UTF-8) <-> token ids, exactly as OpenAI's encoder.
// Owns: loading vocab.json + merges.txt, the GPT-2 pre-tokenizer (a hand-written scanner equal
// to the regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ with
// Python `regex` semantics over full Unicode), the BPE merges (ranked by merges.txt line order)
// with a thread-safe piece cache, and decoding. "<|endoftext|>" in the text is ordinary text
// (like tiktoken's encode_ordinary); its id is available through token_id("<|endoftext|>").
// See docs/tokenizer.md for the semantics and the documented choices.
// Example:
//   Tokenizer tok = Tokenizer::load("gpt2/vocab.json", "gpt2/merges.txt");
//   std::vector<int32_t> ids = tok.encode("Hello world");  // {15496, 995}
//   tok.decode(ids) == "Hello world";
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neurolens::model {

// Splits UTF-8 text into GPT-2 pre-tokenizer pieces (views into `utf8`, in order, covering it
// exactly). Throws neurolens::Error naming the byte offset of invalid UTF-8.
std::vector<std::string_view> pretokenize(std::string_view utf8);

class Tokenizer {
 public:
  // Throws neurolens::Error naming the file (and line, or token) of malformed input.
  static Tokenizer load(const std::filesystem::path& vocab_json,
                        const std::filesystem::path& merges_txt);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of the text. Throws neurolens::Error on invalid UTF-8 (with the byte offset).
  // Thread-safe: any number of threads may encode with one Tokenizer at once.
  std::vector<int32_t> encode(std::string_view utf8) const;

  // Same ids, plus for each token its [begin, end) byte span in the text. Every character is
  // given to the token that holds its last byte; a token that holds only leading bytes of a
  // multi-byte character gets an empty span at that character's start. The spans are in order
  // and tile the text: their concatenation is the whole text. `offsets` may be null.
  std::vector<int32_t> encode_with_offsets(std::string_view utf8,
                                           std::vector<std::pair<size_t, size_t>>* offsets) const;

  // Concatenated bytes of the tokens (the inverse of encode). Throws neurolens::Error on an id
  // outside the vocabulary. The result is UTF-8 whenever the ids came from encode.
  std::string decode(std::span<const int32_t> ids) const;

  // Raw bytes of one token (may be partial UTF-8). Throws on an id outside the vocabulary.
  std::string token_bytes(int32_t id) const;

  // Max id + 1 (50257 for GPT-2).
  int vocab_size() const;

  // Id of the token whose raw bytes are exactly `token_bytes`, if any (e.g. " the" -> 262).
  std::optional<int32_t> token_id(std::string_view token_bytes) const;

  // 16 hex digits: FNV-1a 64 of the vocabulary (every id's bytes) and the merges in rank order.
  // Equal for equal content whatever the file names or JSON formatting; token files written by
  // `neurolens tokenize` record it in their sidecar.
  const std::string& fingerprint() const;
  // One line for logs and sidecars: "GPT-2 byte-level BPE, 50257 tokens, 50000 merges
  // (gpt2/vocab.json, gpt2/merges.txt)".
  const std::string& describe() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace neurolens::model
