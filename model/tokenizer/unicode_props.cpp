// General categories (a two-stage table built once from the generated ranges), simple case
// folding / lowercase (binary search), and NFC (canonical decomposition, canonical ordering,
// canonical composition with the Hangul algorithm).
#include <algorithm>
#include <array>
#include <unordered_map>

#include "model/tokenizer/unicode.hpp"

namespace neurolens::model {
namespace {

// Two-stage lookup: blocks of 256 code points, identical blocks shared.
struct GcTable {
  std::vector<uint16_t> block_of;  // 0x110000 / 256 entries
  std::vector<uint8_t> blocks;     // n_blocks * 256
  GcTable() {
    std::vector<uint8_t> all(0x110000, static_cast<uint8_t>(GeneralCategory::Cn));
    for (size_t i = 0; i < detail::kGcRangeCount; ++i) {
      const auto& r = detail::kGcRanges[i];
      for (char32_t c = r.first; c <= r.last; ++c) all[c] = r.gc;
    }
    block_of.resize(0x110000 / 256);
    std::unordered_map<std::string, uint16_t> seen;
    for (size_t b = 0; b < block_of.size(); ++b) {
      std::string key(reinterpret_cast<const char*>(all.data() + b * 256), 256);
      auto [it, inserted] = seen.try_emplace(key, static_cast<uint16_t>(blocks.size() / 256));
      if (inserted) blocks.insert(blocks.end(), all.begin() + b * 256, all.begin() + b * 256 + 256);
      block_of[b] = it->second;
    }
  }
};

const GcTable& gc_table() {
  static const GcTable t;
  return t;
}

char32_t lookup_pair(const detail::CodePointPair* table, size_t n, char32_t cp) {
  const auto* end = table + n;
  const auto* it = std::lower_bound(
      table, end, cp, [](const detail::CodePointPair& p, char32_t v) { return p.from < v; });
  return it != end && it->from == cp ? it->to : cp;
}

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

const detail::Decomposition* find_decomposition(char32_t cp) {
  const auto* end = detail::kDecompositions + detail::kDecompositionCount;
  const auto* it =
      std::lower_bound(detail::kDecompositions, end, cp,
                       [](const detail::Decomposition& d, char32_t v) { return d.cp < v; });
  return it != end && it->cp == cp ? it : nullptr;
}

// Full canonical decomposition of cp appended to out (origin index `from` for each).
void decompose(char32_t cp, uint32_t from, std::u32string* out, std::vector<uint32_t>* origin) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    origin->push_back(from);
    origin->push_back(from);
    if (s % kTCount != 0) {
      out->push_back(kTBase + s % kTCount);
      origin->push_back(from);
    }
    return;
  }
  if (cp >= 0xC0) {
    if (const detail::Decomposition* d = find_decomposition(cp)) {
      decompose(d->first, from, out, origin);
      if (d->second != 0) decompose(d->second, from, out, origin);
      return;
    }
  }
  out->push_back(cp);
  origin->push_back(from);
}

const std::unordered_map<uint64_t, char32_t>& compositions() {
  static const std::unordered_map<uint64_t, char32_t> map = [] {
    std::vector<char32_t> excluded(
        detail::kCompositionExclusions,
        detail::kCompositionExclusions + detail::kCompositionExclusionCount);
    std::sort(excluded.begin(), excluded.end());
    std::unordered_map<uint64_t, char32_t> m;
    for (size_t i = 0; i < detail::kDecompositionCount; ++i) {
      const auto& d = detail::kDecompositions[i];
      if (d.second == 0 || std::binary_search(excluded.begin(), excluded.end(), d.cp)) continue;
      m.emplace((static_cast<uint64_t>(d.first) << 32) | d.second, d.cp);
    }
    return m;
  }();
  return map;
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto& m = compositions();
  const auto it = m.find((static_cast<uint64_t>(a) << 32) | b);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

GeneralCategory general_category(char32_t cp) {
  if (cp >= 0x110000) return GeneralCategory::Cn;
  const GcTable& t = gc_table();
  return static_cast<GeneralCategory>(t.blocks[size_t{t.block_of[cp >> 8]} * 256 + (cp & 0xFF)]);
}

char32_t simple_case_fold(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  return lookup_pair(detail::kCaseFold, detail::kCaseFoldCount, cp);
}

char32_t simple_lowercase(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  return lookup_pair(detail::kLowercase, detail::kLowercaseCount, cp);
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* end = detail::kCccRanges + detail::kCccRangeCount;
  const auto* it =
      std::upper_bound(detail::kCccRanges, end, cp,
                       [](char32_t v, const detail::CccRange& r) { return v < r.first; });
  if (it == detail::kCccRanges) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

std::u32string nfc(std::u32string_view in, std::vector<uint32_t>* origin) {
  std::u32string d;
  std::vector<uint32_t> org;
  d.reserve(in.size());
  org.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) decompose(in[i], static_cast<uint32_t>(i), &d, &org);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  std::vector<uint8_t> ccc(d.size());
  for (size_t i = 0; i < d.size(); ++i) ccc[i] = combining_class(d[i]);
  for (size_t i = 0; i < d.size();) {
    if (ccc[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && ccc[j] != 0) ++j;
    // Insertion sort (runs are short), stable.
    for (size_t a = i + 1; a < j; ++a) {
      for (size_t b = a; b > i && ccc[b - 1] > ccc[b]; --b) {
        std::swap(ccc[b - 1], ccc[b]);
        std::swap(d[b - 1], d[b]);
        std::swap(org[b - 1], org[b]);
      }
    }
    i = j;
  }
  // Canonical composition.
  std::u32string out;
  std::vector<uint32_t> out_org;
  std::vector<uint8_t> out_ccc;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;  // index in `out` of the last starter
  for (size_t i = 0; i < d.size(); ++i) {
    const char32_t c = d[i];
    const uint8_t cc = ccc[i];
    if (starter != std::u32string::npos) {
      // Blocked if a character between the starter and c has ccc 0 or ccc >= cc.
      const uint8_t last_cc = out.size() - 1 == starter ? 0 : out_ccc.back();
      const bool blocked = out.size() - 1 != starter && (last_cc == 0 || last_cc >= cc);
      if (!blocked) {
        if (const char32_t composed = compose_pair(out[starter], c); composed != 0) {
          out[starter] = composed;
          continue;
        }
      }
    }
    out.push_back(c);
    out_org.push_back(org[i]);
    out_ccc.push_back(cc);
    if (cc == 0) starter = out.size() - 1;
  }
  if (origin != nullptr) *origin = std::move(out_org);
  return out;
}

}  // namespace neurolens::model
