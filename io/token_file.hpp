// Token files — the layout of a pre-tokenized corpus file (internal to io/corpus.cpp).
// Owns: the ids' width and signedness and where they start (TokenFile), parsing a 1-D '<u2' /
// '<u4' / '<i4' C-order .npy header, the `neurolens tokenize` sidecar <file>.json (format,
// version, dtype, eot, tokenizer and counts), little-endian ids.
// Example:
//   TokenFile tf;
//   if (lower_extension(f) == ".npy") parse_npy(f, head, size, tf);
//   read_sidecar(f, counter, tf);     // tf.width, tf.sidecar.eot when there is one
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "io/corpus.hpp"
#include "io/corpus_source.hpp"

namespace neurolens::io::detail {

// A token file's ids: width in bytes, signed (an '<i4' .npy), offset of the first id; the
// sidecar's fields when there is one.
struct TokenFile {
  int width = 2;
  bool signed_ids = false;
  uint64_t data_offset = 0;
  bool has_sidecar = false;
  TokenCorpusInfo sidecar;
};

// Reads a little-endian unsigned integer of `width` bytes (2 or 4).
uint32_t load_le(const unsigned char* p, int width);

// Parses the header of a 1-D little-endian '<u2' / '<u4' / '<i4' C-order .npy file (head: its
// first bytes, size: the file's) into tf.
void parse_npy(const fs::path& path, std::string_view head, uint64_t size, TokenFile& tf);

// Reads `<token file>.json` if present into tf (is_npy: the token file is a .npy, whose width
// the sidecar's dtype must match).
void read_sidecar(const fs::path& token_file, bool is_npy, Counter* counter, TokenFile& tf);

}  // namespace neurolens::io::detail
