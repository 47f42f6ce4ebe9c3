// Corpus — the documents a study reads, addressable by index without holding them in memory.
// Owns: expanding a spec (a file, a directory, or a glob) into a sorted list of files; choosing
// the format (UTF-8 text: one file is one document; JSON Lines with a "text" field: one
// non-blank line is one document; Brown word/TAG files: one file is one document); an index of
// where each document's bytes live (a DocumentRef, built by streaming each file once in 1 MiB
// chunks); and reading, validating and converting one document on demand. Every bad input names
// the file (and line) and byte offset. read() is const and safe to call from several threads.
// Example:
//   Corpus c = Corpus::open("data/fineweb-*.jsonl", CorpusFormat::Auto);
//   for (size_t i = rank; i < c.n_documents(); i += n_ranks) use(c.read(i).text);
// Rules (auto-detection, ordering, skipped files) are in docs/corpus.md.
#pragma once

#include "io/brown.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace neurolens::io {

enum class CorpusFormat { Auto, Text, JsonLines, Brown };

// "auto", "text", "jsonl", "brown".
std::string_view to_string(CorpusFormat format);
// Accepts the names above (and "jsonlines", "json-lines"); throws neurolens::Error otherwise.
CorpusFormat parse_corpus_format(std::string_view name);

// Where one document's bytes live: file index into Corpus::files(), byte range, and the 1-based
// line of a JSON Lines document (0 for whole-file documents).
struct DocumentRef {
  uint32_t file = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t line = 0;
};

struct Document {
  uint64_t index = 0;          // global document index
  std::string text;            // UTF-8 text (Brown: converted, see io/brown.hpp)
  std::vector<WordTag> words;  // Brown only: each word's byte span in `text` and its tag
  std::string source;          // "dir/a.txt", "dir/b.jsonl:123" (line), "brown/ca01"
};

class Corpus {
 public:
  // spec: a regular file; a directory (its regular files, not recursive, hidden files skipped);
  // or a glob with * ? [...] in any component (POSIX glob; directories it matches are skipped).
  // Files are sorted bytewise by path. With Brown (chosen or detected) on a directory or glob,
  // files that are not Brown (README, CONTENTS, cats.txt, ...) are skipped; see skipped().
  // Throws neurolens::Error when nothing matches, a file cannot be read, a JSON Lines line does
  // not start an object, formats are mixed under Auto, or there are no documents.
  static Corpus open(const std::string& spec, CorpusFormat format = CorpusFormat::Auto);

  size_t n_documents() const { return refs_.size(); }
  // Reads only that document's bytes; checks UTF-8 (and JSON) and converts. Throws
  // neurolens::Error naming file, line and byte offset of the first problem.
  Document read(size_t index) const;
  const DocumentRef& ref(size_t index) const;

  const std::vector<std::filesystem::path>& files() const { return files_; }
  // Files the spec matched that were left out because they are not of the corpus's format.
  const std::vector<std::filesystem::path>& skipped() const { return skipped_; }
  CorpusFormat format() const { return format_; }  // never Auto
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  std::vector<std::filesystem::path> files_;
  std::vector<std::filesystem::path> skipped_;
  std::vector<DocumentRef> refs_;
  CorpusFormat format_ = CorpusFormat::Text;
  uint64_t total_bytes_ = 0;
};

// Byte offset of the first byte that is not part of well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF), or std::string_view::npos when all of `s` is valid.
size_t find_invalid_utf8(std::string_view s);

}  // namespace neurolens::io
