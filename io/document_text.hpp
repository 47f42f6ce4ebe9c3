// Document text — checking a corpus file's bytes as document text (internal to io/corpus.cpp).
// Owns: the UTF-8 byte order mark, invalid UTF-8 (the error names the byte and its offset),
// JSON Lines lines (each non-blank line one JSON object with a "text" string; the errors name
// the file, line or byte and say how to convert), the blank bytes between lines.
// Example:
//   uint64_t bom = 0;
//   check_utf8(strip_bom(raw, 0, bom), bom, "a.txt");
//   std::string text = json_line_text(R"({"text": "hi"})", 0, "a.jsonl:1");   // "hi"
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "io/error.hpp"

namespace neurolens::io::detail {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
const char* const kJqHint =
    "each line must be one JSON object with a \"text\" string, e.g. {\"text\": \"...\"}; a JSON "
    "array of strings converts with: jq -c '.[] | {text: .}' in.json > out.jsonl";

// ' ', \t, \r, \n, \v, \f.
bool is_blank(char c);

// "byte <offset>: the line starts with '<c>', not a JSON object" (context `where`).
Error not_an_object(const std::string& where, uint64_t offset, char c);

// Checks the lines of a plain JSON Lines file that start in its head (the first 64 KiB): each
// non-blank line must start with '{'. Returns false when the whole file is in the head and no
// line holds a document.
bool check_json_lines_head(const std::filesystem::path& path, std::string_view head,
                           bool whole_file);

// s without a leading BOM when it starts the file (offset 0); skipped: the bytes dropped.
std::string_view strip_bom(std::string_view s, uint64_t offset, uint64_t& skipped);

// Throws naming the first invalid UTF-8 byte of `bytes` (at file_offset + its index).
void check_utf8(std::string_view bytes, uint64_t file_offset, const std::string& where);

// The "text" of one JSON Lines line (validated). `offset` is the stream offset of line[0].
std::string json_line_text(std::string_view line, uint64_t offset, const std::string& where);

}  // namespace neurolens::io::detail
