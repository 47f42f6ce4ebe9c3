// Code point classes (generated from the UCD) and the strict UTF-8 decoder.
#include <gtest/gtest.h>

#include <string>

#include "io/error.hpp"
#include "model/tokenizer/unicode.hpp"

namespace neurolens::model {
namespace {

TEST(Unicode, Letters) {
  for (char32_t c : {U'a', U'Z', U'\u00e9', U'\u00df', U'\u0416', U'\u4e2d', U'\u3042', U'\uac00',
                     U'\u05d0', U'\u0627', U'\u02b0', U'\U00020BB7', U'\u01c5'}) {
    EXPECT_TRUE(is_letter(c)) << std::hex << static_cast<unsigned>(c);
    EXPECT_FALSE(is_number(c));
    EXPECT_FALSE(is_whitespace(c));
  }
}

TEST(Unicode, Numbers) {
  for (char32_t c : {U'0', U'9', U'\u0663', U'\u00bd', U'\u00b2', U'\u2160', U'\u2460', U'\uff11',
                     U'\u0967', U'\U0001D7CE'}) {
    EXPECT_TRUE(is_number(c)) << std::hex << static_cast<unsigned>(c);
    EXPECT_FALSE(is_letter(c));
  }
}

TEST(Unicode, WhitespaceIsTheWhiteSpaceProperty) {
  // The full White_Space list of PropList.txt (Python `regex` \s for str).
  const char32_t white[] = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x20,   0x85,   0xA0,   0x1680,
                            0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
                            0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  int count = 0;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (is_whitespace(c)) ++count;
  }
  EXPECT_EQ(count, static_cast<int>(std::size(white)));
  for (char32_t c : white) EXPECT_TRUE(is_whitespace(c)) << std::hex << static_cast<unsigned>(c);
  // Not White_Space: BOM / ZWNBSP (JS \s has it), zero-width space, information separators
  // (Python str.isspace() has them), Mongolian vowel separator.
  for (char32_t c : {U'\ufeff', U'\u200b', char32_t(0x1c), char32_t(0x1f), U'\u180e'}) {
    EXPECT_EQ(char_class(c), CharClass::Other) << std::hex << static_cast<unsigned>(c);
  }
}

TEST(Unicode, OtherClass) {
  for (char32_t c : {U'!', U'\'', U'_', U'\u0301', U'\u0378', U'\U0001F600', U'\u2764', U'\u200d',
                     char32_t(0), char32_t(0x7f), U'\U0010FFFF', U'\uE000'}) {
    EXPECT_EQ(char_class(c), CharClass::Other) << std::hex << static_cast<unsigned>(c);
  }
  EXPECT_STREQ(unicode_version(), "15.0.0");
}

TEST(Unicode, TableIsSortedAndDisjoint) {
  ASSERT_GT(detail::kClassRangeCount, 100u);
  for (size_t i = 0; i < detail::kClassRangeCount; ++i) {
    const auto& r = detail::kClassRanges[i];
    EXPECT_LE(r.first, r.last);
    EXPECT_NE(r.cls, CharClass::Other);
    if (i > 0) {
      EXPECT_GT(r.first, detail::kClassRanges[i - 1].last) << "range " << i;
    }
  }
}

TEST(Unicode, DecodeValidBoundaries) {
  for (char32_t cp : {char32_t(0), char32_t(0x7F), char32_t(0x80), char32_t(0x7FF), char32_t(0x800),
                      char32_t(0xD7FF), char32_t(0xE000), char32_t(0xFFFF), char32_t(0x10000),
                      char32_t(0x10FFFF)}) {
    std::string s;
    append_utf8(cp, &s);
    size_t len = 0;
    EXPECT_EQ(decode_utf8(s, 0, &len), cp);
    EXPECT_EQ(len, s.size());
    EXPECT_EQ(find_invalid_utf8(s), std::string_view::npos);
  }
}

TEST(Unicode, EncodeDecodeRoundTripAllScalarValues) {
  std::string s;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    s.clear();
    append_utf8(cp, &s);
    size_t len = 0;
    ASSERT_EQ(decode_utf8(s, 0, &len), cp);
    ASSERT_EQ(len, s.size());
  }
}

TEST(Unicode, InvalidUtf8NamesTheByteOffset) {
  struct Case {
    std::string text;
    size_t offset;
  };
  const Case cases[] = {
      {"abc\xff", 3},               // never valid byte
      {"\x80xyz", 0},               // stray continuation
      {"ok \xC0\x80", 3},           // overlong NUL
      {"\xE0\x80\xAF", 0},          // overlong 3-byte
      {"x\xED\xA0\x80", 1},         // UTF-16 surrogate
      {"ab\xE2\x82", 2},            // truncated at end
      {"ab\xE2\x82z", 2},           // truncated in the middle
      {"\xF4\x90\x80\x80", 0},      // beyond U+10FFFF
      {"\xF0\x9F\x98\x80\xC3", 4},  // valid emoji, then a truncated 2-byte
      {"caf\xC3\xA9 \xF8\x88", 6},  // 5-byte form
  };
  for (const auto& c : cases) {
    EXPECT_EQ(find_invalid_utf8(c.text), c.offset) << c.text;
    size_t pos = 0;
    try {
      while (pos < c.text.size()) {
        size_t len = 0;
        decode_utf8(c.text, pos, &len);
        pos += len;
      }
      ADD_FAILURE() << "no error for case with offset " << c.offset;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("byte offset " + std::to_string(c.offset)),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace neurolens::model
