// Fuzz target: token corpora (io/corpus.cpp): flat .bin files, .npy headers and the sidecar
// `<file>.json`. The first input byte picks .bin or .npy (bit 0), whether a sidecar is written
// (bit 1), the segment size (bits 2-3: the default, 1, 7 or 64 bytes) and a vocabulary bound
// (bit 4: none or 50257); the rest is the token file, then, after a line "--sidecar--", the
// sidecar. Every segment is read; the documents must be the same as with one segment.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/corpus.hpp"
#include "io/error.hpp"
#include "tests/fuzz/corpus_reading.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(tokens) {
  using namespace neurolens;
  if (size == 0) return 0;
  const auto dir = fuzz::scratch_dir() / "tokens";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto parts = fuzz::split(fuzz::as_view(data + 1, size - 1), "\n--sidecar--\n", 2);
  const auto file = dir / ((data[0] & 1) ? "ids.npy" : "ids.bin");
  fuzz::write_file(file, parts[0]);
  if (data[0] & 2) fuzz::write_file(file.string() + ".json", parts[1]);
  fuzz::check_segments(file.string(), io::CorpusFormat::Auto,
                       fuzz::fuzz_segment_bytes(data[0] >> 2), (data[0] & 16) ? 50257 : 0);
  return 0;
}
