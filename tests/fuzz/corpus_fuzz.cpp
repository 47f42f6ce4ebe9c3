// Fuzz target: corpus readers (io/corpus.cpp): the first input byte picks the file name (bits
// 0-1: text, JSON Lines, Brown, or auto-detected .json), the format (bits 2-3) and the segment
// size (bits 4-5: the default, 1, 7 or 64 bytes); the rest is the file. Corpus::open cuts it
// into segments; every segment is then read (UTF-8 validation, JSON Lines "text" fields, Brown
// word/TAG conversion) and the documents must be the same as with one segment for the file.
// Each Brown word span must lie inside the document text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/corpus.hpp"
#include "io/error.hpp"
#include "tests/fuzz/corpus_reading.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(corpus) {
  using namespace neurolens;
  if (size == 0) return 0;
  static const char* const kNames[] = {"doc.txt", "doc.jsonl", "ca01", "doc.json"};
  static const io::CorpusFormat kFormats[] = {io::CorpusFormat::Auto, io::CorpusFormat::Text,
                                              io::CorpusFormat::JsonLines, io::CorpusFormat::Brown};
  const auto dir = fuzz::scratch_dir() / "corpus";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = dir / kNames[data[0] & 3];
  fuzz::write_file(file, fuzz::as_view(data + 1, size - 1));
  fuzz::check_segments(file.string(), kFormats[(data[0] >> 2) & 3],
                       fuzz::fuzz_segment_bytes(data[0] >> 4), 0);
  return 0;
}
