// Gzip files — whole files compressed or read back in one call (zlib), for exports such as
// Neuronpedia's batch-N.jsonl.gz. Streams of large inputs go through io/corpus.hpp instead.
// Owns: gzip framing (RFC 1952) by zlib's deflate / inflate, errors naming the file.
// Example:
//   write_gzip_file(dir / "batch-0.jsonl.gz", lines);   // one gzip member
//   std::string text = read_gzip_file(dir / "batch-0.jsonl.gz");
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace neurolens::io {

// Writes `data` as one gzip member (compression `level` 1..9) to `path` (truncated). Throws
// neurolens::Error naming the file when it cannot be written.
void write_gzip_file(const std::filesystem::path& path, std::string_view data, int level = 6);

// The decompressed contents of a gzip file (concatenated members too). Throws neurolens::Error
// naming the file when it is missing, truncated or corrupt.
std::string read_gzip_file(const std::filesystem::path& path);

}  // namespace neurolens::io
