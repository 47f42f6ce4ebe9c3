// Corpus — the documents a study reads, read in segments so that each rank reads only its part.
// Owns: expanding a spec (a file, a directory, or a glob) into a sorted list of files; choosing
// the format (UTF-8 text: one file is one document; JSON Lines with a "text" field, plain or
// compressed with gzip (.jsonl.gz) or zstd (.jsonl.zst): one non-blank line is one document;
// Brown word/TAG files: one file is one document; pre-tokenized token streams: a flat
// little-endian uint16 / uint32 .bin with the end-of-text id after each document, or a 1-D .npy);
// cutting the corpus into segments from file sizes alone (no file is scanned to open a corpus);
// and reading one segment's documents, validated and converted, on demand. Every bad input
// names the file (and line, byte or token offset). read_segment() is const and thread-safe.
// Segments: a plain JSON Lines or token file is cut into byte ranges of about `segment_bytes`;
// a range owns the documents that START in it (a reader skips the partial document at its start
// and reads past its end to finish its last document), so the ranges partition the documents
// without an index. Compressed files and whole-file documents are not split; consecutive small
// files share a segment. Corpus order = segment order, then order inside the segment.
// Example:
//   Corpus c = Corpus::open("data/pile-*.jsonl.zst", CorpusFormat::Auto);
//   for (size_t s = rank; s < c.n_segments(); s += n_ranks)
//     c.read_segment(s, [&](Document& d) { use(d.text); return true; });
// Rules (auto-detection, ordering, skipped files, sidecars) are in docs/corpus.md.
#pragma once

#include "io/brown.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace neurolens::io {

enum class CorpusFormat { Auto, Text, JsonLines, Brown, Tokens };

// "auto", "text", "jsonl", "brown", "tokens".
std::string_view to_string(CorpusFormat format);
// Accepts the names above (and "jsonlines", "json-lines", "bin", "npy"); throws
// neurolens::Error otherwise.
CorpusFormat parse_corpus_format(std::string_view name);

// About 512 KiB of input per segment: a round's memory (text, tokens, windows, samples) follows
// it, so it is kept small; a 2 MB corpus still gives 4 ranks a segment each.
inline constexpr uint64_t kDefaultSegmentBytes = uint64_t{1} << 19;

struct Document {
  uint64_t index = 0;           // ordinal in its segment (0, 1, ...)
  std::string text;             // UTF-8 text (Brown: converted, see io/brown.hpp)
  std::vector<WordTag> words;   // Brown only: each word's byte span in `text` and its tag
  std::vector<int32_t> tokens;  // Tokens format only: the ids (end-of-text excluded)
  std::string source;           // "a.txt", "b.jsonl:123", "c.jsonl.zst:77", "d.bin@token 4096"
};

// Files [first_file, last_file]; with first_file == last_file and a splittable file (plain JSON
// Lines, tokens) the byte range [begin, end) whose starting documents the segment owns; for
// whole files begin = 0 and end = the last file's size.
struct CorpusSegment {
  uint32_t first_file = 0;
  uint32_t last_file = 0;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t bytes = 0;  // input bytes of the segment (compressed bytes for .gz / .zst)
};

// What a pre-tokenized corpus says about itself: its token width, end-of-text id, and (from the
// sidecar `<file>.json` that `neurolens tokenize` writes) the tokenizer it was made with.
struct TokenCorpusInfo {
  int width = 2;                      // bytes per token: 2 (uint16) or 4 (uint32 / int32)
  int32_t eot = 50256;                // end-of-text id separating documents
  bool has_sidecar = false;           // false: a bare nanoGPT-style .bin / .npy
  std::string tokenizer;              // sidecar: the tokenizer's description (model dir, files)
  std::string tokenizer_fingerprint;  // sidecar: model::Tokenizer::fingerprint() of that tokenizer
  int64_t vocab_size = 0;             // sidecar: the tokenizer's vocabulary size
  int64_t documents = -1;             // sidecar: documents, -1 when unknown
  int64_t tokens = -1;                // tokens including one end-of-text per document, -1 unknown
};

class Corpus {
 public:
  // spec: a regular file; a directory (its regular files, not recursive, hidden files and
  // `*.bin.json` / `*.npy.json` sidecars skipped); or a glob with * ? [...] in any component
  // (POSIX glob; directories it matches are skipped). Files are sorted bytewise by path. With
  // Brown (chosen or detected) on a directory or glob, files that are not Brown are skipped; see
  // skipped(). Opening reads only each file's size and first bytes (format detection, .npy
  // header, sidecar). Throws neurolens::Error when nothing matches, a file cannot be read,
  // formats are mixed under Auto, a token file's size is not a multiple of its width, a .npy
  // header is not a 1-D little-endian integer array, or a sidecar is malformed.
  static Corpus open(const std::string& spec, CorpusFormat format = CorpusFormat::Auto,
                     uint64_t segment_bytes = kDefaultSegmentBytes);

  size_t n_segments() const { return segments_.size(); }
  const CorpusSegment& segment(size_t index) const;
  // Reads the documents that start in segment `index`, in corpus order, and calls fn on each
  // (fn may move from the document); stops early when fn returns false. Returns the number of
  // documents passed to fn. Throws neurolens::Error naming file, line / byte / token offset of
  // the first problem (invalid UTF-8 or JSON, a truncated or corrupt .gz / .zst, a token id at or
  // beyond set_vocab_size()).
  uint64_t read_segment(size_t index, const std::function<bool(Document&)>& fn) const;

  const std::vector<std::filesystem::path>& files() const { return files_; }
  // Files the spec matched that were left out because they are not of the corpus's format.
  const std::vector<std::filesystem::path>& skipped() const { return skipped_; }
  CorpusFormat format() const { return format_; }  // never Auto
  uint64_t total_bytes() const { return total_bytes_; }
  bool pretokenized() const { return format_ == CorpusFormat::Tokens; }
  const TokenCorpusInfo& token_info() const { return token_info_; }
  // Token ids must be below this (0: unchecked); read_segment throws on the first that is not.
  void set_vocab_size(int64_t vocab_size) { vocab_size_ = vocab_size; }
  // Bytes this object has read from disk so far, over all threads (compressed bytes for .gz /
  // .zst), for benchmarks and the run's I/O report.
  uint64_t bytes_read() const { return bytes_read_->load(); }

 private:
  std::vector<std::filesystem::path> files_;
  std::vector<std::filesystem::path> skipped_;
  std::vector<CorpusSegment> segments_;
  CorpusFormat format_ = CorpusFormat::Text;
  uint64_t total_bytes_ = 0;
  TokenCorpusInfo token_info_;
  int64_t vocab_size_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> bytes_read_ = std::make_shared<std::atomic<uint64_t>>(0);
  // Per file: what open() learnt from its size, name and first bytes.
  enum class Codec : uint8_t { None, Gzip, Zstd };
  struct FileInfo {
    uint64_t size = 0;         // bytes on disk
    uint64_t data_offset = 0;  // tokens: the first token's byte (.npy: after the header)
    Codec codec = Codec::None;
    uint8_t width = 2;        // tokens: bytes per id
    bool signed_ids = false;  // tokens: .npy '<i4'
  };
  std::vector<FileInfo> file_info_;
  uint64_t read_json_lines(const CorpusSegment& seg,
                           const std::function<bool(Document&)>& fn) const;
  uint64_t read_tokens(const CorpusSegment& seg, const std::function<bool(Document&)>& fn) const;
  uint64_t read_whole_files(const CorpusSegment& seg,
                            const std::function<bool(Document&)>& fn) const;
};

// Byte offset of the first byte that is not part of well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF), or std::string_view::npos when all of `s` is valid.
size_t find_invalid_utf8(std::string_view s);

}  // namespace neurolens::io
