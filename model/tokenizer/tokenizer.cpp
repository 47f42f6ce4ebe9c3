// GPT-2 byte-level BPE: vocab/merges loading, the pre-tokenizer scanner, BPE merges, decoding;
// and the Tokenizer front for tokenizer.json (tokenizer_json.cpp).
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
#include "model/tokenizer/bpe_tables.hpp"
#include "model/tokenizer/tokenizer_json.hpp"
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

using namespace detail;  // bpe_tables.hpp

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

  // tokenizer.json (null for vocab.json + merges.txt)
  std::shared_ptr<const detail::JsonPipeline> json;
  std::vector<int32_t> prefix;  // post-processor tokens around a text
  std::vector<int32_t> suffix;
  std::optional<int32_t> bos;
  std::optional<int32_t> eos;
  std::vector<int32_t> special;  // sorted, unique: see special_ids()

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
                "use ids produced by the same tokenizer");
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
    if (const int32_t eot = impl->find_id("<|endoftext|>"); eot >= 0) impl->eos = eot;
    impl->description = "GPT-2 byte-level BPE, " + std::to_string(impl->id_to_bytes.size()) +
                        " tokens, " + std::to_string(rank) + " merges (" + vocab_name + ", " +
                        merges_name + ")";
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::parse_json(std::string_view json_text, const std::string& name) {
  detail::JsonTokenizerParts parts = detail::parse_tokenizer_json(json_text, name);
  auto impl = std::make_unique<Impl>();
  impl->json = std::move(parts.pipeline);
  impl->id_to_bytes = std::move(parts.id_to_bytes);
  impl->id_present = std::move(parts.id_present);
  impl->bytes_to_id.reset(impl->id_to_bytes.size());
  for (const int32_t id : parts.lookup_order) {
    if (impl->find_id(impl->id_to_bytes[id]) < 0) impl->bytes_to_id.insert(id, impl->id_to_bytes);
  }
  impl->prefix = std::move(parts.prefix);
  impl->suffix = std::move(parts.suffix);
  impl->bos = parts.bos;
  impl->eos = parts.eos;
  impl->special = std::move(parts.special);
  impl->fingerprint = std::move(parts.fingerprint);
  impl->description = std::move(parts.description);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::load_json(const std::filesystem::path& tokenizer_json) {
  std::string text;
  try {
    text = read_file(tokenizer_json, "the tokenizer (tokenizer.json)");
  } catch (const Error& e) {
    throw Error(e.context(), e.problem(), "check the path of tokenizer.json");
  }
  return parse_json(text, tokenizer_json.string());
}

bool Tokenizer::has_tokenizer(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "tokenizer.json", ec) ||
         (std::filesystem::is_regular_file(dir / "vocab.json", ec) &&
          std::filesystem::is_regular_file(dir / "merges.txt", ec));
}

Tokenizer Tokenizer::load_for_model(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir / "tokenizer.json", ec)) {
    return load_json(dir / "tokenizer.json");
  }
  // Neither: the error names dir/vocab.json ("cannot open"), with a hint naming both layouts.
  return load(dir / "vocab.json", dir / "merges.txt");
}

std::vector<int32_t> Tokenizer::encode_for_model(std::string_view utf8) const {
  std::vector<int32_t> ids = impl_->prefix;
  const std::vector<int32_t> body = encode(utf8);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.insert(ids.end(), impl_->suffix.begin(), impl_->suffix.end());
  return ids;
}

bool Tokenizer::adds_bos() const {
  return !impl_->prefix.empty();
}

std::optional<int32_t> Tokenizer::bos_id() const {
  return impl_->bos;
}

std::optional<int32_t> Tokenizer::eos_id() const {
  return impl_->eos;
}

std::vector<int32_t> Tokenizer::special_ids() const {
  std::vector<int32_t> ids = impl_->special;
  ids.insert(ids.end(), impl_->prefix.begin(), impl_->prefix.end());
  ids.insert(ids.end(), impl_->suffix.begin(), impl_->suffix.end());
  if (impl_->bos) ids.push_back(*impl_->bos);
  if (impl_->eos) ids.push_back(*impl_->eos);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::vector<int32_t> Tokenizer::encode(std::string_view utf8) const {
  std::vector<int32_t> ids;
  ids.reserve(utf8.size() / 4 + 1);
  if (impl_->json) {
    detail::encode_json(*impl_->json, utf8, &ids, nullptr);
    return ids;
  }
  scan_pieces(utf8, [&](size_t b, size_t e) { impl_->encode_piece(utf8.substr(b, e - b), &ids); });
  return ids;
}

std::vector<int32_t> Tokenizer::encode_with_offsets(
    std::string_view utf8, std::vector<std::pair<size_t, size_t>>* offsets) const {
  if (impl_->json && offsets != nullptr) {
    std::vector<int32_t> ids;
    detail::encode_json(*impl_->json, utf8, &ids, offsets);
    return ids;
  }
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
