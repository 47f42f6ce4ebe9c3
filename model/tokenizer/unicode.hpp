// Unicode support for the GPT-2 pre-tokenizer: code point classes and a strict UTF-8 decoder.
// Owns: the classes \p{L} (Letter), \p{N} (Number) and \s (Whitespace = the Unicode White_Space
// property, as Python's `regex` module uses for str patterns) over all of Unicode, from a range
// table generated from the Unicode Character Database (model/tokenizer/unicode_tables.cpp, made by
// tests/reference/make_unicode_tables.py), and UTF-8 decoding that names the byte offset of
// invalid input (overlong forms, surrogates, > U+10FFFF, truncated or stray bytes).
// Example:
//   size_t len = 0;
//   char32_t cp = decode_utf8("é!", 0, &len);   // cp == U+00E9, len == 2
//   is_letter(cp) == true;  is_whitespace(U'\u3000') == true;  is_number(U'\u00BD') == true
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace neurolens::model {

enum class CharClass : uint8_t { Other = 0, Letter = 1, Number = 2, Whitespace = 3 };

CharClass char_class(char32_t cp);
inline bool is_letter(char32_t cp) {
  return char_class(cp) == CharClass::Letter;
}
inline bool is_number(char32_t cp) {
  return char_class(cp) == CharClass::Number;
}
inline bool is_whitespace(char32_t cp) {
  return char_class(cp) == CharClass::Whitespace;
}

// Version of the Unicode Character Database the tables were generated from, e.g. "15.0.0".
const char* unicode_version();

// Decodes the code point that starts at byte `pos` of `text` and stores its byte length in
// *length. Throws neurolens::Error("UTF-8", "invalid UTF-8 at byte offset N ...") on invalid input.
char32_t decode_utf8(std::string_view text, size_t pos, size_t* length);

// Byte offset of the first invalid UTF-8 sequence in `text`, or std::string_view::npos.
size_t find_invalid_utf8(std::string_view text);

// Appends the UTF-8 encoding of `cp` (must be a Unicode scalar value) to *out.
void append_utf8(char32_t cp, std::string* out);

namespace detail {
struct ClassRange {
  char32_t first;
  char32_t last;
  CharClass cls;
};
extern const char kUnicodeVersion[];
extern const size_t kClassRangeCount;
extern const ClassRange kClassRanges[];
}  // namespace detail

}  // namespace neurolens::model
