// Regex: recursive-descent parser to an AST, compiled to a backtracking VM program.
#include "model/tokenizer/regex.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

#include "io/error.hpp"
#include "model/tokenizer/unicode.hpp"

namespace neurolens::model {
namespace {

// Backtracking steps per search: 10^7 (Oniguruma's retry limit) plus 100 per byte of text.
constexpr size_t kMaxSteps = 10'000'000;
constexpr size_t kMaxProgram = 200'000;  // instructions after expanding counted repeats
constexpr int kMaxRepeat = 1000;

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

bool nullable(const Node& n) {
  switch (n.kind) {
    case NodeKind::Empty:
    case NodeKind::LookAhead:
    case NodeKind::Assert:
      return true;
    case NodeKind::Char:
    case NodeKind::Set:
    case NodeKind::Any:
      return false;
    case NodeKind::Concat:
      for (const auto& k : n.kids) {
        if (!nullable(*k)) return false;
      }
      return true;
    case NodeKind::Alt:
      for (const auto& k : n.kids) {
        if (nullable(*k)) return true;
      }
      return false;
    case NodeKind::Repeat:
      return n.min == 0 || nullable(*n.kids[0]);
  }
  return true;
}

uint32_t category_mask(std::string_view name) {
  static constexpr const char* kShort[] = {
      "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
      "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"};
  static constexpr const char* kLong[] = {
      "Uppercase_Letter",    "Lowercase_Letter",  "Titlecase_Letter",
      "Modifier_Letter",     "Other_Letter",      "Nonspacing_Mark",
      "Spacing_Mark",        "Enclosing_Mark",    "Decimal_Number",
      "Letter_Number",       "Other_Number",      "Connector_Punctuation",
      "Dash_Punctuation",    "Open_Punctuation",  "Close_Punctuation",
      "Initial_Punctuation", "Final_Punctuation", "Other_Punctuation",
      "Math_Symbol",         "Currency_Symbol",   "Modifier_Symbol",
      "Other_Symbol",        "Space_Separator",   "Line_Separator",
      "Paragraph_Separator", "Control",           "Format",
      "Surrogate",           "Private_Use",       "Unassigned"};
  for (int i = 0; i < kGeneralCategoryCount; ++i) {
    if (name == kShort[i] || name == kLong[i]) return 1u << i;
  }
  auto range = [](GeneralCategory a, GeneralCategory b) {
    uint32_t m = 0;
    for (int i = static_cast<int>(a); i <= static_cast<int>(b); ++i) m |= 1u << i;
    return m;
  };
  using G = GeneralCategory;
  if (name == "L" || name == "Letter") return range(G::Lu, G::Lo);
  if (name == "LC" || name == "L&" || name == "Cased_Letter") return range(G::Lu, G::Lt);
  if (name == "M" || name == "Mark" || name == "Combining_Mark") return range(G::Mn, G::Me);
  if (name == "N" || name == "Number") return range(G::Nd, G::No);
  if (name == "P" || name == "Punctuation") return range(G::Pc, G::Po);
  if (name == "S" || name == "Symbol") return range(G::Sm, G::So);
  if (name == "Z" || name == "Separator") return range(G::Zs, G::Zp);
  if (name == "C" || name == "Other") return range(G::Cc, G::Cn);
  if (name == "Any") return range(G::Lu, G::Cn);
  return 0;
}

class Parser {
 public:
  Parser(std::string_view p, std::vector<CharSet>* sets) : p_(p), sets_(sets) {}

  std::unique_ptr<Node> parse() {
    auto n = parse_alt(false);
    if (pos_ < p_.size()) fail("unbalanced ')'", pos_);
    return n;
  }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw Error("regex", what + " at offset " + std::to_string(at) + " of the pattern",
                "use a pattern of the supported subset (see docs/tokenizer.md)");
  }
  bool eof() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }
  char32_t next_cp() {
    size_t len = 0;
    const char32_t c = decode_utf8(p_, pos_, &len);
    pos_ += len;
    return c;
  }

  std::unique_ptr<Node> parse_alt(bool in_group) {
    std::vector<std::unique_ptr<Node>> alts;
    alts.push_back(parse_concat());
    while (!eof() && peek() == '|') {
      ++pos_;
      alts.push_back(parse_concat());
    }
    if (in_group && (eof() || peek() != ')')) fail("missing ')'", pos_);
    if (alts.size() == 1) return std::move(alts[0]);
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::Alt;
    n->kids = std::move(alts);
    return n;
  }

  std::unique_ptr<Node> parse_concat() {
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::Concat;
    while (!eof() && peek() != '|' && peek() != ')') {
      auto atom = parse_atom();
      if (!atom) continue;  // a flag group like (?i)
      atom = parse_quantifier(std::move(atom));
      n->kids.push_back(std::move(atom));
    }
    // A bare (?i) applies to the end of the enclosing group, across '|'.
    return n;
  }

  std::unique_ptr<Node> parse_quantifier(std::unique_ptr<Node> atom) {
    int stacked = 0;
    while (!eof()) {
      const size_t at = pos_;
      int min = 0;
      int max = -1;
      const char c = peek();
      if (c == '?') {
        min = 0;
        max = 1;
        ++pos_;
      } else if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        min = 1;
        ++pos_;
      } else if (c == '{') {
        size_t q = pos_ + 1;
        auto number = [&](int* v) {
          const size_t s = q;
          long long x = 0;
          while (q < p_.size() && p_[q] >= '0' && p_[q] <= '9') {
            x = x * 10 + (p_[q] - '0');
            if (x > 100000) x = 100000;
            ++q;
          }
          *v = static_cast<int>(x);
          return q > s;
        };
        int a = 0;
        int b = -1;
        const bool has_a = number(&a);
        bool ok = true;
        if (q < p_.size() && p_[q] == ',') {
          ++q;
          int bb = 0;
          if (number(&bb)) b = bb;
          if (!has_a) a = 0;
          ok = has_a || b >= 0;
        } else {
          b = a;
          ok = has_a;
        }
        if (!ok || q >= p_.size() || p_[q] != '}') return atom;  // a literal '{' (Oniguruma)
        if ((b >= 0 && a > b)) fail("bad repeat range", at);
        if (a > kMaxRepeat || b > kMaxRepeat) fail("repeat count above 1000", at);
        min = a;
        max = b;
        pos_ = q + 1;
      } else {
        return atom;
      }
      bool greedy = true;
      if (!eof() && peek() == '?') {
        greedy = false;
        ++pos_;
      } else if (!eof() && peek() == '+' && c != '{') {
        fail("possessive quantifier is not supported", pos_);
      }
      if (atom->kind == NodeKind::Assert || atom->kind == NodeKind::LookAhead) {
        fail("quantifier after an assertion is not supported", at);
      }
      if (++stacked > 3) fail("more than 3 stacked quantifiers", at);
      if (max < 0 && nullable(*atom)) {
        fail("unbounded repeat of an expression that can match empty is not supported", at);
      }
      auto r = std::make_unique<Node>();
      r->kind = NodeKind::Repeat;
      r->min = min;
      r->max = max;
      r->greedy = greedy;
      r->kids.push_back(std::move(atom));
      atom = std::move(r);
    }
    return atom;
  }

  std::unique_ptr<Node> make_char(char32_t c) {
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::Char;
    n->c = c;
    n->fold = fold_;
    return n;
  }
  std::unique_ptr<Node> make_set(CharSet s) {
    s.fold = fold_;
    s.finish();
    sets_->push_back(std::move(s));
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::Set;
    n->set = static_cast<int>(sets_->size() - 1);
    return n;
  }
  std::unique_ptr<Node> make_assert(AssertKind k) {
    auto n = std::make_unique<Node>();
    n->kind = NodeKind::Assert;
    n->assert_kind = k;
    return n;
  }

  // Parses the group after '(' ; returns null for a bare flag group "(?i)".
  std::unique_ptr<Node> parse_group(size_t open) {
    if (++depth_ > 100) fail("groups nested more than 100 deep", open);
    const bool saved_fold = fold_;
    std::unique_ptr<Node> inner;
    int look = 0;  // 1 positive, 2 negative
    if (!eof() && peek() == '?') {
      ++pos_;
      if (eof()) fail("bad group", open);
      const char c = peek();
      if (c == ':') {
        ++pos_;
      } else if (c == '=') {
        ++pos_;
        look = 1;
      } else if (c == '!') {
        ++pos_;
        look = 2;
      } else if (c == '<' && pos_ + 1 < p_.size() && (p_[pos_ + 1] == '=' || p_[pos_ + 1] == '!')) {
        fail("lookbehind is not supported", open);
      } else if (c == '<' || c == '\'') {
        const char close = c == '<' ? '>' : '\'';
        const size_t e = p_.find(close, pos_ + 1);
        if (e == std::string_view::npos) fail("bad group name", open);
        pos_ = e + 1;
      } else if (c == '>') {
        fail("atomic group is not supported", open);
      } else if (c == 'i' || c == '-' || c == 'm' || c == 'x') {
        bool on = true;
        bool fold = fold_;
        while (!eof() && peek() != ':' && peek() != ')') {
          const char f = peek();
          if (f == '-') {
            on = false;
          } else if (f == 'i') {
            fold = on;
          } else {
            fail(std::string("flag '") + f + "' is not supported", pos_);
          }
          ++pos_;
        }
        if (eof()) fail("missing ')'", open);
        if (peek() == ')') {  // (?i): to the end of the enclosing group
          ++pos_;
          fold_ = fold;
          --depth_;
          return nullptr;
        }
        ++pos_;
        fold_ = fold;
      } else {
        fail(std::string("group (?") + c + " is not supported", open);
      }
    }
    inner = parse_alt(true);
    ++pos_;  // ')'
    fold_ = saved_fold;
    --depth_;
    if (look != 0) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::LookAhead;
      n->negated = look == 2;
      n->kids.push_back(std::move(inner));
      return n;
    }
    return inner;
  }

  // An escape after '\' (pos_ at the letter). In a class, adds to *set and returns null; outside
  // it returns the node.
  struct Escaped {
    bool is_char = false;
    char32_t c = 0;
    ClassItem item{};
  };
  Escaped parse_escape(size_t at) {
    if (eof()) fail("trailing backslash", at);
    const char32_t e = next_cp();
    Escaped r;
    auto ch = [&](char32_t c) {
      r.is_char = true;
      r.c = c;
      return r;
    };
    auto item = [&](ClassItem::Kind k, bool neg) {
      r.item.kind = k;
      r.item.negated = neg;
      return r;
    };
    auto hex = [&](size_t max_digits, bool braced) {
      char32_t v = 0;
      size_t n = 0;
      while (!eof() && n < max_digits && std::isxdigit(static_cast<unsigned char>(peek()))) {
        const char d = peek();
        v = v * 16 + static_cast<char32_t>(d <= '9' ? d - '0' : (d | 32) - 'a' + 10);
        ++pos_;
        ++n;
        if (v > 0x10FFFF) fail("code point above U+10FFFF", at);
      }
      if (n == 0) fail("bad hex escape", at);
      if (braced) {
        if (eof() || peek() != '}') fail("bad \\x{...} escape", at);
        ++pos_;
      }
      if (v >= 0xD800 && v <= 0xDFFF) fail("surrogate code point", at);
      return v;
    };
    switch (e) {
      case 'n':
        return ch('\n');
      case 'r':
        return ch('\r');
      case 't':
        return ch('\t');
      case 'f':
        return ch('\f');
      case 'v':
        return ch('\v');
      case 'a':
        return ch('\a');
      case 'e':
        return ch(0x1B);
      case '0':
        return ch(0);
      case 'x':
        if (!eof() && peek() == '{') {
          ++pos_;
          return ch(hex(8, true));
        }
        return ch(hex(2, false));
      case 'u':
        return ch(hex(4, false));
      case 's':
      case 'S':
        return item(ClassItem::Kind::WhiteSpace, e == 'S');
      case 'w':
      case 'W':
        return item(ClassItem::Kind::Word, e == 'W');
      case 'h':
      case 'H':
        return item(ClassItem::Kind::HexDigit, e == 'H');
      case 'd':
      case 'D':
        r.item.kind = ClassItem::Kind::Categories;
        r.item.gc_mask = 1u << static_cast<int>(GeneralCategory::Nd);
        r.item.negated = e == 'D';
        return r;
      case 'p':
      case 'P': {
        if (eof() || peek() != '{') fail("\\p needs {name}", at);
        const size_t close = p_.find('}', pos_);
        if (close == std::string_view::npos) fail("missing '}'", at);
        std::string_view name = p_.substr(pos_ + 1, close - pos_ - 1);
        pos_ = close + 1;
        bool neg = e == 'P';
        if (!name.empty() && name[0] == '^') {
          neg = !neg;
          name.remove_prefix(1);
        }
        if (name == "White_Space" || name == "Space" || name == "space") {
          return item(ClassItem::Kind::WhiteSpace, neg);
        }
        const uint32_t mask = category_mask(name);
        if (mask == 0) {
          fail("Unicode property \\p{" + std::string(name) +
                   "} is not supported (only General_Category names)",
               at);
        }
        r.item.kind = ClassItem::Kind::Categories;
        r.item.gc_mask = mask;
        r.item.negated = neg;
        return r;
      }
      default:
        break;
    }
    if (e < 128 && std::isalnum(static_cast<int>(e))) {
      fail(std::string("escape \\") + static_cast<char>(e) + " is not supported", at);
    }
    return ch(e);  // escaped punctuation or any other character stands for itself
  }

  std::unique_ptr<Node> parse_class(size_t open) {
    CharSet set;
    if (!eof() && peek() == '^') {
      set.negated = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (eof()) fail("missing ']'", open);
      const size_t at = pos_;
      const char c = peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (c == '[') {
        fail(p_.substr(pos_, 2) == "[:" ? "POSIX bracket class is not supported"
                                        : "nested character class is not supported",
             at);
      }
      if (c == '&' && pos_ + 1 < p_.size() && p_[pos_ + 1] == '&') {
        fail("class intersection && is not supported", at);
      }
      char32_t lo = 0;
      if (c == '\\') {
        ++pos_;
        const Escaped e = parse_escape(at);
        if (!e.is_char) {
          set.items.push_back(e.item);
          continue;
        }
        lo = e.c;
      } else {
        lo = next_cp();
      }
      // A range lo-hi (a '-' before ']' is literal).
      if (pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        char32_t hi = 0;
        const size_t hat = pos_;
        if (peek() == '\\') {
          ++pos_;
          const Escaped e = parse_escape(hat);
          if (!e.is_char) fail("range ending in a class escape", hat);
          hi = e.c;
        } else if (peek() == '[') {
          fail("nested character class is not supported", hat);
        } else {
          hi = next_cp();
        }
        if (hi < lo) fail("empty range in a character class", at);
        set.items.push_back({ClassItem::Kind::Range, false, lo, hi, 0});
      } else {
        set.items.push_back({ClassItem::Kind::Range, false, lo, lo, 0});
      }
    }
    return make_set(std::move(set));
  }

  std::unique_ptr<Node> parse_atom() {
    const size_t at = pos_;
    const char c = peek();
    switch (c) {
      case '(':
        ++pos_;
        return parse_group(at);
      case '[':
        ++pos_;
        return parse_class(at);
      case '.': {
        ++pos_;
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::Any;
        return n;
      }
      case '^':
        ++pos_;
        return make_assert(AssertKind::LineBegin);
      case '$':
        ++pos_;
        return make_assert(AssertKind::LineEnd);
      case '*':
      case '+':
      case '?':
        fail("nothing to repeat", at);
      case '\\': {
        ++pos_;
        if (!eof()) {
          const char e = peek();
          if (e == 'A' || e == 'z' || e == 'Z' || e == 'b' || e == 'B' || e == 'G') {
            ++pos_;
            if (e == 'A') return make_assert(AssertKind::TextBegin);
            if (e == 'z') return make_assert(AssertKind::TextEnd);
            if (e == 'Z') return make_assert(AssertKind::TextEndNewline);
            if (e == 'b') return make_assert(AssertKind::WordBoundary);
            if (e == 'B') return make_assert(AssertKind::NotWordBoundary);
            fail("\\G is not supported", at);
          }
          if (e >= '1' && e <= '9') fail("backreference is not supported", at);
          if (e == 'k' || e == 'g') fail("backreference or subroutine is not supported", at);
          if (e == 'K' || e == 'R' || e == 'X' || e == 'N' || e == 'O') {
            fail(std::string("escape \\") + e + " is not supported", at);
          }
        }
        const Escaped esc = parse_escape(at);
        if (esc.is_char) return make_char(esc.c);
        CharSet set;
        set.items.push_back(esc.item);
        return make_set(std::move(set));
      }
      default:
        return make_char(next_cp());
    }
  }

  std::string_view p_;
  size_t pos_ = 0;
  bool fold_ = false;
  int depth_ = 0;
  std::vector<CharSet>* sets_;
};

enum class Op : uint8_t {
  Char,
  CharFold,
  Set,
  Any,
  Split,  // try x, then y
  Jmp,
  Look,  // sub-program at x, continue at y; negated flag in c
  Assert,
  Match
};

struct Inst {
  Op op;
  uint8_t flag = 0;
  int32_t x = 0;
  int32_t y = 0;
  char32_t c = 0;
  int32_t guard = -1;  // Split: the first characters x can start with (index in guards), or -1
};

void first_chars(const Node& n, const std::vector<CharSet>& sets, std::array<bool, 128>* ascii,
                 bool* non_ascii);

}  // namespace

struct Regex::Program {
  std::string pattern;
  std::vector<CharSet> sets;
  std::vector<Inst> code;
  // Split guards: the characters the preferred branch can start with (it cannot match empty),
  // so a Split whose branch cannot match here goes straight to the alternative.
  std::vector<std::array<uint64_t, 2>> guard_ascii;
  std::vector<uint8_t> guard_non_ascii;
  // First-character filter: whether a match can start with each ASCII byte / any non-ASCII.
  std::array<bool, 128> can_start{};
  bool can_start_non_ascii = true;
  bool can_match_empty = true;

  int32_t make_guard(const Node& branch) {
    if (nullable(branch)) return -1;
    std::array<bool, 128> ascii{};
    bool non_ascii = false;
    first_chars(branch, sets, &ascii, &non_ascii);
    std::array<uint64_t, 2> bits{};
    for (int c = 0; c < 128; ++c) {
      if (ascii[c]) bits[c >> 6] |= uint64_t{1} << (c & 63);
    }
    guard_ascii.push_back(bits);
    guard_non_ascii.push_back(non_ascii ? 1 : 0);
    return static_cast<int32_t>(guard_ascii.size() - 1);
  }

  void emit_node(const Node& n) {
    if (code.size() > kMaxProgram) {
      throw Error("regex", "the pattern is too large after expanding counted repeats",
                  "use smaller {n,m} counts");
    }
    switch (n.kind) {
      case NodeKind::Empty:
        break;
      case NodeKind::Char:
        code.push_back(
            {n.fold ? Op::CharFold : Op::Char, 0, 0, 0, n.fold ? simple_case_fold(n.c) : n.c});
        break;
      case NodeKind::Set:
        code.push_back({Op::Set, 0, n.set, 0, 0});
        break;
      case NodeKind::Any:
        code.push_back({Op::Any, 0, 0, 0, 0});
        break;
      case NodeKind::Assert:
        code.push_back({Op::Assert, static_cast<uint8_t>(n.assert_kind), 0, 0, 0});
        break;
      case NodeKind::Concat:
        for (const auto& k : n.kids) emit_node(*k);
        break;
      case NodeKind::Alt: {
        std::vector<size_t> jumps;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            const size_t split = code.size();
            code.push_back({Op::Split, 0, static_cast<int32_t>(split + 1), 0, 0});
            code[split].guard = make_guard(*n.kids[i]);
            emit_node(*n.kids[i]);
            jumps.push_back(code.size());
            code.push_back({Op::Jmp, 0, 0, 0, 0});
            code[split].y = static_cast<int32_t>(code.size());
          } else {
            emit_node(*n.kids[i]);
          }
        }
        for (const size_t j : jumps) code[j].x = static_cast<int32_t>(code.size());
        break;
      }
      case NodeKind::LookAhead: {
        const size_t look = code.size();
        code.push_back({Op::Look, static_cast<uint8_t>(n.negated ? 1 : 0),
                        static_cast<int32_t>(look + 1), 0, 0});
        emit_node(*n.kids[0]);
        code.push_back({Op::Match, 0, 0, 0, 0});
        code[look].y = static_cast<int32_t>(code.size());
        break;
      }
      case NodeKind::Repeat: {
        const Node& body = *n.kids[0];
        for (int i = 0; i < n.min; ++i) emit_node(body);
        if (n.max < 0) {
          const size_t split = code.size();
          code.push_back({Op::Split, 0, 0, 0, 0});
          emit_node(body);
          code.push_back({Op::Jmp, 0, static_cast<int32_t>(split), 0, 0});
          const auto body_pc = static_cast<int32_t>(split + 1);
          const auto out = static_cast<int32_t>(code.size());
          code[split].x = n.greedy ? body_pc : out;
          code[split].y = n.greedy ? out : body_pc;
          if (n.greedy) code[split].guard = make_guard(body);
        } else {
          std::vector<size_t> splits;
          for (int i = n.min; i < n.max; ++i) {
            splits.push_back(code.size());
            code.push_back({Op::Split, 0, 0, 0, 0});
            emit_node(body);
          }
          const auto out = static_cast<int32_t>(code.size());
          const int32_t guard = n.greedy && !splits.empty() ? make_guard(body) : -1;
          for (const size_t s : splits) {
            const auto body_pc = static_cast<int32_t>(s + 1);
            code[s].x = n.greedy ? body_pc : out;
            code[s].y = n.greedy ? out : body_pc;
            code[s].guard = guard;
          }
        }
        break;
      }
    }
  }

  static bool is_word(char32_t c) {
    const auto g = general_category(c);
    return g <= GeneralCategory::Me || g == GeneralCategory::Nd || g == GeneralCategory::Pc;
  }

  static char32_t cp_at(std::string_view t, size_t pos, size_t* len) {
    const auto b = static_cast<unsigned char>(t[pos]);
    if (b < 0x80) {
      *len = 1;
      return b;
    }
    return decode_utf8(t, pos, len);
  }
  static char32_t cp_before(std::string_view t, size_t pos) {
    size_t p = pos - 1;
    while (p > 0 && (static_cast<unsigned char>(t[p]) & 0xC0) == 0x80) --p;
    size_t len = 0;
    return cp_at(t, p, &len);
  }

  bool check_assert(AssertKind k, std::string_view t, size_t pos) const {
    switch (k) {
      case AssertKind::LineBegin:
        return pos == 0 || t[pos - 1] == '\n';
      case AssertKind::LineEnd:
        return pos == t.size() || t[pos] == '\n';
      case AssertKind::TextBegin:
        return pos == 0;
      case AssertKind::TextEnd:
        return pos == t.size();
      case AssertKind::TextEndNewline:
        return pos == t.size() || (pos + 1 == t.size() && t[pos] == '\n');
      case AssertKind::WordBoundary:
      case AssertKind::NotWordBoundary: {
        size_t len = 0;
        const bool before = pos > 0 && is_word(cp_before(t, pos));
        const bool after = pos < t.size() && is_word(cp_at(t, pos, &len));
        return (before != after) == (k == AssertKind::WordBoundary);
      }
    }
    return false;
  }

  // Runs the program from pc at pos; on success *end is the match end.
  bool run(int32_t pc0, std::string_view t, size_t pos0, size_t* end, size_t* steps,
           std::vector<std::pair<int32_t, size_t>>* stack) const {
    const size_t max_steps = kMaxSteps + 100 * t.size();
    const size_t base = stack->size();
    stack->emplace_back(pc0, pos0);
    while (stack->size() > base) {
      auto [pc, pos] = stack->back();
      stack->pop_back();
      while (true) {
        if (++*steps > max_steps) {
          stack->resize(base);
          throw Error("regex /" + pattern + "/",
                      "needs more than 10^7 + 100 per byte backtracking steps on this text",
                      "simplify the pattern");
        }
        const Inst& in = code[pc];
        bool ok = true;
        switch (in.op) {
          case Op::Char:
          case Op::CharFold:
          case Op::Set:
          case Op::Any: {
            if (pos >= t.size()) {
              ok = false;
              break;
            }
            size_t len = 0;
            const char32_t c = cp_at(t, pos, &len);
            if (in.op == Op::Char) {
              ok = c == in.c;
            } else if (in.op == Op::CharFold) {
              ok = simple_case_fold(c) == in.c;
            } else if (in.op == Op::Set) {
              ok = sets[in.x].has(c);
            } else {
              ok = c != '\n';
            }
            if (ok) {
              pos += len;
              ++pc;
            }
            break;
          }
          case Op::Split:
            if (in.guard >= 0) {
              bool can = false;
              if (pos < t.size()) {
                const auto b = static_cast<unsigned char>(t[pos]);
                can = b < 128 ? ((guard_ascii[in.guard][b >> 6] >> (b & 63)) & 1u) != 0
                              : guard_non_ascii[in.guard] != 0;
              }
              if (!can) {
                pc = in.y;
                break;
              }
            }
            stack->emplace_back(in.y, pos);
            pc = in.x;
            break;
          case Op::Jmp:
            pc = in.x;
            break;
          case Op::Assert:
            ok = check_assert(static_cast<AssertKind>(in.flag), t, pos);
            ++pc;
            break;
          case Op::Look: {
            size_t dummy = 0;
            const bool matched = run(in.x, t, pos, &dummy, steps, stack);
            ok = matched != (in.flag == 1);
            pc = in.y;
            break;
          }
          case Op::Match:
            *end = pos;
            stack->resize(base);
            return true;
        }
        if (!ok) break;
      }
    }
    return false;
  }
};

namespace {

// Which first characters can start a match of node n (ASCII table + "some non-ASCII"), and
// whether n can match empty (then everything can follow).
void first_chars(const Node& n, const std::vector<CharSet>& sets, std::array<bool, 128>* ascii,
                 bool* non_ascii) {
  switch (n.kind) {
    case NodeKind::Char:
      if (n.c < 128) {
        (*ascii)[n.c] = true;
        if (n.fold && ((n.c | 32) >= 'a' && (n.c | 32) <= 'z')) (*ascii)[n.c ^ 32] = true;
      }
      if (n.c >= 128 || n.fold) *non_ascii = true;
      break;
    case NodeKind::Set:
      for (char32_t c = 0; c < 128; ++c) {
        if (sets[n.set].has(c)) (*ascii)[c] = true;
      }
      *non_ascii = true;
      break;
    case NodeKind::Any:
      ascii->fill(true);
      (*ascii)['\n'] = false;
      *non_ascii = true;
      break;
    case NodeKind::Concat:
      for (const auto& k : n.kids) {
        first_chars(*k, sets, ascii, non_ascii);
        if (!nullable(*k)) break;
      }
      break;
    case NodeKind::Alt:
      for (const auto& k : n.kids) first_chars(*k, sets, ascii, non_ascii);
      break;
    case NodeKind::Repeat:
      first_chars(*n.kids[0], sets, ascii, non_ascii);
      break;
    case NodeKind::Empty:
    case NodeKind::LookAhead:
    case NodeKind::Assert:
      break;
  }
}

}  // namespace

Regex::Regex(std::unique_ptr<Program> p) : program_(std::move(p)) {}
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

Regex Regex::compile(std::string_view pattern) {
  if (find_invalid_utf8(pattern) != std::string_view::npos) {
    throw Error("regex", "the pattern is not valid UTF-8");
  }
  auto p = std::make_unique<Program>();
  p->pattern = std::string(pattern);
  Parser parser(pattern, &p->sets);
  const std::unique_ptr<Node> root = parser.parse();
  p->emit_node(*root);
  p->code.push_back({Op::Match, 0, 0, 0, 0});
  p->can_match_empty = nullable(*root);
  if (!p->can_match_empty) {
    p->can_start_non_ascii = false;
    first_chars(*root, p->sets, &p->can_start, &p->can_start_non_ascii);
  }
  return Regex(std::move(p));
}

Regex Regex::literal(std::string_view literal) {
  std::string escaped;
  for (const char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) escaped += '\\';
    escaped += c;
  }
  return compile(escaped);
}

bool Regex::search(std::string_view text, size_t from, size_t* begin, size_t* end) const {
  const Program& p = *program_;
  size_t steps = 0;
  thread_local std::vector<std::pair<int32_t, size_t>> stack;
  stack.clear();
  for (size_t pos = from; pos <= text.size();) {
    bool try_here = true;
    if (!p.can_match_empty) {
      if (pos == text.size()) return false;
      const auto b = static_cast<unsigned char>(text[pos]);
      try_here = b < 128 ? p.can_start[b] : p.can_start_non_ascii;
    }
    if (try_here && p.run(0, text, pos, end, &steps, &stack)) {
      *begin = pos;
      return true;
    }
    if (pos == text.size()) break;
    size_t len = 1;
    if (static_cast<unsigned char>(text[pos]) >= 0x80) (void)decode_utf8(text, pos, &len);
    pos += len;
  }
  return false;
}

void Regex::find_all(std::string_view text,
                     const std::function<void(size_t, size_t)>& on_match) const {
  size_t from = 0;
  size_t last_end = std::string_view::npos;
  while (from <= text.size()) {
    size_t b = 0;
    size_t e = 0;
    if (!search(text, from, &b, &e)) return;
    if (b == e && last_end == e) {
      if (from >= text.size()) return;
      size_t len = 1;
      if (static_cast<unsigned char>(text[from]) >= 0x80) (void)decode_utf8(text, from, &len);
      from += len;
      continue;
    }
    on_match(b, e);
    from = e;
    last_end = e;
  }
}

const std::string& Regex::pattern() const {
  return program_->pattern;
}

}  // namespace neurolens::model
