// Tokenizer — BPE tokenizers: text (UTF-8) <-> token ids, exactly as the model's own tokenizer.
// Two front ends: GPT-2's vocab.json + merges.txt (exactly OpenAI's encoder), and Hugging Face
// tokenizer.json (exactly HF tokenizers: Llama 2/3, Mistral, Qwen2/3, Gemma, Pythia, ...; the
// pipeline lives in tokenizer_json.hpp). For vocab.json + merges.txt it owns: the GPT-2
// pre-tokenizer (a hand-written scanner equal to the regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|
// ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ with Python `regex` semantics over full Unicode), the
// BPE merges (ranked by merges.txt line order) with a thread-safe piece cache, and decoding.
// "<|endoftext|>" in the text is ordinary text (like tiktoken's encode_ordinary); its id is
// available through token_id("<|endoftext|>"). See docs/tokenizer.md for the semantics and the
// documented choices. Example:
//   Tokenizer tok = Tokenizer::load("gpt2/vocab.json", "gpt2/merges.txt");
//   std::vector<int32_t> ids = tok.encode("Hello world");  // {15496, 995}
//   tok.decode(ids) == "Hello world";
//   Tokenizer llama = Tokenizer::load_for_model("Llama-3-8B");   // reads tokenizer.json
//   llama.encode_for_model("Hi");  // with the BOS the model's tokenizer prepends, if any
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
  // A Hugging Face tokenizer.json. Throws neurolens::Error naming the file and the JSON path of
  // anything malformed or unsupported (docs/tokenizer.md lists what is supported).
  static Tokenizer load_json(const std::filesystem::path& tokenizer_json);
  // The same from the file's text (`name` is used in error messages).
  static Tokenizer parse_json(std::string_view json_text, const std::string& name);
  // The tokenizer of a checkpoint directory: dir/tokenizer.json when present, else
  // dir/vocab.json + dir/merges.txt. With neither, the error names dir/vocab.json.
  static Tokenizer load_for_model(const std::filesystem::path& dir);
  // Whether dir holds tokenizer.json, or vocab.json and merges.txt.
  static bool has_tokenizer(const std::filesystem::path& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of the text, without the post-processor's special tokens (no BOS). Throws
  // neurolens::Error on invalid UTF-8 (with the byte offset). For tokenizer.json, added and
  // special tokens written in the text (e.g. "<|eot_id|>") are split out and mapped to their ids,
  // as HF does; for vocab.json + merges.txt, "<|endoftext|>" is ordinary text.
  // Thread-safe: any number of threads may encode with one Tokenizer at once.
  std::vector<int32_t> encode(std::string_view utf8) const;

  // encode() plus the tokens the model's tokenizer adds around a text (HF encode with
  // add_special_tokens=True: the post-processor's BOS, e.g. Llama 2 "<s>", Gemma "<bos>"; for
  // RobertaProcessing also the closing token). Equal to encode() when none are added.
  std::vector<int32_t> encode_for_model(std::string_view utf8) const;
  // Whether encode_for_model prepends a token (the BOS).
  bool adds_bos() const;
  // The beginning-of-sequence token: the one the post-processor prepends, else a special token
  // named <|begin_of_text|>, <bos>, <s> or <|startoftext|>; none for GPT-2.
  std::optional<int32_t> bos_id() const;
  // The end-of-text / end-of-document token: <|end_of_text|> (Llama 3), <|endoftext|> (GPT-2
  // 50256, Qwen, Pythia), <eos> (Gemma), </s> (Llama 2, Mistral), if the vocabulary has one.
  std::optional<int32_t> eos_id() const;
  // The special tokens, sorted: tokenizer.json's added tokens marked "special", the
  // post-processor's tokens, the BOS and the EOS (GPT-2: {50256}). Studies never take a sample at
  // them (docs/studies.md).
  std::vector<int32_t> special_ids() const;

  // Same ids, plus for each token its [begin, end) byte span in the text. Every character is
  // given to the token that holds its last byte; a token that holds only leading bytes of a
  // multi-byte character gets an empty span at that character's start. The spans are in order
  // and tile the text: their concatenation is the whole text. `offsets` may be null.
  std::vector<int32_t> encode_with_offsets(std::string_view utf8,
                                           std::vector<std::pair<size_t, size_t>>* offsets) const;

  // Concatenated bytes of the tokens (the inverse of encode). Throws neurolens::Error on an id
  // outside the vocabulary. The result is UTF-8 whenever the ids came from encode.
  std::string decode(std::span<const int32_t> ids) const;

  // The text bytes of one token (may be partial UTF-8): for byte-level vocabularies the raw
  // bytes, for SentencePiece-style ones "\u2581word" comes back as " word" and "<0x0A>" as
  // "\n"; added tokens give their content. Throws on an id outside the vocabulary.
  std::string token_bytes(int32_t id) const;

  // Max id + 1 (50257 for GPT-2).
  int vocab_size() const;

  // Id of the token whose raw bytes are exactly `token_bytes`, if any (e.g. " the" -> 262).
  // When several ids have the same bytes: a model token before an added token before a
  // byte-fallback token "<0xXX>", then the lowest id.
  std::optional<int32_t> token_id(std::string_view token_bytes) const;

  // 16 hex digits: FNV-1a 64 of the vocabulary (every id's bytes) and the merges in rank order
  // (for tokenizer.json also the model keys, added tokens, normalizer, pre-tokenizer,
  // post-processor, decoder and model options).
  // Equal for equal content whatever the file names or JSON formatting; token files written by
  // `neurolens tokenize` record it in their sidecar.
  const std::string& fingerprint() const;
  // One line for logs and sidecars: "GPT-2 byte-level BPE, 50257 tokens, 50000 merges
  // (gpt2/vocab.json, gpt2/merges.txt)"; for tokenizer.json the pipeline and whether it adds
  // a BOS.
  const std::string& describe() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace neurolens::model
