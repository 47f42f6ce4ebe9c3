// tokenizer.json: parsing (nlohmann DOM, errors with JSON paths) and the encoding pipeline
// (added tokens -> normalizer -> normalized added tokens -> pre-tokenizers -> BPE), each step
// as HF tokenizers (Rust) does it.
#include "model/tokenizer/tokenizer_json.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <shared_mutex>
#include <unordered_map>

#include "io/error.hpp"
#include "model/tokenizer/bpe_tables.hpp"
#include "model/tokenizer/regex.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "model/tokenizer/unicode.hpp"

namespace neurolens::model::detail {
namespace {

using json = nlohmann::json;

const char kHint[] =
    "use a tokenizer.json written by Hugging Face tokenizers; see docs/tokenizer.md "
    "for what is supported";

// ---- Text pieces with their origin in the input -----------------------------------------------

// A piece of (normalized, pre-tokenized) text. When offsets are tracked, origin[i] is the byte
// offset in the input text of the character that byte i of `text` comes from.
struct Piece {
  std::string text;
  std::vector<uint32_t> origin;  // empty unless tracking
  bool at_start = false;         // starts at offset 0 of the input (Metaspace prepend_scheme first)
  int32_t token = -1;            // an added token (text unused)
};

Piece slice(const Piece& p, size_t b, size_t e) {
  Piece s;
  s.text.assign(p.text, b, e - b);
  if (!p.origin.empty()) s.origin.assign(p.origin.begin() + b, p.origin.begin() + e);
  s.at_start = p.at_start && b == 0;
  return s;
}

// Rebuilds a piece from parts: (bytes, origin of each byte).
class PieceBuilder {
 public:
  explicit PieceBuilder(bool track) : track_(track) {}
  void add(std::string_view bytes, uint32_t origin) {
    out_.text.append(bytes);
    if (track_) out_.origin.insert(out_.origin.end(), bytes.size(), origin);
  }
  void add_from(const Piece& p, size_t b, size_t e) {
    out_.text.append(p.text, b, e - b);
    if (track_) out_.origin.insert(out_.origin.end(), p.origin.begin() + b, p.origin.begin() + e);
  }
  Piece finish(bool at_start) {
    out_.at_start = at_start;
    return std::move(out_);
  }

 private:
  bool track_;
  Piece out_;
};

uint32_t origin_at(const Piece& p, size_t i) {
  if (p.origin.empty()) return 0;
  if (i < p.origin.size()) return p.origin[i];
  return p.origin.back();
}

size_t utf8_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// ---- Matches and split behaviors (NormalizedString::split) --------------------------------

struct Span {
  size_t begin;
  size_t end;
  bool is_match;
};

enum class SplitBehavior : uint8_t {
  Removed,
  Isolated,
  MergedWithPrevious,
  MergedWithNext,
  Contiguous
};

// Matches of a pattern as HF's find_matches: the spans cover the text, matches flagged.
std::vector<Span> cover(size_t n, const std::vector<std::pair<size_t, size_t>>& matches,
                        bool invert) {
  std::vector<Span> spans;
  if (n == 0) {
    spans.push_back({0, 0, false});
    return spans;
  }
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) spans.push_back({prev, b, invert});
    spans.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != n) spans.push_back({prev, n, invert});
  return spans;
}

using Emit = std::function<void(Piece&&)>;

void split_piece(const Piece& p, const std::vector<Span>& spans, SplitBehavior behavior,
                 const Emit& out) {
  struct Keep {
    size_t b;
    size_t e;
    bool remove;
  };
  std::vector<Keep> keep;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const Span& s : spans) keep.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::Removed:
      for (const Span& s : spans) keep.push_back({s.begin, s.end, s.is_match});
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const Span& s : spans) {
        if (s.is_match == previous && !keep.empty()) {
          keep.back().e = s.end;
        } else {
          keep.push_back({s.begin, s.end, false});
        }
        previous = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const Span& s : spans) {
        if (s.is_match && !previous && !keep.empty()) {
          keep.back().e = s.end;
        } else {
          keep.push_back({s.begin, s.end, false});
        }
        previous = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (size_t k = spans.size(); k-- > 0;) {
        const Span& s = spans[k];
        if (s.is_match && !previous && !keep.empty()) {
          keep.back().b = s.begin;
        } else {
          keep.push_back({s.begin, s.end, false});
        }
        previous = s.is_match;
      }
      std::reverse(keep.begin(), keep.end());
      break;
    }
  }
  for (const Keep& k : keep) {
    if (!k.remove && k.e > k.b) out(slice(p, k.b, k.e));
  }
}

// Matches of a per-character predicate: each matching character is one match.
template <typename Pred>
std::vector<std::pair<size_t, size_t>> char_matches(std::string_view t, Pred pred) {
  std::vector<std::pair<size_t, size_t>> m;
  for (size_t i = 0; i < t.size();) {
    size_t len = 0;
    const char32_t c = decode_utf8(t, i, &len);
    if (pred(c)) m.emplace_back(i, i + len);
    i += len;
  }
  return m;
}

// Replaces every match of `re` in p by `content`.
Piece replace_all(const Piece& p, const Regex& re, std::string_view content, bool track) {
  PieceBuilder b(track);
  size_t prev = 0;
  bool any = false;
  re.find_all(p.text, [&](size_t mb, size_t me) {
    any = true;
    b.add_from(p, prev, mb);
    b.add(content, origin_at(p, mb));
    prev = me;
  });
  if (!any) return p;
  b.add_from(p, prev, p.text.size());
  return b.finish(p.at_start);
}

// ---- Normalizers ----------------------------------------------------------------------------

enum class NormKind : uint8_t { Nfc, Lowercase, Strip, Prepend, Replace };

struct Normalizer {
  NormKind kind;
  std::string text;  // Prepend: the prefix; Replace: the content
  std::shared_ptr<const Regex> pattern;
  bool left = false;
  bool right = false;
};

Piece normalize_one(const Normalizer& n, Piece p, bool track) {
  switch (n.kind) {
    case NormKind::Nfc: {
      // Code points below U+0300 are NFC-stable starters that never compose with what precedes
      // them, so only the runs of code points >= U+0300 (lead byte >= 0xCC), each with the
      // starter before it, go through the full algorithm.
      bool simple = true;
      for (const char c : p.text) {
        if (static_cast<unsigned char>(c) >= 0xCC) {
          simple = false;
          break;
        }
      }
      if (simple) return p;
      PieceBuilder b(track);
      const std::string& t = p.text;
      size_t copied = 0;
      size_t i = 0;
      std::u32string cps;
      std::vector<uint32_t> starts;
      std::vector<uint32_t> from;
      std::string enc;
      while (i < t.size()) {
        if (static_cast<unsigned char>(t[i]) < 0xCC) {
          i += utf8_len(static_cast<unsigned char>(t[i]));
          continue;
        }
        size_t seg = i;
        if (seg > copied) {
          --seg;
          while (seg > copied && (static_cast<unsigned char>(t[seg]) & 0xC0) == 0x80) --seg;
        }
        size_t end = i;
        while (end < t.size() && static_cast<unsigned char>(t[end]) >= 0xCC) {
          end += utf8_len(static_cast<unsigned char>(t[end]));
        }
        b.add_from(p, copied, seg);
        cps.clear();
        starts.clear();
        for (size_t k = seg; k < end;) {
          size_t len = 0;
          cps.push_back(decode_utf8(t, k, &len));
          starts.push_back(static_cast<uint32_t>(k));
          k += len;
        }
        const std::u32string out = nfc(cps, &from);
        for (size_t k = 0; k < out.size(); ++k) {
          enc.clear();
          append_utf8(out[k], &enc);
          b.add(enc, origin_at(p, starts[from[k]]));
        }
        copied = i = end;
      }
      b.add_from(p, copied, t.size());
      return b.finish(p.at_start);
    }
    case NormKind::Lowercase: {
      PieceBuilder b(track);
      std::string enc;
      for (size_t i = 0; i < p.text.size();) {
        size_t len = 0;
        const char32_t c = decode_utf8(p.text, i, &len);
        enc.clear();
        if (c == 0x130) {  // the one unconditional multi-character lowercase mapping
          append_utf8(U'i', &enc);
          append_utf8(0x307, &enc);
        } else {
          append_utf8(simple_lowercase(c), &enc);
        }
        b.add(enc, origin_at(p, i));
        i += len;
      }
      return b.finish(p.at_start);
    }
    case NormKind::Strip: {
      size_t b = 0;
      size_t e = p.text.size();
      if (n.left) {
        while (b < e) {
          size_t len = 0;
          if (!is_whitespace(decode_utf8(p.text, b, &len))) break;
          b += len;
        }
      }
      if (n.right) {
        while (e > b) {
          size_t s = e - 1;
          while (s > b && (static_cast<unsigned char>(p.text[s]) & 0xC0) == 0x80) --s;
          size_t len = 0;
          if (!is_whitespace(decode_utf8(p.text, s, &len))) break;
          e = s;
        }
      }
      if (b == 0 && e == p.text.size()) return p;
      Piece s = slice(p, b, e);
      s.at_start = p.at_start;
      return s;
    }
    case NormKind::Prepend: {
      if (p.text.empty()) return p;
      PieceBuilder b(track);
      b.add(n.text, origin_at(p, 0));
      b.add_from(p, 0, p.text.size());
      return b.finish(p.at_start);
    }
    case NormKind::Replace:
      return replace_all(p, *n.pattern, n.text, track);
  }
  return p;
}

// ---- Pre-tokenizers -------------------------------------------------------------------------

enum class PreKind : uint8_t {
  ByteLevel,
  Split,
  Metaspace,
  Digits,
  Whitespace,
  WhitespaceSplit,
  Punctuation
};
enum class PrependScheme : uint8_t { Always, First, Never };

struct PreTokenizer {
  PreKind kind;
  // ByteLevel
  bool add_prefix_space = false;
  bool use_regex = true;
  // Split / Punctuation
  std::shared_ptr<const Regex> pattern;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  // Metaspace
  std::string replacement;
  PrependScheme prepend = PrependScheme::Always;
  bool split = true;
  // Digits
  bool individual_digits = false;
};

const Regex& whitespace_regex() {
  static const Regex re = Regex::compile(R"(\w+|[^\w\s]+)");
  return re;
}

void pre_tokenize_one(const PreTokenizer& t, Piece p, bool track, const Emit& out) {
  switch (t.kind) {
    case PreKind::ByteLevel: {
      if (t.add_prefix_space && (p.text.empty() || p.text[0] != ' ')) {
        PieceBuilder b(track);
        b.add(" ", origin_at(p, 0));
        b.add_from(p, 0, p.text.size());
        p = b.finish(p.at_start);
      }
      if (!t.use_regex) {
        out(std::move(p));
        return;
      }
      const std::vector<std::string_view> parts = pretokenize(p.text);
      for (const std::string_view v : parts) {
        const auto b = static_cast<size_t>(v.data() - p.text.data());
        out(slice(p, b, b + v.size()));
      }
      return;
    }
    case PreKind::Split: {
      if (!t.invert && t.behavior == SplitBehavior::Isolated) {
        // The common case (Llama 3, Qwen2): each match and each gap is a piece, handed on as
        // soon as it is found.
        size_t prev = 0;
        t.pattern->find_all(p.text, [&](size_t b, size_t e) {
          if (b > prev) out(slice(p, prev, b));
          if (e > b) out(slice(p, b, e));
          prev = e;
        });
        if (prev < p.text.size()) out(slice(p, prev, p.text.size()));
        return;
      }
      std::vector<std::pair<size_t, size_t>> m;
      t.pattern->find_all(p.text, [&](size_t b, size_t e) { m.emplace_back(b, e); });
      split_piece(p, cover(p.text.size(), m, t.invert), t.behavior, out);
      return;
    }
    case PreKind::Metaspace: {
      PieceBuilder b(track);
      size_t prev = 0;
      for (size_t i = 0; i < p.text.size(); ++i) {
        if (p.text[i] == ' ') {
          b.add_from(p, prev, i);
          b.add(t.replacement, origin_at(p, i));
          prev = i + 1;
        }
      }
      b.add_from(p, prev, p.text.size());
      Piece q = b.finish(p.at_start);
      const bool prepend =
          !q.text.starts_with(t.replacement) &&
          (t.prepend == PrependScheme::Always || (t.prepend == PrependScheme::First && q.at_start));
      if (prepend) {
        PieceBuilder pb(track);
        pb.add(t.replacement, origin_at(q, 0));
        pb.add_from(q, 0, q.text.size());
        q = pb.finish(q.at_start);
      }
      if (!t.split) {
        out(std::move(q));
        return;
      }
      std::vector<std::pair<size_t, size_t>> m;
      for (size_t i = q.text.find(t.replacement); i != std::string::npos;
           i = q.text.find(t.replacement, i + t.replacement.size())) {
        m.emplace_back(i, i + t.replacement.size());
      }
      split_piece(q, cover(q.text.size(), m, false), SplitBehavior::MergedWithNext, out);
      return;
    }
    case PreKind::Digits: {
      const auto m = char_matches(p.text, [](char32_t c) {
        const auto g = general_category(c);
        return g == GeneralCategory::Nd || g == GeneralCategory::Nl || g == GeneralCategory::No;
      });
      split_piece(p, cover(p.text.size(), m, false),
                  t.individual_digits ? SplitBehavior::Isolated : SplitBehavior::Contiguous, out);
      return;
    }
    case PreKind::Whitespace: {
      std::vector<std::pair<size_t, size_t>> m;
      whitespace_regex().find_all(p.text, [&](size_t b, size_t e) { m.emplace_back(b, e); });
      split_piece(p, cover(p.text.size(), m, true), SplitBehavior::Removed, out);
      return;
    }
    case PreKind::WhitespaceSplit: {
      const auto m = char_matches(p.text, [](char32_t c) { return is_whitespace(c); });
      split_piece(p, cover(p.text.size(), m, false), SplitBehavior::Removed, out);
      return;
    }
    case PreKind::Punctuation: {
      const auto m = char_matches(p.text, [](char32_t c) {
        if (c < 128) return std::ispunct(static_cast<int>(c)) != 0;
        const auto g = static_cast<int>(general_category(c));
        return g >= static_cast<int>(GeneralCategory::Pc) &&
               g <= static_cast<int>(GeneralCategory::Po);
      });
      split_piece(p, cover(p.text.size(), m, false), t.behavior, out);
      return;
    }
  }
}

// ---- Added tokens ---------------------------------------------------------------------------

struct AddedToken {
  std::string content;  // as matched (normalized content for normalized tokens)
  int32_t id;
  bool single_word;
  bool lstrip;
  bool rstrip;
};

bool is_word_char(char32_t c) {
  const auto g = general_category(c);
  return g <= GeneralCategory::Me || g == GeneralCategory::Nd || g == GeneralCategory::Nl ||
         g == GeneralCategory::Pc;
}

// Leftmost-longest matching of a set of strings (Aho-Corasick MatchKind::LeftmostLongest).
class AddedMatcher {
 public:
  void add(AddedToken t) {
    if (t.content.empty()) return;
    tokens_.push_back(std::move(t));
  }
  void finish() {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      by_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(static_cast<int>(i));
    }
    for (auto& v : by_byte_) {
      std::stable_sort(v.begin(), v.end(), [&](int a, int b) {
        return tokens_[a].content.size() > tokens_[b].content.size();
      });
    }
  }
  bool empty() const { return tokens_.empty(); }

  // Splits p as AddedVocabulary::find_matches + split_with_indices do.
  void split(const Piece& p, std::vector<Piece>* out) const {
    const std::string& s = p.text;
    size_t start_offset = 0;
    size_t pos = 0;
    while (pos < s.size()) {
      const auto& cands = by_byte_[static_cast<unsigned char>(s[pos])];
      const AddedToken* hit = nullptr;
      for (const int k : cands) {
        const std::string& c = tokens_[k].content;
        if (s.compare(pos, c.size(), c) == 0) {
          hit = &tokens_[k];
          break;
        }
      }
      if (hit == nullptr) {
        ++pos;
        continue;
      }
      size_t start = pos;
      size_t stop = pos + hit->content.size();
      pos = stop;  // the next match search starts after this match
      if (hit->single_word) {
        bool start_space = true;
        if (start > 0) {
          size_t q = start - 1;
          while (q > 0 && (static_cast<unsigned char>(s[q]) & 0xC0) == 0x80) --q;
          size_t len = 0;
          start_space = !is_word_char(decode_utf8(s, q, &len));
        }
        bool stop_space = true;
        if (stop < s.size()) {
          size_t len = 0;
          stop_space = !is_word_char(decode_utf8(s, stop, &len));
        }
        if (!start_space || !stop_space) continue;
      }
      if (hit->lstrip) {
        size_t b = start;
        while (b > 0) {
          size_t q = b - 1;
          while (q > 0 && (static_cast<unsigned char>(s[q]) & 0xC0) == 0x80) --q;
          size_t len = 0;
          if (!is_whitespace(decode_utf8(s, q, &len))) break;
          b = q;
        }
        start = std::max(b, start_offset);
      }
      if (hit->rstrip) {
        while (stop < s.size()) {
          size_t len = 0;
          if (!is_whitespace(decode_utf8(s, stop, &len))) break;
          stop += len;
        }
        pos = std::max(pos, stop);
      }
      start = std::max(start, start_offset);
      if (start > start_offset) out->push_back(slice(p, start_offset, start));
      Piece t;
      t.token = hit->id;
      if (!p.origin.empty()) t.origin.push_back(origin_at(p, start));
      out->push_back(std::move(t));
      start_offset = stop;
    }
    if (start_offset < s.size()) out->push_back(slice(p, start_offset, s.size()));
  }

 private:
  std::vector<AddedToken> tokens_;
  std::array<std::vector<int>, 256> by_byte_;
};

// ---- BPE model ------------------------------------------------------------------------------

constexpr size_t kShortWord = 64;  // symbols; longer words use the heap
constexpr size_t kMaxCachedPiece = 256;
constexpr size_t kMaxCacheEntries = 1 << 20;

struct Sym {
  int32_t id;
  uint32_t start;  // byte offset in the piece
};

class BpeModel {
 public:
  bool byte_level = false;  // symbols are bytes; keys are the raw bytes of GPT-2 byte symbols
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
  int32_t unk = -1;
  std::vector<std::string> keys;  // id -> model key ("" when not a model token)
  TokenIndex index;               // over keys
  MergeTable merges;
  std::array<int32_t, 256> fallback{};  // <0xXX> token ids, -1 when absent
  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache;

  int32_t find(std::string_view key) const { return index.find(key, keys); }

  void encode(std::string_view piece, std::vector<int32_t>* ids,
              std::vector<uint32_t>* starts) const {
    if (piece.empty()) return;
    if (ignore_merges) {
      if (const int32_t id = find(piece); id >= 0) {
        ids->push_back(id);
        if (starts) starts->push_back(0);
        return;
      }
    }
    const bool cacheable = starts == nullptr && piece.size() <= kMaxCachedPiece;
    if (cacheable) {
      std::shared_lock lock(cache_mutex);
      const auto it = cache.find(piece);
      if (it != cache.end()) {
        ids->insert(ids->end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<Sym> word = initial_symbols(piece);
    merge(&word);
    const size_t first = ids->size();
    for (const Sym& s : word) {
      ids->push_back(s.id);
      if (starts) starts->push_back(s.start);
    }
    if (cacheable) {
      std::unique_lock lock(cache_mutex);
      if (cache.size() < kMaxCacheEntries) {
        cache.try_emplace(std::string(piece), ids->begin() + static_cast<std::ptrdiff_t>(first),
                          ids->end());
      }
    }
  }

 private:
  // BPE::merge_word before merging: one symbol per character (byte), with byte fallback and
  // (fused) unknown tokens.
  std::vector<Sym> initial_symbols(std::string_view w) const {
    std::vector<Sym> word;
    word.reserve(w.size());
    bool pending = false;
    uint32_t pending_start = 0;
    for (size_t i = 0; i < w.size();) {
      const size_t len = byte_level ? 1 : utf8_len(static_cast<unsigned char>(w[i]));
      const std::string_view ch = w.substr(i, len);
      const int32_t id = find(ch);
      const auto start = static_cast<uint32_t>(i);
      i += len;
      if (id >= 0) {
        if (pending) {
          word.push_back({unk, pending_start});
          pending = false;
        }
        word.push_back({id, start});
        continue;
      }
      if (byte_fallback) {
        bool all = true;
        for (const char b : ch) all = all && fallback[static_cast<unsigned char>(b)] >= 0;
        if (all) {
          for (size_t k = 0; k < ch.size(); ++k) {
            word.push_back(
                {fallback[static_cast<unsigned char>(ch[k])], start + static_cast<uint32_t>(k)});
          }
          continue;
        }
      }
      if (unk >= 0) {
        if (pending && !fuse_unk) word.push_back({unk, pending_start});
        if (!pending || !fuse_unk) pending_start = start;
        pending = true;
      }
    }
    if (pending) word.push_back({unk, pending_start});
    return word;
  }

  // Word::merge_all: repeatedly merge the adjacent pair of lowest (rank, position).
  void merge(std::vector<Sym>* word) const {
    std::vector<Sym>& w = *word;
    if (w.size() < 2) return;
    if (w.size() <= kShortWord) {
      while (w.size() > 1) {
        const Merge* best = nullptr;
        size_t at = 0;
        for (size_t i = 0; i + 1 < w.size(); ++i) {
          const Merge* m = merges.find(pair_key(w[i].id, w[i + 1].id));
          if (m != nullptr && (best == nullptr || m->rank < best->rank)) {
            best = m;
            at = i;
          }
        }
        if (best == nullptr) break;
        w[at].id = best->merged;
        w.erase(w.begin() + static_cast<std::ptrdiff_t>(at) + 1);
      }
      return;
    }
    const int n = static_cast<int>(w.size());
    std::vector<int> prev(n);
    std::vector<int> next(n);
    std::vector<char> alive(n, 1);
    for (int i = 0; i < n; ++i) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    // An entry is stale when the pair at its position changed; comparing the pair's ids is the
    // same test as HF's (the merged token's id), since a token's text determines its id.
    struct Entry {
      int32_t rank;
      int pos;
      int32_t left;
      int32_t right;
      int32_t merged;
      bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
    auto push = [&](int p) {
      if (p < 0 || next[p] < 0) return;
      if (const Merge* m = merges.find(pair_key(w[p].id, w[next[p]].id)))
        heap.push({m->rank, p, w[p].id, w[next[p]].id, m->merged});
    };
    for (int i = 0; i + 1 < n; ++i) push(i);
    while (!heap.empty()) {
      const Entry e = heap.top();
      heap.pop();
      const int p = e.pos;
      if (!alive[p] || next[p] < 0) continue;
      const int q = next[p];
      if (w[p].id != e.left || w[q].id != e.right) continue;
      w[p].id = e.merged;
      alive[q] = 0;
      next[p] = next[q];
      if (next[q] >= 0) prev[next[q]] = p;
      push(prev[p]);
      push(p);
    }
    std::vector<Sym> out;
    for (int i = 0; i >= 0; i = next[i]) out.push_back(w[i]);
    w = std::move(out);
  }
};

}  // namespace

// ---- The pipeline ---------------------------------------------------------------------------

class JsonPipeline {
 public:
  std::vector<Normalizer> normalizers;
  std::vector<PreTokenizer> pre_tokenizers;
  AddedMatcher raw_added;         // matched in the input text
  AddedMatcher normalized_added;  // matched in the normalized text
  BpeModel model;

  void encode(std::string_view text, std::vector<int32_t>* ids,
              std::vector<std::pair<size_t, size_t>>* offsets) const {
    if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
      size_t len = 0;
      (void)decode_utf8(text, bad, &len);  // throws, naming the offset
    }
    const bool track = offsets != nullptr;
    std::vector<uint32_t> begins;  // per id: input offset of its first byte (tracking)
    Piece root;
    root.text.assign(text);
    root.at_start = true;
    if (track) {
      root.origin.resize(text.size());
      for (size_t i = 0; i < text.size(); ++i) root.origin[i] = static_cast<uint32_t>(i);
    }
    std::vector<Piece> segments;
    if (raw_added.empty()) {
      if (!root.text.empty()) segments.push_back(std::move(root));
    } else {
      raw_added.split(root, &segments);
    }
    std::vector<Piece> subsegments;
    std::vector<uint32_t> starts;
    // Pre-tokenizer k on a piece, each resulting piece on to k + 1, and the model at the end:
    // depth first, so no stage holds more than one piece's results.
    std::function<void(size_t, Piece &&)> run_stage = [&](size_t k, Piece&& p) {
      if (k == pre_tokenizers.size()) {
        if (!track) {
          model.encode(p.text, ids, nullptr);
          return;
        }
        starts.clear();
        model.encode(p.text, ids, &starts);
        for (const uint32_t s : starts) begins.push_back(origin_at(p, s));
        return;
      }
      pre_tokenize_one(pre_tokenizers[k], std::move(p), track,
                       [&](Piece&& q) { run_stage(k + 1, std::move(q)); });
    };
    for (Piece& seg : segments) {
      if (seg.token >= 0) {
        emit_token(seg, ids, track ? &begins : nullptr);
        continue;
      }
      for (const Normalizer& n : normalizers) seg = normalize_one(n, std::move(seg), track);
      subsegments.clear();
      if (seg.text.empty()) continue;
      if (normalized_added.empty()) {
        subsegments.push_back(std::move(seg));
      } else {
        normalized_added.split(seg, &subsegments);
      }
      for (Piece& sub : subsegments) {
        if (sub.token >= 0) {
          emit_token(sub, ids, track ? &begins : nullptr);
          continue;
        }
        run_stage(0, std::move(sub));
      }
    }
    if (!track) return;
    // Spans: from each token's first input byte (snapped to its character, kept in order) to
    // the next token's; the first starts at 0 and the last ends at the text's end.
    offsets->clear();
    offsets->reserve(ids->size());
    auto snap = [&](size_t p) {
      while (p > 0 && p < text.size() && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
      return p;
    };
    size_t prev = 0;
    std::vector<size_t> b(begins.size());
    for (size_t i = 0; i < begins.size(); ++i) {
      prev = std::max(prev, i == 0 ? size_t{0} : snap(begins[i]));
      b[i] = prev;
    }
    for (size_t i = 0; i < b.size(); ++i) {
      offsets->emplace_back(b[i], i + 1 < b.size() ? b[i + 1] : text.size());
    }
  }

 private:
  static void emit_token(const Piece& p, std::vector<int32_t>* ids, std::vector<uint32_t>* begins) {
    ids->push_back(p.token);
    if (begins) begins->push_back(p.origin.empty() ? 0 : p.origin[0]);
  }
};

namespace {

// ---- JSON reading with paths ----------------------------------------------------------------

class Reader {
 public:
  explicit Reader(const std::string& name) : name_(name) {}

  [[noreturn]] void fail(const std::string& path, const std::string& problem,
                         const std::string& hint = kHint) const {
    throw Error(path.empty() ? name_ : name_ + ": " + path, problem, hint);
  }

  static std::string type_name(const json& v) {
    return v.is_null()      ? "null"
           : v.is_string()  ? "a string"
           : v.is_boolean() ? "a boolean"
           : v.is_number()  ? "a number"
           : v.is_array()   ? "an array"
                            : "an object";
  }
  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  const json& object(const json& v, const std::string& path) const {
    if (!v.is_object()) fail(path, "expected an object, got " + type_name(v));
    return v;
  }
  const json& array(const json& v, const std::string& path) const {
    if (!v.is_array()) fail(path, "expected an array, got " + type_name(v));
    return v;
  }
  // The member (null when absent).
  const json& member(const json& obj, const std::string& key) const {
    static const json null_value;
    const auto it = obj.find(key);
    return it == obj.end() ? null_value : *it;
  }
  const json& required(const json& obj, const std::string& key, const std::string& path) const {
    const auto it = obj.find(key);
    if (it == obj.end()) fail(join(path, key), "is missing");
    return *it;
  }
  std::string string(const json& obj, const std::string& key, const std::string& path,
                     std::optional<std::string> fallback = std::nullopt) const {
    const json& v = member(obj, key);
    if (v.is_null()) {
      if (fallback) return *fallback;
      fail(join(path, key), "is missing");
    }
    if (!v.is_string()) fail(join(path, key), "expected a string, got " + type_name(v));
    return v.get<std::string>();
  }
  bool boolean(const json& obj, const std::string& key, const std::string& path,
               bool fallback) const {
    const json& v = member(obj, key);
    if (v.is_null()) return fallback;
    if (!v.is_boolean()) fail(join(path, key), "expected true or false, got " + type_name(v));
    return v.get<bool>();
  }
  int32_t id(const json& v, const std::string& path) const {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= INT32_MAX) {
      fail(path, "expected a token id (an integer in 0..2^31-2), got " + v.dump());
    }
    return static_cast<int32_t>(v.get<int64_t>());
  }
  std::string type(const json& obj, const std::string& path) const {
    object(obj, path);
    return string(obj, "type", path);
  }
  [[noreturn]] void unsupported(const std::string& path, const std::string& what,
                                const std::string& type, const std::string& supported) const {
    fail(join(path, "type"), "\"" + type + "\" is not a supported " + what,
         "supported: " + supported + "; see docs/tokenizer.md");
  }

  // A {"String": s} or {"Regex": r} pattern.
  std::shared_ptr<const Regex> pattern(const json& obj, const std::string& key,
                                       const std::string& path) const {
    const std::string p = join(path, key);
    const json& v = required(obj, key, path);
    object(v, p);
    if (v.contains("String")) {
      const json& s = v["String"];
      if (!s.is_string()) fail(p + ".String", "expected a string, got " + type_name(s));
      if (s.get<std::string>().empty()) fail(p + ".String", "is empty");
      return std::make_shared<const Regex>(Regex::literal(s.get<std::string>()));
    }
    if (v.contains("Regex")) {
      const json& r = v["Regex"];
      if (!r.is_string()) fail(p + ".Regex", "expected a string, got " + type_name(r));
      try {
        return std::make_shared<const Regex>(Regex::compile(r.get<std::string>()));
      } catch (const Error& e) {
        fail(p + ".Regex", "cannot run the regex: " + e.problem(),
             "the engine runs the subset of Oniguruma listed in docs/tokenizer.md");
      }
    }
    fail(p, "expected {\"String\": ...} or {\"Regex\": ...}");
  }

 private:
  const std::string& name_;
};

constexpr int kMaxNesting = 32;  // Sequence inside Sequence ...

void read_normalizer(const Reader& r, const json& v, const std::string& path,
                     std::vector<Normalizer>* out, std::vector<std::string>* names, int depth = 0) {
  if (v.is_null()) return;
  if (depth > kMaxNesting) r.fail(path, "Sequences nested too deeply");
  const std::string type = r.type(v, path);
  Normalizer n{};
  if (type == "Sequence") {
    const json& list =
        r.array(r.required(v, "normalizers", path), Reader::join(path, "normalizers"));
    for (size_t i = 0; i < list.size(); ++i) {
      read_normalizer(r, list[i], Reader::index(Reader::join(path, "normalizers"), i), out, names,
                      depth + 1);
    }
    return;
  }
  if (type == "NFC") {
    n.kind = NormKind::Nfc;
  } else if (type == "Lowercase") {
    n.kind = NormKind::Lowercase;
  } else if (type == "Strip") {
    n.kind = NormKind::Strip;
    n.left = r.boolean(v, "strip_left", path, true);
    n.right = r.boolean(v, "strip_right", path, true);
  } else if (type == "Prepend") {
    n.kind = NormKind::Prepend;
    n.text = r.string(v, "prepend", path);
  } else if (type == "Replace") {
    n.kind = NormKind::Replace;
    n.pattern = r.pattern(v, "pattern", path);
    n.text = r.string(v, "content", path);
  } else {
    r.unsupported(path, "normalizer", type,
                  "NFC, Lowercase, Strip, Prepend, Replace, Sequence (not NFD/NFKC/NFKD, "
                  "BertNormalizer, Precompiled)");
  }
  names->push_back(type);
  out->push_back(std::move(n));
}

SplitBehavior read_behavior(const Reader& r, const json& v, const std::string& path) {
  const std::string b = r.string(v, "behavior", path, std::string("Isolated"));
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  r.fail(Reader::join(path, "behavior"), "\"" + b + "\" is not a split behavior",
         "use Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
}

void read_pre_tokenizer(const Reader& r, const json& v, const std::string& path,
                        std::vector<PreTokenizer>* out, std::vector<std::string>* names,
                        int depth = 0) {
  if (v.is_null()) return;
  if (depth > kMaxNesting) r.fail(path, "Sequences nested too deeply");
  const std::string type = r.type(v, path);
  if (type == "Sequence") {
    const std::string lp = Reader::join(path, "pretokenizers");
    const json& list = r.array(r.required(v, "pretokenizers", path), lp);
    for (size_t i = 0; i < list.size(); ++i) {
      read_pre_tokenizer(r, list[i], Reader::index(lp, i), out, names, depth + 1);
    }
    return;
  }
  if (!out->empty() && out->back().kind == PreKind::ByteLevel) {
    r.fail(Reader::join(path, "type"),
           "\"" + type + "\" after a ByteLevel pre-tokenizer is not supported",
           "ByteLevel must be the last pre-tokenizer");
  }
  PreTokenizer t{};
  if (type == "ByteLevel") {
    t.kind = PreKind::ByteLevel;
    t.add_prefix_space = r.boolean(v, "add_prefix_space", path, true);
    t.use_regex = r.boolean(v, "use_regex", path, true);
    names->push_back(std::string("ByteLevel(") + (t.use_regex ? "regex" : "no regex") +
                     (t.add_prefix_space ? ", prefix space)" : ")"));
  } else if (type == "Split") {
    t.kind = PreKind::Split;
    t.pattern = r.pattern(v, "pattern", path);
    t.behavior = read_behavior(r, v, path);
    t.invert = r.boolean(v, "invert", path, false);
    names->push_back("Split");
  } else if (type == "Metaspace") {
    t.kind = PreKind::Metaspace;
    t.replacement = r.string(v, "replacement", path, std::string("\xE2\x96\x81"));
    if (t.replacement.empty() || find_invalid_utf8(t.replacement) != std::string_view::npos ||
        utf8_len(static_cast<unsigned char>(t.replacement[0])) != t.replacement.size()) {
      r.fail(Reader::join(path, "replacement"), "must be one character");
    }
    const json& scheme = r.member(v, "prepend_scheme");
    if (scheme.is_null()) {
      t.prepend = r.boolean(v, "add_prefix_space", path, true) ? PrependScheme::Always
                                                               : PrependScheme::Never;
    } else {
      const std::string s = r.string(v, "prepend_scheme", path);
      if (s == "always") {
        t.prepend = PrependScheme::Always;
      } else if (s == "first") {
        t.prepend = PrependScheme::First;
      } else if (s == "never") {
        t.prepend = PrependScheme::Never;
      } else {
        r.fail(Reader::join(path, "prepend_scheme"), "\"" + s + "\" is not a prepend scheme",
               "use always, first or never");
      }
    }
    t.split = r.boolean(v, "split", path, true);
    names->push_back("Metaspace");
  } else if (type == "Digits") {
    t.kind = PreKind::Digits;
    t.individual_digits = r.boolean(v, "individual_digits", path, false);
    names->push_back("Digits");
  } else if (type == "Whitespace") {
    t.kind = PreKind::Whitespace;
    names->push_back(type);
  } else if (type == "WhitespaceSplit") {
    t.kind = PreKind::WhitespaceSplit;
    names->push_back(type);
  } else if (type == "Punctuation") {
    t.kind = PreKind::Punctuation;
    t.behavior = read_behavior(r, v, path);
    names->push_back(type);
  } else {
    r.unsupported(path, "pre-tokenizer", type,
                  "ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit, "
                  "Punctuation, Sequence");
  }
  out->push_back(std::move(t));
}

// The post-processor's tokens before and after the sequence (encode with special tokens).
void read_post_processor(const Reader& r, const json& v, const std::string& path,
                         const std::unordered_map<std::string, int32_t>& token_ids,
                         std::vector<int32_t>* prefix, std::vector<int32_t>* suffix,
                         std::vector<std::string>* names, int depth = 0) {
  if (v.is_null()) return;
  if (depth > kMaxNesting) r.fail(path, "Sequences nested too deeply");
  const std::string type = r.type(v, path);
  if (type == "Sequence") {
    const std::string lp = Reader::join(path, "processors");
    const json& list = r.array(r.required(v, "processors", path), lp);
    for (size_t i = 0; i < list.size(); ++i) {
      read_post_processor(r, list[i], Reader::index(lp, i), token_ids, prefix, suffix, names,
                          depth + 1);
    }
    return;
  }
  if (type == "ByteLevel") {
    names->push_back("ByteLevel (offsets only)");
    return;
  }
  if (type == "TemplateProcessing") {
    const std::string sp = Reader::join(path, "single");
    const json& single = r.array(r.required(v, "single", path), sp);
    const json& specials = r.member(v, "special_tokens");
    bool seen_sequence = false;
    std::string shown;
    for (size_t i = 0; i < single.size(); ++i) {
      const std::string ip = Reader::index(sp, i);
      const json& item = r.object(single[i], ip);
      if (item.contains("Sequence")) {
        if (seen_sequence) r.fail(ip, "a second Sequence in the single template");
        seen_sequence = true;
        shown += shown.empty() ? "$A" : " $A";
        continue;
      }
      if (!item.contains("SpecialToken")) r.fail(ip, "expected Sequence or SpecialToken");
      const json& st = r.object(item["SpecialToken"], ip + ".SpecialToken");
      const std::string name = r.string(st, "id", ip + ".SpecialToken");
      const json& entry = specials.is_object() ? r.member(specials, name) : json();
      if (entry.is_null()) {
        r.fail(ip + ".SpecialToken.id", "\"" + name + "\" is not in special_tokens");
      }
      const std::string ep = Reader::join(Reader::join(path, "special_tokens"), name);
      const json& ids = r.array(r.required(entry, "ids", ep), ep + ".ids");
      for (size_t k = 0; k < ids.size(); ++k) {
        (seen_sequence ? suffix : prefix)->push_back(r.id(ids[k], Reader::index(ep + ".ids", k)));
      }
      shown += (shown.empty() ? "" : " ") + name;
    }
    if (!seen_sequence) r.fail(sp, "has no Sequence item");
    names->push_back("TemplateProcessing(" + shown + ")");
    return;
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto pair_id = [&](const char* key) {
      const std::string kp = Reader::join(path, key);
      const json& p = r.array(r.required(v, key, path), kp);
      if (p.size() != 2 || !p[0].is_string()) r.fail(kp, "expected [\"token\", id]");
      return r.id(p[1], Reader::index(kp, 1));
    };
    prefix->push_back(pair_id("cls"));
    suffix->push_back(pair_id("sep"));
    names->push_back(type);
    return;
  }
  (void)token_ids;
  r.unsupported(path, "post-processor", type,
                "TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence");
}

// Is `key` a byte-fallback token "<0xXX>"? Sets *byte.
bool fallback_byte(std::string_view key, unsigned char* byte) {
  if (key.size() != 6 || !key.starts_with("<0x") || key[5] != '>') return false;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = key[i];
    int d = 0;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = v * 16 + d;
  }
  *byte = static_cast<unsigned char>(v);
  return true;
}

void replace_all_text(std::string* s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t i = s->find(from); i != std::string::npos; i = s->find(from, i + to.size())) {
    s->replace(i, from.size(), to);
  }
}

}  // namespace

void encode_json(const JsonPipeline& pipeline, std::string_view text, std::vector<int32_t>* ids,
                 std::vector<std::pair<size_t, size_t>>* offsets) {
  pipeline.encode(text, ids, offsets);
}

namespace {
JsonTokenizerParts parse_document(std::string_view text, const std::string& name);
}  // namespace

JsonTokenizerParts parse_tokenizer_json(std::string_view text, const std::string& name) {
  try {
    return parse_document(text, name);
  } catch (const json::exception& e) {  // a type the checks above did not foresee
    throw Error(name, std::string("malformed tokenizer.json: ") + e.what(),
                "check the file is a tokenizer.json written by Hugging Face tokenizers");
  }
}

namespace {
JsonTokenizerParts parse_document(std::string_view text, const std::string& name) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::out_of_range& e) {
    throw Error(name, std::string("invalid JSON: ") + e.what(),
                "check the file is a complete tokenizer.json");
  } catch (const json::parse_error& e) {
    size_t line = 1;
    size_t col = 1;
    const size_t at = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    for (size_t i = 0; i < at; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    if (const size_t p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    throw Error(name + ":" + std::to_string(line) + ":" + std::to_string(col),
                "invalid JSON: " + what, "check the file is a complete tokenizer.json");
  }
  const Reader r(name);
  r.object(doc, "");
  auto pipeline = std::make_shared<JsonPipeline>();
  JsonTokenizerParts parts;

  // model
  const json& m = r.required(doc, "model", "");
  const std::string model_type =
      r.string(r.object(m, "model"), "type", "model", std::string("BPE"));
  if (model_type != "BPE") {
    r.unsupported("model", "model", model_type, "BPE (not WordPiece, Unigram or WordLevel)");
  }
  if (const json& d = r.member(m, "dropout");
      !d.is_null() && !(d.is_number() && d.get<double>() == 0.0)) {
    r.fail("model.dropout", "BPE dropout " + d.dump() + " is not supported",
           "set dropout to null (encoding must be deterministic)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& v = r.member(m, key);
    if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty())) {
      r.fail(std::string("model.") + key,
             "a non-empty " + std::string(key) + " " + v.dump() + " is not supported",
             "only byte-level and SentencePiece-style BPE vocabularies are supported");
    }
  }
  BpeModel& bpe = pipeline->model;
  bpe.byte_fallback = r.boolean(m, "byte_fallback", "model", false);
  bpe.fuse_unk = r.boolean(m, "fuse_unk", "model", false);
  bpe.ignore_merges = r.boolean(m, "ignore_merges", "model", false);

  // pre-tokenizers, normalizers (needed before the vocabulary: ByteLevel decides the keys)
  std::vector<std::string> norm_names;
  std::vector<std::string> pre_names;
  read_normalizer(r, r.member(doc, "normalizer"), "normalizer", &pipeline->normalizers,
                  &norm_names);
  read_pre_tokenizer(r, r.member(doc, "pre_tokenizer"), "pre_tokenizer", &pipeline->pre_tokenizers,
                     &pre_names);
  bpe.byte_level = !pipeline->pre_tokenizers.empty() &&
                   pipeline->pre_tokenizers.back().kind == PreKind::ByteLevel;

  // vocabulary
  const json& vocab = r.object(r.required(m, "vocab", "model"), "model.vocab");
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    max_id = std::max<int64_t>(max_id, r.id(it.value(), "model.vocab." + it.key()));
  }
  const json& added = r.member(doc, "added_tokens");
  if (!added.is_null()) r.array(added, "added_tokens");
  for (size_t i = 0; i < added.size(); ++i) {
    const std::string ap = Reader::index("added_tokens", i);
    r.object(added[i], ap);
    max_id = std::max<int64_t>(max_id, r.id(r.required(added[i], "id", ap), ap + ".id"));
  }
  if (max_id < 0) r.fail("model.vocab", "is empty");
  if (max_id > 16 * static_cast<int64_t>(vocab.size() + added.size()) + 1024) {
    r.fail("model.vocab", "ids are too sparse (max id " + std::to_string(max_id) + ")",
           "ids should be 0..N-1");
  }
  const auto n_ids = static_cast<size_t>(max_id + 1);
  bpe.keys.assign(n_ids, std::string());
  parts.id_to_bytes.assign(n_ids, std::string());
  parts.id_present.assign(n_ids, false);
  std::vector<bool> in_model(n_ids, false);
  std::unordered_map<std::string, int32_t> raw_key_to_id;  // JSON keys, for merges
  std::vector<const std::string*> raw_key(n_ids, nullptr);
  raw_key_to_id.reserve(vocab.size());
  bpe.fallback.fill(-1);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int32_t id = it.value().get<int32_t>();
    const std::string& key = it.key();
    if (in_model[id]) {
      r.fail("model.vocab." + key, "id " + std::to_string(id) + " is also used by another token",
             "ids must be unique");
    }
    if (key.empty()) r.fail("model.vocab", "has an empty token");
    in_model[id] = true;
    raw_key[id] = &key;
    raw_key_to_id.emplace(key, id);
    unsigned char byte = 0;
    if (bpe.byte_fallback && fallback_byte(key, &byte)) bpe.fallback[byte] = id;
    if (bpe.byte_level) {
      std::string bytes;
      char32_t bad = 0;
      if (append_symbol_bytes(key, &bytes, &bad)) bpe.keys[id] = std::move(bytes);
    } else {
      bpe.keys[id] = key;
    }
  }
  bpe.index.reset(n_ids);
  for (size_t id = 0; id < n_ids; ++id) {
    if (in_model[id] && !bpe.keys[id].empty()) {
      if (bpe.find(bpe.keys[id]) >= 0) {
        r.fail("model.vocab", "two tokens have the same bytes \"" + bpe.keys[id] + "\"");
      }
      bpe.index.insert(static_cast<int32_t>(id), bpe.keys);
    }
  }
  if (const json& unk = r.member(m, "unk_token"); !unk.is_null()) {
    const std::string u = r.string(m, "unk_token", "model");
    const auto it = raw_key_to_id.find(u);
    if (it == raw_key_to_id.end()) {
      r.fail("model.unk_token", "\"" + u + "\" is not in model.vocab");
    }
    bpe.unk = it->second;
  }

  // merges: "a b" strings or ["a", "b"] pairs; rank = position; a later duplicate wins.
  const json& merges = r.array(r.required(m, "merges", "model"), "model.merges");
  bpe.merges.reset(merges.size());
  Fnv1a merge_fp;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string mp = Reader::index("model.merges", i);
    const json& e = merges[i];
    std::string a;
    std::string b;
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        r.fail(mp, "expected two tokens separated by one space, got \"" + s + "\"");
      }
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      r.fail(mp, "expected \"a b\" or [\"a\", \"b\"], got " + e.dump());
    }
    const auto ia = raw_key_to_id.find(a);
    const auto ib = raw_key_to_id.find(b);
    const auto iab = raw_key_to_id.find(a + b);
    const auto missing = ia == raw_key_to_id.end()    ? a
                         : ib == raw_key_to_id.end()  ? b
                         : iab == raw_key_to_id.end() ? a + b
                                                      : std::string();
    if (ia == raw_key_to_id.end() || ib == raw_key_to_id.end() || iab == raw_key_to_id.end()) {
      r.fail(mp, "token \"" + missing + "\" is not in model.vocab",
             "use the vocabulary and merges of the same tokenizer");
    }
    bpe.merges.insert_or_assign(pair_key(ia->second, ib->second),
                                {static_cast<int32_t>(i), iab->second});
    merge_fp.add_u32(static_cast<uint32_t>(ia->second));
    merge_fp.add_u32(static_cast<uint32_t>(ib->second));
  }

  // decoder: how a model token's key becomes text bytes
  std::vector<std::pair<std::string, std::string>> replaces;
  bool decode_byte_fallback = bpe.byte_fallback;
  bool decode_byte_level = bpe.byte_level;
  {
    std::vector<const json*> decoders;
    const json& d = r.member(doc, "decoder");
    if (d.is_object() && d.contains("type") && d["type"] == "Sequence" && d.contains("decoders") &&
        d["decoders"].is_array()) {
      for (const json& x : d["decoders"]) decoders.push_back(&x);
    } else if (d.is_object()) {
      decoders.push_back(&d);
    }
    // A string member or "" (the decoder only guides token_bytes; it is not validated).
    auto str = [](const json& obj, const char* key) {
      const auto it = obj.find(key);
      return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    for (const json* x : decoders) {
      if (!x->is_object()) continue;
      const std::string t = str(*x, "type");
      if (t == "ByteLevel") decode_byte_level = true;
      if (t == "ByteFallback") decode_byte_fallback = true;
      const auto pattern = x->find("pattern");
      if (t == "Replace" && pattern != x->end() && pattern->is_object() &&
          !str(*pattern, "String").empty()) {
        replaces.emplace_back(str(*pattern, "String"), str(*x, "content"));
      }
      if (t == "Metaspace") {
        const std::string rep = str(*x, "replacement");
        replaces.emplace_back(rep.empty() ? std::string("\xE2\x96\x81") : rep, " ");
      }
    }
    if (decoders.empty()) {
      for (const PreTokenizer& t : pipeline->pre_tokenizers) {
        if (t.kind == PreKind::Metaspace) replaces.emplace_back(t.replacement, " ");
      }
    }
  }
  for (size_t id = 0; id < n_ids; ++id) {
    if (!in_model[id]) continue;
    parts.id_present[id] = true;
    if (bpe.byte_level && !bpe.keys[id].empty()) {
      parts.id_to_bytes[id] = bpe.keys[id];
      continue;
    }
    std::string key = *raw_key[id];
    unsigned char byte = 0;
    if (decode_byte_fallback && fallback_byte(key, &byte)) {
      parts.id_to_bytes[id] = std::string(1, static_cast<char>(byte));
      continue;
    }
    if (decode_byte_level && !bpe.byte_level) {
      std::string bytes;
      char32_t bad = 0;
      if (append_symbol_bytes(key, &bytes, &bad)) {
        parts.id_to_bytes[id] = std::move(bytes);
        continue;
      }
    }
    for (const auto& [from, to] : replaces) replace_all_text(&key, from, to);
    parts.id_to_bytes[id] = std::move(key);
  }

  // added tokens
  std::unordered_map<std::string, int32_t> token_ids;  // added token content -> id
  Fnv1a fp;
  for (size_t i = 0; i < added.size(); ++i) {
    const std::string ap = Reader::index("added_tokens", i);
    const json& t = added[i];
    AddedToken tok{};
    tok.id = r.id(t["id"], ap + ".id");
    tok.content = r.string(t, "content", ap);
    if (tok.content.empty()) r.fail(ap + ".content", "is empty");
    if (find_invalid_utf8(tok.content) != std::string_view::npos) {
      r.fail(ap + ".content", "is not valid UTF-8");
    }
    tok.single_word = r.boolean(t, "single_word", ap, false);
    tok.lstrip = r.boolean(t, "lstrip", ap, false);
    tok.rstrip = r.boolean(t, "rstrip", ap, false);
    const bool special = r.boolean(t, "special", ap, false);
    const bool normalized = r.boolean(t, "normalized", ap, !special);
    const auto [it, inserted] = token_ids.emplace(tok.content, tok.id);
    if (!inserted) continue;  // HF keeps the first
    if (!in_model[tok.id] || parts.id_to_bytes[tok.id].empty()) {
      parts.id_to_bytes[tok.id] = tok.content;
    }
    parts.id_present[tok.id] = true;
    if (normalized && !pipeline->normalizers.empty()) {
      Piece p;
      p.text = tok.content;
      p.at_start = true;
      for (const Normalizer& n : pipeline->normalizers) p = normalize_one(n, std::move(p), false);
      tok.content = p.text;
      pipeline->normalized_added.add(tok);
    } else {
      pipeline->raw_added.add(tok);
    }
    fp.add_u32(static_cast<uint32_t>(tok.id));
    const std::string dumped = t.dump();
    fp.add(dumped.data(), dumped.size());
  }
  pipeline->raw_added.finish();
  pipeline->normalized_added.finish();

  // post-processor, BOS / EOS
  std::vector<std::string> post_names;
  read_post_processor(r, r.member(doc, "post_processor"), "post_processor", token_ids,
                      &parts.prefix, &parts.suffix, &post_names);
  for (const int32_t id : parts.prefix) {
    if (static_cast<size_t>(id) >= n_ids || !parts.id_present[id]) {
      r.fail("post_processor", "token id " + std::to_string(id) + " is not in the vocabulary");
    }
  }
  for (const int32_t id : parts.suffix) {
    if (static_cast<size_t>(id) >= n_ids || !parts.id_present[id]) {
      r.fail("post_processor", "token id " + std::to_string(id) + " is not in the vocabulary");
    }
  }
  // BOS / EOS by name: special added tokens first; for EOS then model tokens (GPT-2's
  // <|endoftext|> is an ordinary vocabulary entry).
  std::unordered_map<std::string, int32_t> special_ids;
  for (size_t i = 0; i < added.size(); ++i) {
    if (r.boolean(added[i], "special", "added_tokens", false)) {
      special_ids.emplace(added[i]["content"].get<std::string>(), added[i]["id"].get<int32_t>());
      parts.special.push_back(added[i]["id"].get<int32_t>());
    }
  }
  auto named = [&](std::initializer_list<const char*> names,
                   bool model_too) -> std::optional<int32_t> {
    for (const char* n : names) {
      if (const auto it = special_ids.find(n); it != special_ids.end()) return it->second;
    }
    for (const char* n : names) {
      if (!model_too) break;
      if (const auto it = raw_key_to_id.find(n); it != raw_key_to_id.end()) return it->second;
    }
    return std::nullopt;
  };
  parts.bos = !parts.prefix.empty()
                  ? std::optional<int32_t>(parts.prefix.front())
                  : named({"<|begin_of_text|>", "<bos>", "<s>", "<|startoftext|>"}, false);
  parts.eos = named({"<|end_of_text|>", "<|endoftext|>", "<eos>", "</s>"}, true);

  // token_id() preference: model tokens, then added tokens, then byte-fallback tokens
  for (size_t id = 0; id < n_ids; ++id) {
    unsigned char byte = 0;
    if (in_model[id] && !(bpe.byte_fallback && fallback_byte(bpe.keys[id], &byte))) {
      parts.lookup_order.push_back(static_cast<int32_t>(id));
    }
  }
  for (size_t id = 0; id < n_ids; ++id) {
    if (parts.id_present[id] && !in_model[id])
      parts.lookup_order.push_back(static_cast<int32_t>(id));
  }
  for (size_t id = 0; id < n_ids; ++id) {
    unsigned char byte = 0;
    if (in_model[id] && bpe.byte_fallback && fallback_byte(bpe.keys[id], &byte)) {
      parts.lookup_order.push_back(static_cast<int32_t>(id));
    }
  }

  // Fingerprint: every id's text bytes and model key, the merges, the added tokens and the
  // normalizer / pre-tokenizer / model flags / post-processor / decoder as canonical JSON.
  fp.add_u32(static_cast<uint32_t>(n_ids));
  for (size_t id = 0; id < n_ids; ++id) {
    fp.add_u32(parts.id_present[id] ? static_cast<uint32_t>(parts.id_to_bytes[id].size())
                                    : 0xFFFFFFFFu);
    fp.add(parts.id_to_bytes[id].data(), parts.id_to_bytes[id].size());
    fp.add_u32(static_cast<uint32_t>(bpe.keys[id].size()));
    fp.add(bpe.keys[id].data(), bpe.keys[id].size());
  }
  fp.add_u32(static_cast<uint32_t>(merge_fp.h));
  fp.add_u32(static_cast<uint32_t>(merge_fp.h >> 32));
  json flags = json::object();
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it.key() != "vocab" && it.key() != "merges") flags[it.key()] = it.value();
  }
  for (const json& part : {flags, r.member(doc, "normalizer"), r.member(doc, "pre_tokenizer"),
                           r.member(doc, "post_processor"), r.member(doc, "decoder")}) {
    const std::string s = part.dump();
    fp.add_u32(static_cast<uint32_t>(s.size()));
    fp.add(s.data(), s.size());
  }
  parts.fingerprint = fp.hex();

  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : "+") + x;
    return s.empty() ? std::string("none") : s;
  };
  parts.description =
      std::string("tokenizer.json BPE") + (bpe.byte_level ? " (byte-level)" : "") +
      (bpe.byte_fallback ? " (byte fallback)" : "") + ", " + std::to_string(n_ids) + " tokens, " +
      std::to_string(merges.size()) + " merges, " + std::to_string(token_ids.size()) +
      " added tokens; normalizer " + list(norm_names) + "; pre-tokenizer " + list(pre_names) +
      "; post-processor " + list(post_names) +
      (parts.prefix.empty() ? "" : " (adds BOS " + std::to_string(parts.prefix.front()) + ")") +
      " (" + name + ")";
  parts.pipeline = std::move(pipeline);
  return parts;
}

}  // namespace

}  // namespace neurolens::model::detail
