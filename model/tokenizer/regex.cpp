// Regex: the parsed pattern (regex_syntax.cpp) compiled to a backtracking VM program.
#include "model/tokenizer/regex.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

#include "io/error.hpp"
#include "model/tokenizer/regex_syntax.hpp"
#include "model/tokenizer/unicode.hpp"

namespace neurolens::model {
using detail::AssertKind;  // the parsed pattern (regex_syntax.hpp)
using detail::CharSet;
using detail::Node;
using detail::NodeKind;
using detail::nullable;
using detail::parse_regex;

namespace {

// Backtracking steps per search: 10^7 (Oniguruma's retry limit) plus 100 per byte of text.
constexpr size_t kMaxSteps = 10'000'000;
constexpr size_t kMaxProgram = 200'000;  // instructions after expanding counted repeats

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
  const std::unique_ptr<Node> root = parse_regex(pattern, &p->sets);
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
