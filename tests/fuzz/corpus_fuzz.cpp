// Fuzz target: corpus readers (io/corpus.cpp): the first input byte picks the format and the
// file name (text, JSON Lines, Brown, or auto-detected), the rest is the file. Corpus::open
// indexes it; every document is then read (UTF-8 validation, JSON Lines "text" fields, Brown
// word/TAG conversion). Each Brown word span must lie inside the document text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/corpus.hpp"
#include "io/error.hpp"
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
  try {
    const io::Corpus corpus = io::Corpus::open(file.string(), kFormats[(data[0] >> 2) & 3]);
    for (std::size_t i = 0; i < corpus.n_documents(); ++i) {
      try {
        const io::Document doc = corpus.read(i);
        for (const io::WordTag& w : doc.words) {
          if (w.begin > w.end || w.end > doc.text.size()) __builtin_trap();
        }
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
