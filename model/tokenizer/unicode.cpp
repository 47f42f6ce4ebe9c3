// Code point classes (binary search in the generated range table, ASCII table fast path) and
// the strict UTF-8 decoder.
#include "model/tokenizer/unicode.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "io/error.hpp"

namespace neurolens::model {
namespace {

std::array<CharClass, 128> make_ascii_table() {
  std::array<CharClass, 128> t{};
  for (char32_t c = 0; c < 128; ++c) {
    const auto* end = detail::kClassRanges + detail::kClassRangeCount;
    const auto* it =
        std::upper_bound(detail::kClassRanges, end, c,
                         [](char32_t v, const detail::ClassRange& r) { return v < r.first; });
    t[c] = (it != detail::kClassRanges && (it - 1)->last >= c) ? (it - 1)->cls : CharClass::Other;
  }
  return t;
}

// Length of the valid UTF-8 sequence at text[pos] and its code point, or 0 when invalid.
inline size_t decode_at(std::string_view text, size_t pos, char32_t* cp) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  const size_t avail = text.size() - pos;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  auto cont = [&](size_t i) { return i < avail && (s[i] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return 0;
    *cp = (char32_t(b0 & 0x1F) << 6) | (s[1] & 0x3F);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const char32_t c = (char32_t(b0 & 0x0F) << 12) | (char32_t(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return 0;  // overlong or surrogate
    *cp = c;
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const char32_t c = (char32_t(b0 & 0x07) << 18) | (char32_t(s[1] & 0x3F) << 12) |
                       (char32_t(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    if (c < 0x10000 || c > 0x10FFFF) return 0;  // overlong or beyond Unicode
    *cp = c;
    return 4;
  }
  return 0;  // stray continuation byte, C0/C1 overlong lead, or F5..FF
}

}  // namespace

CharClass char_class(char32_t cp) {
  static const std::array<CharClass, 128> ascii = make_ascii_table();
  if (cp < 128) return ascii[cp];
  const auto* end = detail::kClassRanges + detail::kClassRangeCount;
  const auto* it =
      std::upper_bound(detail::kClassRanges, end, cp,
                       [](char32_t v, const detail::ClassRange& r) { return v < r.first; });
  if (it == detail::kClassRanges) return CharClass::Other;
  --it;
  return cp <= it->last ? it->cls : CharClass::Other;
}

const char* unicode_version() {
  return detail::kUnicodeVersion;
}

char32_t decode_utf8(std::string_view text, size_t pos, size_t* length) {
  char32_t cp = 0;
  const size_t n = pos < text.size() ? decode_at(text, pos, &cp) : 0;
  if (n == 0) {
    char byte[8] = "end";
    if (pos < text.size()) {
      std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[pos]));
    }
    throw Error("UTF-8",
                "invalid UTF-8 at byte offset " + std::to_string(pos) + " (byte " + byte + ")",
                "convert the text to UTF-8, e.g. iconv -f latin1 -t utf-8");
  }
  *length = n;
  return cp;
}

size_t find_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  char32_t cp = 0;
  while (pos < text.size()) {
    const size_t n = decode_at(text, pos, &cp);
    if (n == 0) return pos;
    pos += n;
  }
  return std::string_view::npos;
}

void append_utf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace neurolens::model
