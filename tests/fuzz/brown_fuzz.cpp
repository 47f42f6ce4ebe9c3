// Fuzz target: the Brown word/TAG parser (io/brown.cpp, parse_brown) on arbitrary bytes, plus the
// line and tag classifiers. Every word span must lie inside the converted text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "io/brown.hpp"
#include "io/error.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(brown) {
  using namespace neurolens;
  const std::string_view bytes = fuzz::as_view(data, size);
  try {
    const io::BrownText t = io::parse_brown(bytes, "fuzz/ca01");
    for (const io::WordTag& w : t.words) {
      if (w.begin > w.end || w.end > t.text.size()) __builtin_trap();
      (void)io::is_noun_tag(w.tag);
      (void)io::is_verb_tag(w.tag);
      (void)io::is_proper_noun_tag(w.tag);
    }
  } catch (const Error&) {
  }
  (void)io::is_brown_line(bytes);
  (void)io::is_brown_file_name(bytes);
  return 0;
}
