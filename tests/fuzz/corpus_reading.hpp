// Shared by the corpus fuzz targets (corpus, tokens, compressed): reads a whole corpus segment by
// segment and checks the segment contract: opening the same files with any segment size gives
// the same documents in the same order (and fails on the same document), and every Brown word
// span and token id is in range.
// Example:
//   neurolens::fuzz::check_segments(file.string(), io::CorpusFormat::Auto, 7, 0);
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io/corpus.hpp"
#include "io/error.hpp"

namespace neurolens::fuzz {

struct Reading {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> tokens;
  bool failed = false;  // a neurolens::Error ended the reading
};

// Reads every segment in order until the first error.
inline Reading read_everything(const io::Corpus& corpus) {
  Reading r;
  try {
    for (size_t s = 0; s < corpus.n_segments(); ++s) {
      corpus.read_segment(s, [&](io::Document& d) {
        for (const io::WordTag& w : d.words) {
          if (w.begin > w.end || w.end > d.text.size()) __builtin_trap();
        }
        for (int32_t id : d.tokens) {
          if (id < 0) __builtin_trap();
        }
        r.texts.push_back(std::move(d.text));
        r.tokens.push_back(std::move(d.tokens));
        return true;
      });
    }
  } catch (const Error&) {
    r.failed = true;
  }
  return r;
}

// Opens `spec` with `segment_bytes` and with one segment per file; both readings must agree.
inline void check_segments(const std::string& spec, io::CorpusFormat format, uint64_t segment_bytes,
                           int64_t vocab_size) {
  try {
    io::Corpus split = io::Corpus::open(spec, format, segment_bytes);
    io::Corpus whole = io::Corpus::open(spec, format, std::numeric_limits<uint64_t>::max());
    split.set_vocab_size(vocab_size);
    whole.set_vocab_size(vocab_size);
    const Reading a = read_everything(split);
    const Reading b = read_everything(whole);
    if (a.failed != b.failed || a.texts != b.texts || a.tokens != b.tokens) __builtin_trap();
    if (vocab_size > 0) {
      for (const auto& doc : a.tokens) {
        for (int32_t id : doc) {
          if (id >= vocab_size) __builtin_trap();
        }
      }
    }
  } catch (const Error&) {
  }
}

// Segment sizes the targets choose from (0: the default).
inline uint64_t fuzz_segment_bytes(unsigned pick) {
  static const uint64_t kSizes[] = {io::kDefaultSegmentBytes, 1, 7, 64};
  return kSizes[pick & 3];
}

}  // namespace neurolens::fuzz
