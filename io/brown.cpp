#include "io/brown.hpp"

#include "io/error.hpp"

#include <algorithm>
#include <array>

namespace neurolens::io {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

bool is_tag_char(char c) {
  if (c >= 'a' && c <= 'z') return true;
  switch (c) {
    case '$':
    case '*':
    case '+':
    case '-':
    case '.':
    case ',':
    case ':':
    case '(':
    case ')':
    case '\'':
    case '`':
      return true;
    default:
      return false;
  }
}

std::string shorten(std::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Lowercased base tag: first part of a contraction, without -tl/-hl/-nc suffixes. Empty for
// foreign words.
std::string base_tag(std::string_view tag) {
  std::string t(tag.size(), '\0');
  std::transform(tag.begin(), tag.end(), t.begin(), lower);
  if (t.rfind("fw-", 0) == 0) return {};
  if (const size_t plus = t.find('+'); plus != std::string::npos) t.resize(plus);
  static constexpr std::array<std::string_view, 3> kSuffixes = {"-tl", "-hl", "-nc"};
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (std::string_view s : kSuffixes) {
      if (t.size() > s.size() && std::string_view(t).substr(t.size() - s.size()) == s) {
        t.resize(t.size() - s.size());
        stripped = true;
      }
    }
  }
  return t;
}

template <size_t N>
bool one_of(const std::string& t, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), t) != set.end();
}

}  // namespace

BrownText parse_brown(std::string_view bytes, const std::string& source, uint64_t base_offset) {
  BrownText out;
  out.words.reserve(bytes.size() / 12);
  bool pending_paragraph = false;  // a blank line was seen since the last word
  uint64_t line_no = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t eol = bytes.find('\n', pos);
    if (eol == std::string_view::npos) eol = bytes.size();
    const std::string_view line = bytes.substr(pos, eol - pos);
    const size_t line_start = pos;
    pos = eol + 1;
    ++line_no;

    bool first_token = true;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && is_space(line[i])) ++i;
      if (i >= line.size()) break;
      const size_t tok_begin = i;
      while (i < line.size() && !is_space(line[i])) ++i;
      const std::string_view token = line.substr(tok_begin, i - tok_begin);
      const size_t slash = token.rfind('/');
      if (slash == std::string_view::npos || slash == 0 || slash + 1 == token.size()) {
        throw Error(source + ":" + std::to_string(line_no),
                    "token '" + shorten(token) + "' at byte " +
                        std::to_string(base_offset + line_start + tok_begin) + " is not word/TAG",
                    "Brown files hold whitespace-separated word/TAG tokens; open this file with "
                    "format text if it is plain text");
      }
      std::string_view word = token.substr(0, slash);
      const std::string_view tag = token.substr(slash + 1);
      if (word == "``" || word == "''") word = "\"";

      if (first_token && !out.text.empty()) {
        const bool indented = !line.empty() && line[0] == '\t';
        out.text += (pending_paragraph || indented) ? "\n\n" : " ";
      } else if (!first_token) {
        out.text += ' ';
      }
      first_token = false;
      pending_paragraph = false;
      const size_t begin = out.text.size();
      out.text += word;
      out.words.push_back(WordTag{begin, out.text.size(), std::string(tag)});
    }
    if (first_token && !out.text.empty()) pending_paragraph = true;  // blank line
  }
  return out;
}

bool is_brown_file_name(std::string_view name) {
  return name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' && name[2] >= '0' &&
         name[2] <= '9' && name[3] >= '0' && name[3] <= '9';
}

bool is_brown_line(std::string_view line, size_t min_tokens) {
  size_t tokens = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size()) break;
    const size_t b = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    const std::string_view token = line.substr(b, i - b);
    const size_t slash = token.rfind('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == token.size()) return false;
    const std::string_view tag = token.substr(slash + 1);
    if (!std::all_of(tag.begin(), tag.end(), is_tag_char)) return false;
    ++tokens;
  }
  return tokens > 0 && tokens >= min_tokens;
}

bool is_proper_noun_tag(std::string_view tag) {
  static constexpr std::array<std::string_view, 4> kSet = {"np", "np$", "nps", "nps$"};
  return one_of(base_tag(tag), kSet);
}

bool is_noun_tag(std::string_view tag) {
  static constexpr std::array<std::string_view, 4> kSet = {"nn", "nn$", "nns", "nns$"};
  return one_of(base_tag(tag), kSet);
}

bool is_verb_tag(std::string_view tag) {
  static constexpr std::array<std::string_view, 5> kSet = {"vb", "vbd", "vbg", "vbn", "vbz"};
  return one_of(base_tag(tag), kSet);
}

}  // namespace neurolens::io
