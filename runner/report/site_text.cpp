#include "runner/report/site_text.hpp"

#include <cstdio>

#include "runner/report/report_svg.hpp"  // html_escape

namespace neurolens::runner {
namespace {

constexpr std::string_view kReturn = "\xe2\x86\xb5";  // ↵
constexpr std::string_view kTab = "\xe2\x87\xa5";     // ⇥
constexpr std::string_view kCr = "\xe2\x90\x8d";      // ␍
constexpr std::string_view kSpace = "\xe2\x90\xa3";   // ␣

// Length of the valid UTF-8 sequence at s[i], 0 when the bytes there are not one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  const size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if (len == 3 && ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0))) return 0;
  if (len == 4 && ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90))) return 0;
  return len;
}

}  // namespace

std::string visible_token_html(std::string_view display) {
  std::string out;
  size_t from = 0;
  for (size_t i = 0; i <= display.size(); ++i) {
    const char c = i < display.size() ? display[i] : '\n';
    if (i < display.size() && c != '\n' && c != '\t' && c != '\r') continue;
    out += html_escape(display.substr(from, i - from));
    from = i + 1;
    if (i == display.size()) break;
    if (c == '\n') {
      out.append(kReturn);
      out += '\n';
    } else if (c == '\t') {
      out.append(kTab);
      out += '\t';
    } else {
      out.append(kCr);
    }
  }
  return out;
}

std::string visible_token_text(std::string_view display) {
  std::string out;
  for (char c : display) {
    if (c == '\n') {
      out.append(kReturn);
    } else if (c == '\t') {
      out.append(kTab);
    } else if (c == '\r') {
      out.append(kCr);
    } else if (c == ' ') {
      out.append(kSpace);
    } else {
      out += c;
    }
  }
  return out;
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = utf8_length(text, i);
    if (len == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (len == 3 && c == 0xe2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(text[i + 2]) == 0xa8 ||
         static_cast<unsigned char>(text[i + 2]) == 0xa9)) {
      out += static_cast<unsigned char>(text[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += 3;
      continue;
    }
    if (len > 1) {
      out.append(text.substr(i, len));
      i += len;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

}  // namespace neurolens::runner
