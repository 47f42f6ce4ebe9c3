// bpe_tables — the building blocks shared by both tokenizer front ends (vocab.json + merges.txt,
// and tokenizer.json): GPT-2's byte <-> symbol mapping, file reading, FNV-1a fingerprints, and
// the open-addressing tables from token bytes to id and from a merge pair to its rank.
// Internal to model/tokenizer/.
// Example:
//   detail::MergeTable m;  m.reset(1);  m.insert(detail::pair_key(3, 4), {0, 7});
//   m.find(detail::pair_key(3, 4))->merged == 7
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/error.hpp"
#include "model/tokenizer/unicode.hpp"

namespace neurolens::model::detail {

// ---- Byte <-> symbol mapping of GPT-2 (bytes_to_unicode) ------------------------------------

inline std::array<char32_t, 256> bytes_to_unicode() {
  std::array<char32_t, 256> map{};
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) map[b] = printable[b] ? char32_t(b) : next++;
  return map;
}

// Raw bytes of a vocab.json / merges.txt symbol string appended to `out`; false (with the bad
// code point) if a character is not one of GPT-2's 256 byte symbols.
inline bool append_symbol_bytes(std::string_view symbols, std::string* out, char32_t* bad) {
  // GPT-2's byte symbols are the code points 0x21..0x143; -1 marks the others.
  static const std::array<int16_t, 0x144> inverse = [] {
    std::array<int16_t, 0x144> m;
    m.fill(-1);
    const auto map = bytes_to_unicode();
    for (int b = 0; b < 256; ++b) m[map[b]] = static_cast<int16_t>(b);
    return m;
  }();
  size_t pos = 0;
  while (pos < symbols.size()) {
    const auto c = static_cast<unsigned char>(symbols[pos]);
    if (c < 0x80) {  // ASCII fast path
      if (inverse[c] < 0) {
        *bad = c;
        return false;
      }
      out->push_back(static_cast<char>(inverse[c]));
      ++pos;
      continue;
    }
    size_t len = 0;
    const char32_t cp = decode_utf8(symbols, pos, &len);
    if (cp >= inverse.size() || inverse[cp] < 0) {
      *bad = cp;
      return false;
    }
    out->push_back(static_cast<char>(inverse[cp]));
    pos += len;
  }
  return true;
}

inline std::string hex_cp(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

inline std::string read_file(const std::filesystem::path& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    throw Error(path.string(), std::string("cannot open ") + what,
                "check the path; a checkpoint directory holds tokenizer.json, or vocab.json and "
                "merges.txt");
  }
  std::string text;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size < (size_t{1} << 32)) text.reserve(static_cast<size_t>(size));
  char buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    throw Error(path.string(), std::string("cannot read ") + what,
                "check the file (a directory, or an I/O error)");
  }
  return text;
}

// FNV-1a 64, fed piece by piece.
struct Fnv1a {
  uint64_t h = 14695981039346656037ULL;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  void add_u32(uint32_t v) {
    const unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                                static_cast<unsigned char>(v >> 16),
                                static_cast<unsigned char>(v >> 24)};
    add(b, 4);
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Open-addressing index from a token's bytes to its id, over the id -> bytes table it is built
// from (linear probing, load <= 1/2): one probe per lookup instead of a node-based map.
class TokenIndex {
 public:
  void reset(size_t n_tokens) {
    size_t capacity = 16;
    while (capacity < 2 * n_tokens) capacity <<= 1;
    slots_.assign(capacity, -1);
    mask_ = capacity - 1;
  }
  // Id whose bytes (in `bytes_of`) equal `bytes`, or -1.
  int32_t find(std::string_view bytes, const std::vector<std::string>& bytes_of) const {
    if (slots_.empty()) return -1;
    for (size_t i = std::hash<std::string_view>{}(bytes)&mask_;; i = (i + 1) & mask_) {
      const int32_t id = slots_[i];
      if (id < 0 || bytes_of[id] == bytes) return id;
    }
  }
  // Adds `id` (bytes_of[id] already set, not yet in the index).
  void insert(int32_t id, const std::vector<std::string>& bytes_of) {
    size_t i = std::hash<std::string_view>{}(bytes_of[id]) & mask_;
    while (slots_[i] >= 0) i = (i + 1) & mask_;
    slots_[i] = id;
  }

 private:
  std::vector<int32_t> slots_;
  size_t mask_ = 0;
};

inline uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Merge {
  int32_t rank;
  int32_t merged;  // id of the concatenation
};

// Open-addressing map from pair_key(left, right) to its Merge (linear probing, load <= 1/2).
class MergeTable {
 public:
  void reset(size_t n_merges) {
    size_t capacity = 16;
    while (capacity < 2 * n_merges) capacity <<= 1;
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, Merge{-1, -1});
    mask_ = capacity - 1;
  }
  const Merge* find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  // Inserts key -> m unless present; returns the stored Merge and whether it was inserted.
  // The table must have been reset for at least as many keys.
  std::pair<const Merge*, bool> insert(uint64_t key, Merge m) {
    size_t i = slot(key);
    while (keys_[i] != kEmpty) {
      if (keys_[i] == key) return {&values_[i], false};
      i = (i + 1) & mask_;
    }
    keys_[i] = key;
    values_[i] = m;
    return {&values_[i], true};
  }
  // Inserts key -> m, or replaces the stored Merge (a later duplicate wins, as in HF tokenizers).
  void insert_or_assign(uint64_t key, Merge m) {
    size_t i = slot(key);
    while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
    keys_[i] = key;
    values_[i] = m;
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are >= 0, so no pair has this key
  size_t slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
  }
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0;
};

}  // namespace neurolens::model::detail
