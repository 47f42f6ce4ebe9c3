// GPT-2 byte-level BPE: vocab/merges loading, the pre-tokenizer scanner, BPE merges, decoding.
#include "model/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <functional>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <unordered_map>

#include "io/error.hpp"
#include "model/tokenizer/unicode.hpp"
#include "model/tokenizer/vocab_json.hpp"

namespace neurolens::model {
namespace {

// ---- Pre-tokenizer ------------------------------------------------------------------------

const std::array<CharClass, 128>& ascii_classes() {
  static const std::array<CharClass, 128> table = [] {
    std::array<CharClass, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = char_class(c);
    return t;
  }();
  return table;
}

struct CharInfo {
  CharClass cls;
  size_t len;
};

inline CharInfo char_at(std::string_view text, size_t pos,
                        const std::array<CharClass, 128>& ascii) {
  const auto b = static_cast<unsigned char>(text[pos]);
  if (b < 0x80) return {ascii[b], 1};
  size_t len = 0;
  const char32_t cp = decode_utf8(text, pos, &len);
  return {char_class(cp), len};
}

// End of the maximal run of characters of class `cls` starting at `pos` (pos may be text end).
inline size_t run_end(std::string_view text, size_t pos, CharClass cls,
                      const std::array<CharClass, 128>& ascii) {
  while (pos < text.size()) {
    const CharInfo c = char_at(text, pos, ascii);
    if (c.cls != cls) break;
    pos += c.len;
  }
  return pos;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at `pos`, or 0.
inline size_t contraction_at(std::string_view text, size_t pos) {
  if (text[pos] != '\'' || pos + 1 >= text.size()) return 0;
  const char a = text[pos + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 >= text.size()) return 0;
  const char b = text[pos + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// Calls on_piece(begin, end) for each piece, in order. Equivalent to the GPT-2 regex with
// leftmost-alternative backtracking semantics (see docs/tokenizer.md).
template <typename OnPiece>
void scan_pieces(std::string_view text, OnPiece&& on_piece) {
  const auto& ascii = ascii_classes();
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    // 's|'t|'re|'ve|'m|'ll|'d
    if (const size_t k = contraction_at(text, pos); k != 0) {
      on_piece(pos, pos + k);
      pos += k;
      continue;
    }
    const CharInfo c0 = char_at(text, pos, ascii);
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' with the optional space.
    if (text[pos] == ' ' && pos + 1 < n) {
      const CharInfo c1 = char_at(text, pos + 1, ascii);
      if (c1.cls != CharClass::Whitespace) {
        const size_t end = run_end(text, pos + 1 + c1.len, c1.cls, ascii);
        on_piece(pos, end);
        pos = end;
        continue;
      }
    }
    if (c0.cls != CharClass::Whitespace) {
      const size_t end = run_end(text, pos + c0.len, c0.cls, ascii);
      on_piece(pos, end);
      pos = end;
      continue;
    }
    // '\s+(?!\S)' then '\s+': a whitespace run that ends the text is one piece; one followed by
    // a non-space gives up its last character (which then starts the next piece), unless the
    // run is a single character.
    size_t last_start = pos;
    size_t end = pos + c0.len;
    while (end < n) {
      const CharInfo c = char_at(text, end, ascii);
      if (c.cls != CharClass::Whitespace) break;
      last_start = end;
      end += c.len;
    }
    if (end < n && last_start > pos) end = last_start;
    on_piece(pos, end);
    pos = end;
  }
}

// ---- Byte <-> symbol mapping of GPT-2 (bytes_to_unicode) ------------------------------------

std::array<char32_t, 256> bytes_to_unicode() {
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
bool append_symbol_bytes(std::string_view symbols, std::string* out, char32_t* bad) {
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

std::string hex_cp(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

std::string read_file(const std::filesystem::path& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    throw Error(path.string(), std::string("cannot open ") + what,
                "check the path; a GPT-2 checkpoint directory holds vocab.json and merges.txt");
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

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are >= 0, so no pair has this key
  size_t slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
  }
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0;
};

constexpr size_t kShortPiece = 64;       // bytes; longer pieces use the heap-based merge
constexpr size_t kMaxCachedPiece = 256;  // bytes; longer pieces are not cached
constexpr size_t kMaxCacheEntries = 1 << 20;

}  // namespace

std::vector<std::string_view> pretokenize(std::string_view utf8) {
  std::vector<std::string_view> pieces;
  scan_pieces(utf8, [&](size_t b, size_t e) { pieces.push_back(utf8.substr(b, e - b)); });
  return pieces;
}

// ---- Tokenizer ------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::vector<std::string> id_to_bytes;  // index = id
  std::vector<bool> id_present;
  TokenIndex bytes_to_id;  // over id_to_bytes
  int32_t find_id(std::string_view bytes) const { return bytes_to_id.find(bytes, id_to_bytes); }
  std::array<int32_t, 256> byte_id{};
  MergeTable merges;

  std::string fingerprint;  // set by load()
  std::string description;

  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache;

  const Merge* find_merge(int32_t left, int32_t right) const {
    return merges.find(pair_key(left, right));
  }

  void bpe(std::string_view piece, std::vector<int32_t>* out) const;
  void bpe_short(std::string_view piece, std::vector<int32_t>* out) const;
  void bpe_long(std::string_view piece, std::vector<int32_t>* out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>* out) const;
  void check_id(int32_t id) const;
};

// Original GPT-2 loop: repeatedly take the adjacent pair of lowest rank and merge all of its
// occurrences, left to right. Quadratic, for short pieces.
void Tokenizer::Impl::bpe_short(std::string_view piece, std::vector<int32_t>* out) const {
  int32_t syms[kShortPiece];
  size_t n = piece.size();
  for (size_t i = 0; i < n; ++i) syms[i] = byte_id[static_cast<unsigned char>(piece[i])];
  while (n > 1) {
    const Merge* best = nullptr;
    int32_t left = 0;
    int32_t right = 0;
    for (size_t i = 0; i + 1 < n; ++i) {
      const Merge* m = find_merge(syms[i], syms[i + 1]);
      if (m != nullptr && (best == nullptr || m->rank < best->rank)) {
        best = m;
        left = syms[i];
        right = syms[i + 1];
      }
    }
    if (best == nullptr) break;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && syms[i] == left && syms[i + 1] == right) {
        syms[w++] = best->merged;
        i += 2;
      } else {
        syms[w++] = syms[i++];
      }
    }
    n = w;
  }
  out->insert(out->end(), syms, syms + n);
}

// Same result in O(n log n): a linked list of symbols and a min-heap of (rank, position).
// All pairs of the current lowest rank are merged as one left-to-right batch before any pair
// created by that batch is considered, exactly as in the original loop.
void Tokenizer::Impl::bpe_long(std::string_view piece, std::vector<int32_t>* out) const {
  const int n = static_cast<int>(piece.size());
  std::vector<int32_t> id(n);
  std::vector<int> prev(n);
  std::vector<int> next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_id[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Entry {
    int32_t rank;
    int pos;
    int32_t left;
    int32_t right;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  auto push = [&](int p) {
    if (p < 0 || next[p] < 0) return;
    if (const Merge* m = find_merge(id[p], id[next[p]]))
      heap.push({m->rank, p, id[p], id[next[p]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  std::vector<int> touched;
  while (!heap.empty()) {
    const int32_t rank = heap.top().rank;
    touched.clear();
    while (!heap.empty() && heap.top().rank == rank) {
      const Entry e = heap.top();
      heap.pop();
      const int p = e.pos;
      if (!alive[p] || id[p] != e.left || next[p] < 0 || id[next[p]] != e.right) continue;
      const int q = next[p];
      id[p] = find_merge(e.left, e.right)->merged;
      alive[q] = 0;
      next[p] = next[q];
      if (next[q] >= 0) prev[next[q]] = p;
      touched.push_back(p);
    }
    for (const int p : touched) {
      push(prev[p]);
      push(p);
    }
  }
  for (int i = 0; i >= 0; i = next[i]) out->push_back(id[i]);
}

void Tokenizer::Impl::bpe(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.size() <= kShortPiece) {
    bpe_short(piece, out);
  } else {
    bpe_long(piece, out);
  }
}

void Tokenizer::Impl::encode_piece(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.size() == 1) {
    out->push_back(byte_id[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (piece.size() > kMaxCachedPiece) {
    bpe(piece, out);
    return;
  }
  {
    std::shared_lock lock(cache_mutex);
    const auto it = cache.find(piece);
    if (it != cache.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out->size();
  bpe(piece, out);
  std::unique_lock lock(cache_mutex);
  if (cache.size() < kMaxCacheEntries) {
    cache.try_emplace(std::string(piece), out->begin() + static_cast<std::ptrdiff_t>(start),
                      out->end());
  }
}

void Tokenizer::Impl::check_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_bytes.size() || !id_present[id]) {
    throw Error("token id " + std::to_string(id),
                "is outside the vocabulary (size " + std::to_string(id_to_bytes.size()) + ")",
                "use ids produced by the same vocab.json");
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::filesystem::path& vocab_json,
                          const std::filesystem::path& merges_txt) {
  auto impl = std::make_unique<Impl>();
  const std::string vocab_name = vocab_json.string();
  const std::string merges_name = merges_txt.string();

  // vocab.json: {"symbols": id, ...}
  {
    const std::string text = read_file(vocab_json, "the vocabulary (vocab.json)");
    std::vector<VocabEntry> entries = parse_vocab_json(text, vocab_name);
    int64_t max_id = -1;
    for (const VocabEntry& e : entries) max_id = std::max(max_id, e.id);
    const size_t n_entries = entries.size();
    if (max_id > 16 * static_cast<int64_t>(n_entries) + 1024) {
      throw Error(vocab_name,
                  "ids are too sparse (max id " + std::to_string(max_id) + " for " +
                      std::to_string(n_entries) + " tokens)",
                  "ids should be 0..N-1");
    }
    impl->id_to_bytes.resize(static_cast<size_t>(max_id + 1));
    impl->id_present.assign(static_cast<size_t>(max_id + 1), false);
    impl->bytes_to_id.reset(n_entries);
    for (VocabEntry& e : entries) {
      const auto id = static_cast<int32_t>(e.id);
      char32_t bad = 0;
      std::string bytes;
      bytes.reserve(e.key.size());
      const bool ok = append_symbol_bytes(e.key, &bytes, &bad);
      if (!ok || bytes.empty()) {
        throw Error(vocab_name + ": token \"" + e.key + "\"",
                    ok ? "is empty" : "has " + hex_cp(bad) + ", not one of GPT-2's byte symbols",
                    "use the vocab.json of a GPT-2 byte-level BPE checkpoint");
      }
      if (impl->find_id(bytes) >= 0) {
        throw Error(vocab_name + ": token \"" + e.key + "\"", "appears twice",
                    "each token appears once");
      }
      if (impl->id_present[id]) {
        throw Error(vocab_name + ": token \"" + e.key + "\"",
                    "id " + std::to_string(id) + " is also used by another token",
                    "ids must be unique");
      }
      impl->id_present[id] = true;
      impl->id_to_bytes[id] = std::move(bytes);
      impl->bytes_to_id.insert(id, impl->id_to_bytes);
    }
    for (int b = 0; b < 256; ++b) {
      const char byte = static_cast<char>(b);
      const int32_t id = impl->find_id(std::string_view(&byte, 1));
      if (id < 0) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "0x%02X", b);
        throw Error(vocab_name, std::string("has no token for the single byte ") + buf,
                    "a byte-level BPE vocabulary holds all 256 single-byte tokens");
      }
      impl->byte_id[b] = id;
    }
  }

  // The fingerprint covers every id's bytes (absent ids as a marker), then the merges.
  Fnv1a fp;
  fp.add_u32(static_cast<uint32_t>(impl->id_to_bytes.size()));
  for (size_t id = 0; id < impl->id_to_bytes.size(); ++id) {
    fp.add_u32(impl->id_present[id] ? static_cast<uint32_t>(impl->id_to_bytes[id].size())
                                    : 0xFFFFFFFFu);
    fp.add(impl->id_to_bytes[id].data(), impl->id_to_bytes[id].size());
  }

  // merges.txt: optional "#version" line, then "left right" per line; rank = merge order.
  {
    const std::string text = read_file(merges_txt, "the BPE merges (merges.txt)");
    std::vector<size_t> line_of_rank;  // for naming the first line of a duplicate
    const size_t expected = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    line_of_rank.reserve(expected);
    impl->merges.reset(expected);
    size_t line_no = 0;
    size_t pos = 0;
    int32_t rank = 0;
    std::string joined;
    auto where = [&] { return merges_name + ":" + std::to_string(line_no); };
    while (pos < text.size()) {
      size_t eol = text.find('\n', pos);
      if (eol == std::string::npos) eol = text.size();
      std::string_view line(text.data() + pos, eol - pos);
      pos = eol + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      if (line_no == 1 && line.starts_with("#version")) continue;
      const size_t space = line.find(' ');
      if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
          line.find(' ', space + 1) != std::string_view::npos) {
        throw Error(
            where(),
            "expected two symbols separated by one space, got \"" + std::string(line) + "\"",
            "use the merges.txt of a GPT-2 checkpoint");
      }
      if (find_invalid_utf8(line) != std::string_view::npos) {
        throw Error(where(), "invalid UTF-8", "use the merges.txt of a GPT-2 checkpoint");
      }
      int32_t ids[2];
      joined.clear();
      const std::string_view parts[2] = {line.substr(0, space), line.substr(space + 1)};
      for (int k = 0; k < 2; ++k) {
        char32_t bad = 0;
        const size_t begin = joined.size();
        if (!append_symbol_bytes(parts[k], &joined, &bad)) {
          throw Error(where(),
                      "symbol \"" + std::string(parts[k]) + "\" has " + hex_cp(bad) +
                          ", not one of GPT-2's byte symbols",
                      "use the merges.txt of a GPT-2 checkpoint");
        }
        const int32_t id = impl->find_id(std::string_view(joined).substr(begin));
        if (id < 0) {
          throw Error(where(), "symbol \"" + std::string(parts[k]) + "\" is not in " + vocab_name,
                      "use the vocab.json and merges.txt of the same checkpoint");
        }
        ids[k] = id;
      }
      const int32_t merged = impl->find_id(joined);
      if (merged < 0) {
        throw Error(where(),
                    "the merge result \"" + std::string(parts[0]) + std::string(parts[1]) +
                        "\" is not in " + vocab_name,
                    "use the vocab.json and merges.txt of the same checkpoint");
      }
      const auto [existing, inserted] =
          impl->merges.insert(pair_key(ids[0], ids[1]), {rank, merged});
      if (!inserted) {
        throw Error(where(),
                    "duplicate merge \"" + std::string(line) + "\" (first on line " +
                        std::to_string(line_of_rank[existing->rank]) + ")",
                    "remove the duplicate line");
      }
      line_of_rank.push_back(line_no);
      fp.add_u32(static_cast<uint32_t>(ids[0]));
      fp.add_u32(static_cast<uint32_t>(ids[1]));
      ++rank;
    }
    impl->fingerprint = fp.hex();
    impl->description = "GPT-2 byte-level BPE, " + std::to_string(impl->id_to_bytes.size()) +
                        " tokens, " + std::to_string(rank) + " merges (" + vocab_name + ", " +
                        merges_name + ")";
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view utf8) const {
  std::vector<int32_t> ids;
  ids.reserve(utf8.size() / 4 + 1);
  scan_pieces(utf8, [&](size_t b, size_t e) { impl_->encode_piece(utf8.substr(b, e - b), &ids); });
  return ids;
}

std::vector<int32_t> Tokenizer::encode_with_offsets(
    std::string_view utf8, std::vector<std::pair<size_t, size_t>>* offsets) const {
  std::vector<int32_t> ids = encode(utf8);
  if (offsets == nullptr) return ids;
  offsets->clear();
  offsets->reserve(ids.size());
  // Snap a byte position back to the start of the character it falls in.
  auto snap = [&](size_t p) {
    while (p > 0 && p < utf8.size() && (static_cast<unsigned char>(utf8[p]) & 0xC0) == 0x80) --p;
    return p;
  };
  size_t pos = 0;
  for (const int32_t id : ids) {
    const size_t end = pos + impl_->id_to_bytes[id].size();
    offsets->emplace_back(snap(pos), snap(end));
    pos = end;
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (const int32_t id : ids) {
    impl_->check_id(id);
    out += impl_->id_to_bytes[id];
  }
  return out;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  impl_->check_id(id);
  return impl_->id_to_bytes[id];
}

int Tokenizer::vocab_size() const {
  return static_cast<int>(impl_->id_to_bytes.size());
}

const std::string& Tokenizer::fingerprint() const {
  return impl_->fingerprint;
}

const std::string& Tokenizer::describe() const {
  return impl_->description;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token_bytes) const {
  const int32_t id = impl_->find_id(token_bytes);
  if (id < 0) return std::nullopt;
  return id;
}

}  // namespace neurolens::model
