// Fuzz target: the gzip and zstd JSON Lines readers (io/corpus.cpp): the first input byte picks
// .jsonl.gz or .jsonl.zst (bit 0); the rest is the compressed file (the seeds are valid streams
// of several members / frames, which the fuzzer damages, truncates and splices). Every document
// is read; a bad stream must end in one neurolens::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/corpus.hpp"
#include "io/error.hpp"
#include "tests/fuzz/corpus_reading.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(compressed) {
  using namespace neurolens;
  if (size == 0) return 0;
  const auto dir = fuzz::scratch_dir() / "compressed";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = dir / ((data[0] & 1) ? "docs.jsonl.zst" : "docs.jsonl.gz");
  fuzz::write_file(file, fuzz::as_view(data + 1, size - 1));
  fuzz::check_segments(file.string(), io::CorpusFormat::Auto, 1, 0);
  return 0;
}
