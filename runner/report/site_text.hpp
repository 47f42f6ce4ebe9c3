// SiteText — the text building of `neurolens site`: pages appended into one reused std::string
// (no streams, no temporaries per token), numbers through std::to_chars, token text made visible
// and safe for HTML, and strings for the JavaScript data files.
// Owns: PageText (append text, integers, numbers with a given number of significant digits),
// visible_token_html (HTML-escaped, "\n" as ↵ plus a line break, tab as ⇥, CR as ␍),
// visible_token_text (the same marks for a table cell or search result, spaces as ␣, no escaping)
// and json_string (a quoted JSON / JavaScript string literal that is safe inside <script>).
// Example:
//   PageText p;
//   p << "<b>" << int64_t{42} << "</b> ";
//   p.number(0.012345, 3);                       // "0.0123"
//   visible_token_html("a<b\n") == "a&lt;b\xe2\x86\xb5\n";
//   json_string("</script>") == "\"\\u003c/script\\u003e\"";
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace neurolens::runner {

class PageText {
 public:
  std::string text;

  void clear() { text.clear(); }
  PageText& operator<<(std::string_view s) {
    text.append(s);
    return *this;
  }
  PageText& operator<<(const char* s) {
    text.append(s);
    return *this;
  }
  PageText& operator<<(char c) {
    text.push_back(c);
    return *this;
  }
  PageText& operator<<(int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    text.append(buf, r.ptr);
    return *this;
  }
  PageText& operator<<(int32_t v) { return *this << static_cast<int64_t>(v); }
  PageText& operator<<(uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    text.append(buf, r.ptr);
    return *this;
  }
  // `digits` significant digits, shortest form ("1.5", "0.0123", "1.23e-05"); "NaN", "inf".
  PageText& number(double v, int digits) {
    if (std::isnan(v)) return *this << "NaN";
    if (std::isinf(v)) return *this << (v > 0 ? "inf" : "-inf");
    char buf[40];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, digits);
    text.append(buf, r.ptr);
    return *this;
  }
};

// `digits` significant digits as a string (PageText::number).
inline std::string short_number(double v, int digits) {
  PageText p;
  p.number(v, digits);
  return std::move(p.text);
}

// A token's display text (valid UTF-8, from ExamplesFile::display_tokens) as HTML: escaped,
// newline as "↵" followed by a real newline (the windows are white-space: pre-wrap), tab as "⇥"
// and a tab, carriage return as "␍", other control characters as U+FFFD.
std::string visible_token_html(std::string_view display);

// The same marks without escaping, and spaces as "␣": a token alone in a table cell (the index's
// JavaScript escapes it).
std::string visible_token_text(std::string_view display);

// A JSON string literal (quotes included) that is also safe inside an HTML <script>: '<', '>',
// '&', U+2028 and U+2029 as \u escapes; invalid UTF-8 bytes as U+FFFD.
std::string json_string(std::string_view text);

}  // namespace neurolens::runner
