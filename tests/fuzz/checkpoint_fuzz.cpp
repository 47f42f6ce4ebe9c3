// Fuzz target: a whole model directory (model/load/checkpoint.cpp, load_model): the input is
// split at "\n@@\n" into config.json, model.safetensors, vocab.json and merges.txt, written into
// a fresh directory; load_model cross-checks config.json against the tensors' names and shapes.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "io/error.hpp"
#include "model/load/checkpoint.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(checkpoint) {
  using namespace neurolens;
  const auto dir = fuzz::scratch_dir() / "model";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto parts = fuzz::split(fuzz::as_view(data, size), "\n@@\n", 4);
  fuzz::write_file(dir / "config.json", parts[0]);
  fuzz::write_file(dir / "model.safetensors", parts[1]);
  fuzz::write_file(dir / "vocab.json", parts[2]);
  fuzz::write_file(dir / "merges.txt", parts[3]);
  try {
    const model::Model m = model::load_model(dir);
    (void)m.config.head_dim();
  } catch (const Error&) {
  }
  return 0;
}
