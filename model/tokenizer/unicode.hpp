// Unicode support for the tokenizers: code point classes and a strict UTF-8 decoder.
// Owns: the classes \p{L} (Letter), \p{N} (Number) and \s (Whitespace = the Unicode White_Space
// property, as Python's `regex` module uses for str patterns) over all of Unicode, from a range
// table generated from the Unicode Character Database (model/tokenizer/unicode_tables.cpp, made by
// tests/reference/make_unicode_tables.py), and UTF-8 decoding that names the byte offset of
// invalid input (overlong forms, surrogates, > U+10FFFF, truncated or stray bytes).
// Example:
//   size_t len = 0;
//   char32_t cp = decode_utf8("é!", 0, &len);   // cp == U+00E9, len == 2
//   is_letter(cp) == true;  is_whitespace(U'\u3000') == true;  is_number(U'\u00BD') == true
// Also (for tokenizer.json): every code point's General_Category, simple case folding and
// lowercase mapping, and NFC (tables in unicode_props_tables.cpp, made by
// tests/reference/make_unicode_props.py from the same Unicode Character Database):
//   general_category(U'A') == GeneralCategory::Lu;  simple_case_fold(U'K') == U'k'
//   nfc(U"e\u0301") == U"\u00E9"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// Unicode General_Category values (Cn = unassigned).
enum class GeneralCategory : uint8_t {
  Lu,
  Ll,
  Lt,
  Lm,
  Lo,
  Mn,
  Mc,
  Me,
  Nd,
  Nl,
  No,
  Pc,
  Pd,
  Ps,
  Pe,
  Pi,
  Pf,
  Po,
  Sm,
  Sc,
  Sk,
  So,
  Zs,
  Zl,
  Zp,
  Cc,
  Cf,
  Cs,
  Co,
  Cn
};
inline constexpr int kGeneralCategoryCount = 30;

GeneralCategory general_category(char32_t cp);
// Simple case folding (CaseFolding.txt C + S); cp itself when it has none.
char32_t simple_case_fold(char32_t cp);
// Simple lowercase mapping (UnicodeData.txt); cp itself when it has none.
char32_t simple_lowercase(char32_t cp);
// Canonical_Combining_Class (0 for starters).
uint8_t combining_class(char32_t cp);
// Unicode Normalization Form C of a code point sequence. For each output code point,
// (*origin)[i] is the index in `in` of the input code point it starts from (the starter it
// composed onto, or the code point it decomposed from); `origin` may be null.
std::u32string nfc(std::u32string_view in, std::vector<uint32_t>* origin);

namespace detail {
struct GcRange {
  char32_t first;
  char32_t last;
  uint8_t gc;
};
struct CodePointPair {
  char32_t from;
  char32_t to;
};
struct CccRange {
  char32_t first;
  char32_t last;
  uint8_t ccc;
};
struct Decomposition {
  char32_t cp;
  char32_t first;
  char32_t second;  // 0 for a singleton decomposition
};
extern const size_t kGcRangeCount;
extern const GcRange kGcRanges[];
extern const size_t kCaseFoldCount;
extern const CodePointPair kCaseFold[];
extern const size_t kLowercaseCount;
extern const CodePointPair kLowercase[];
extern const size_t kCccRangeCount;
extern const CccRange kCccRanges[];
extern const size_t kDecompositionCount;
extern const Decomposition kDecompositions[];
extern const size_t kCompositionExclusionCount;
extern const char32_t kCompositionExclusions[];

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
