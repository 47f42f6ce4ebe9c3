#include "io/document_text.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "io/corpus.hpp"

namespace neurolens::io::detail {
namespace fs = std::filesystem;
namespace {

std::string shown_byte(char c) {
  if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x80) {
    return "byte " + std::to_string(static_cast<unsigned char>(c));
  }
  return std::string(1, c);
}

}  // namespace

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

Error not_an_object(const std::string& where, uint64_t offset, char c) {
  return Error(where,
               "byte " + std::to_string(offset) + ": the line starts with '" + shown_byte(c) +
                   "', not a JSON object",
               kJqHint);
}

bool check_json_lines_head(const fs::path& path, std::string_view head, bool whole_file) {
  uint64_t pos = head.substr(0, 3) == kBom ? 3 : 0;
  uint64_t line = 1;
  bool in_prefix = true;
  bool any = false;
  for (; pos < head.size(); ++pos) {
    const char c = head[pos];
    if (c == '\n') {
      ++line;
      in_prefix = true;
    } else if (in_prefix && !is_blank(c)) {
      if (c != '{') throw not_an_object(path.string() + ":" + std::to_string(line), pos, c);
      in_prefix = false;
      any = true;
    }
  }
  return any || !whole_file;
}

std::string_view strip_bom(std::string_view s, uint64_t offset, uint64_t& skipped) {
  skipped = 0;
  if (offset == 0 && s.substr(0, 3) == kBom) {
    skipped = 3;
    s.remove_prefix(3);
  }
  return s;
}

void check_utf8(std::string_view bytes, uint64_t file_offset, const std::string& where) {
  const size_t bad = find_invalid_utf8(bytes);
  if (bad == std::string_view::npos) return;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(bytes[bad]));
  throw Error(where,
              "invalid UTF-8 at byte " + std::to_string(file_offset + bad) + " (" + hex + ")",
              "re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8 in > out, or remove "
              "the damaged bytes");
}

std::string json_line_text(std::string_view line, uint64_t offset, const std::string& where) {
  check_utf8(line, offset, where);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    const uint64_t at = offset + (e.byte > 0 ? e.byte - 1 : 0);
    std::string what = e.what();
    if (const size_t colon = what.find("] "); colon != std::string::npos) what.erase(0, colon + 2);
    if (what.size() > 160) {  // "last read" can echo a whole long line
      size_t cut = 160;
      while (cut > 0 && (static_cast<unsigned char>(what[cut]) & 0xC0) == 0x80) --cut;
      what.resize(cut);
      what += "...";
    }
    throw Error(where, "invalid JSON near byte " + std::to_string(at) + ": " + what,
                "each line must be one complete JSON object; look for an unescaped quote, "
                "newline or a truncated line");
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range: a number overflows
    throw Error(where, std::string("invalid JSON: ") + e.what(),
                "each line must be one complete JSON object with numbers that fit a double");
  }
  if (!j.is_object()) {
    throw Error(where, "the line is a JSON " + std::string(j.type_name()) + ", not an object",
                kJqHint);
  }
  const auto it = j.find("text");
  if (it == j.end()) {
    std::string fields;
    for (const auto& item : j.items()) {
      if (fields.size() > 60) {
        fields += ", ...";
        break;
      }
      fields += (fields.empty() ? "" : ", ") + item.key();
    }
    throw Error(where,
                "field \"text\" is missing (fields: " + (fields.empty() ? "none" : fields) + ")",
                "every line needs a \"text\" string field, as in FineWeb");
  }
  if (!it->is_string()) {
    throw Error(where, "field \"text\" is a " + std::string(it->type_name()) + ", not a string",
                "store the document as a JSON string in \"text\"");
  }
  return std::move(it->get_ref<std::string&>());
}

}  // namespace neurolens::io::detail
