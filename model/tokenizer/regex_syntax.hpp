// Regex syntax — the parsed form of a tokenizer.json pattern (internal to
// model/tokenizer/regex.cpp, which compiles it to its backtracking program).
// Owns: the recursive-descent parser of the supported subset (model/tokenizer/regex.hpp lists
// it; anything else is an Error naming the construct and its offset), the syntax tree (Node)
// and the character classes (CharSet: ranges, General_Category masks, \s \w \h, negation,
// simple case folding, an ASCII bitmap), whether a node can match empty.
// Example:
//   std::vector<CharSet> sets;
//   std::unique_ptr<Node> root = parse_regex(R"(\p{N}{1,3}|\s+(?!\S))", &sets);
//   nullable(*root) == false;   // sets[i] are the classes Node::set indexes
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "model/tokenizer/unicode.hpp"

namespace neurolens::model::detail {

// One member of a character class.
struct ClassItem {
  enum class Kind : uint8_t { Range, Categories, WhiteSpace, Word, HexDigit, Any } kind;
  bool negated = false;
  char32_t first = 0;
  char32_t last = 0;
  uint32_t gc_mask = 0;
};

struct CharSet {
  std::vector<ClassItem> items;
  bool negated = false;
  bool fold = false;
  std::array<uint64_t, 2> ascii{};  // final membership of code points 0..127

  static bool item_has(const ClassItem& it, char32_t c) {
    bool r = false;
    switch (it.kind) {
      case ClassItem::Kind::Range:
        r = c >= it.first && c <= it.last;
        break;
      case ClassItem::Kind::Categories:
        r = (it.gc_mask >> static_cast<int>(general_category(c))) & 1u;
        break;
      case ClassItem::Kind::WhiteSpace:
        r = is_whitespace(c);
        break;
      case ClassItem::Kind::Word: {
        const auto g = general_category(c);
        r = g <= GeneralCategory::Me || g == GeneralCategory::Nd || g == GeneralCategory::Pc;
        break;
      }
      case ClassItem::Kind::HexDigit:
        r = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        break;
      case ClassItem::Kind::Any:
        r = true;
        break;
    }
    return r != it.negated;
  }
  bool raw_has(char32_t c) const {
    for (const ClassItem& it : items) {
      if (item_has(it, c)) return true;
    }
    return false;
  }
  bool slow_has(char32_t c) const {
    bool r = raw_has(c);
    if (!r && fold) {
      const char32_t f = simple_case_fold(c);
      r = (f != c && raw_has(f));
      if (!r && c < 128 && ((c | 32) >= 'a' && (c | 32) <= 'z')) r = raw_has(c ^ 32);
    }
    return r != negated;
  }
  void finish() {
    for (char32_t c = 0; c < 128; ++c) {
      if (slow_has(c)) ascii[c >> 6] |= uint64_t{1} << (c & 63);
    }
  }
  bool has(char32_t c) const {
    if (c < 128) return (ascii[c >> 6] >> (c & 63)) & 1u;
    return slow_has(c);
  }
};

enum class NodeKind : uint8_t {
  Empty,
  Char,
  Set,
  Any,  // . (not \n)
  Concat,
  Alt,
  Repeat,
  LookAhead,
  Assert
};
enum class AssertKind : uint8_t {
  LineBegin,
  LineEnd,
  TextBegin,
  TextEnd,
  TextEndNewline,
  WordBoundary,
  NotWordBoundary
};

struct Node {
  NodeKind kind = NodeKind::Empty;
  char32_t c = 0;
  bool fold = false;
  int set = -1;
  std::vector<std::unique_ptr<Node>> kids;
  int min = 0;
  int max = -1;  // -1: unbounded
  bool greedy = true;
  bool negated = false;  // lookahead
  AssertKind assert_kind = AssertKind::LineBegin;
};

// Whether n can match the empty string (lookaheads and assertions consume nothing).
bool nullable(const Node& n);

// The syntax tree of `pattern` (valid UTF-8); its character classes are appended to *sets.
// Throws Error("regex", ...) for a construct outside the supported subset.
std::unique_ptr<Node> parse_regex(std::string_view pattern, std::vector<CharSet>* sets);

}  // namespace neurolens::model::detail
