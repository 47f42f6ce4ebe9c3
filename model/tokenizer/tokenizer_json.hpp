// tokenizer_json — Hugging Face `tokenizer.json` read into an encoding pipeline that gives the
// ids HF tokenizers' `encode(text, add_special_tokens=False)` gives (internal to
// model/tokenizer/; the public face is Tokenizer::load_json).
// Owns: the JSON side (every unsupported or malformed field is one Error naming the file and the
// JSON path), the added-token splitter (leftmost-longest, single_word / lstrip / rstrip /
// normalized), the normalizers (NFC, Lowercase, Strip, Prepend, Replace, Sequence), the
// pre-tokenizers (ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit,
// Punctuation, Sequence), the BPE model (byte_fallback, fuse_unk, unk_token, ignore_merges,
// both merges layouts) and the post-processor's special tokens (TemplateProcessing,
// RobertaProcessing, BertProcessing, ByteLevel, Sequence). See docs/tokenizer.md.
// Example:
//   detail::JsonTokenizerParts t = detail::parse_tokenizer_json(text, "tokenizer.json");
//   std::vector<int32_t> ids;
//   detail::encode_json(*t.pipeline, "Hello world", &ids, nullptr);
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neurolens::model::detail {

class JsonPipeline;

struct JsonTokenizerParts {
  std::shared_ptr<const JsonPipeline> pipeline;
  std::vector<std::string> id_to_bytes;  // the text bytes of each id (decoded)
  std::vector<bool> id_present;
  std::vector<int32_t> lookup_order;  // ids in the order token_id() prefers them
  std::vector<int32_t> prefix;        // post-processor tokens before the sequence
  std::vector<int32_t> suffix;        // and after it
  std::optional<int32_t> bos;
  std::optional<int32_t> eos;
  std::vector<int32_t> special;  // added tokens marked "special", sorted
  std::string fingerprint;
  std::string description;
};

// Throws neurolens::Error "<name>: <json path>: <problem> (fix: ...)" on anything malformed or
// unsupported.
JsonTokenizerParts parse_tokenizer_json(std::string_view text, const std::string& name);

// Ids of the text (no post-processor tokens). With `offsets`, each id's [begin, end) byte span
// in the text: the spans are in order and tile the text. Throws on invalid UTF-8.
void encode_json(const JsonPipeline& pipeline, std::string_view text, std::vector<int32_t>* ids,
                 std::vector<std::pair<size_t, size_t>>* offsets);

}  // namespace neurolens::model::detail
