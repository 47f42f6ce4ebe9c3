#include "model/tokenizer/regex_syntax.hpp"

#include <cctype>
#include <cstdio>
#include <string>
#include <utility>

#include "io/error.hpp"

namespace neurolens::model::detail {

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

namespace {

constexpr int kMaxRepeat = 1000;

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

}  // namespace

std::unique_ptr<Node> parse_regex(std::string_view pattern, std::vector<CharSet>* sets) {
  Parser parser(pattern, sets);
  return parser.parse();
}

}  // namespace neurolens::model::detail
