// Fuzz target: config.json of a checkpoint (model/load/config.cpp, parse_model_config) on arbitrary
// bytes: JSON syntax, model_type, every size field, GPT-Neo attention_types expansion.
#include <cstddef>
#include <cstdint>

#include "io/error.hpp"
#include "model/load/config.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(config) {
  using namespace neurolens;
  const auto path = fuzz::scratch_dir() / "config.json";
  fuzz::write_file(path, fuzz::as_view(data, size));
  try {
    const model::ModelConfig c = model::parse_model_config(path);
    // An accepted config is usable: positive sizes, heads divide the width, one kind per layer.
    if (c.n_layers <= 0 || c.d_model <= 0 || c.n_heads <= 0 || c.d_mlp <= 0 || c.n_vocab <= 0 ||
        c.n_positions <= 0) {
      __builtin_trap();
    }
    if (c.d_model % c.n_heads != 0) __builtin_trap();
    (void)c.head_dim();
    if (c.model_type == "gpt_neo" &&
        c.attention_kinds.size() != static_cast<std::size_t>(c.n_layers)) {
      __builtin_trap();
    }
  } catch (const Error&) {
  }
  return 0;
}
