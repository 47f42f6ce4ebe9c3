// Fuzz target: loading a BPE tokenizer (model/tokenizer/tokenizer.cpp, Tokenizer::load) from a
// vocab.json and a merges.txt taken from the input (split at "\n@@\n"); a tokenizer that loads must
// encode and decode a few fixed strings without failing, and decode(encode(x)) == x.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(vocab) {
  using namespace neurolens;
  const auto parts = fuzz::split(fuzz::as_view(data, size), "\n@@\n", 2);
  const auto vocab = fuzz::scratch_dir() / "vocab.json";
  const auto merges = fuzz::scratch_dir() / "merges.txt";
  fuzz::write_file(vocab, parts[0]);
  fuzz::write_file(merges, parts[1]);
  try {
    const model::Tokenizer tok = model::Tokenizer::load(vocab, merges);
    static const char* const kTexts[] = {"", "Hello world", " not the cat's 123!",
                                         "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", "a\nb\tc  d"};
    for (const char* text : kTexts) {
      const std::vector<int32_t> ids = tok.encode(text);
      if (tok.decode(ids) != text) __builtin_trap();
    }
    for (int id = 0; id < tok.vocab_size() && id < 64; ++id) {
      const std::string bytes = tok.token_bytes(id);
      (void)tok.token_id(bytes);
    }
  } catch (const Error&) {
  }
  return 0;
}
