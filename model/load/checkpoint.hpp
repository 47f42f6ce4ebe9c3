// Model / load_model — a Hugging Face checkpoint directory (any registered architecture: GPT-2,
// GPT-Neo), loaded for inference.
// Owns: finding and validating config.json, model.safetensors (or the sharded
// model-XXXXX-of-YYYYY.safetensors + model.safetensors.index.json), vocab.json and merges.txt;
// choosing the key prefix the architecture allows (GPT-2: with or without "transformer."),
// checking dtypes and shapes of the tensors the architecture maps onto ModelWeights
// (model/arch/architecture.hpp, map_weights); keeping the memory maps and converted buffers
// alive as long as the Model lives.
// Example:
//   Model m = load_model("/data/gpt2-large");
//   std::printf("%d layers, %d MLP neurons each\n", m.config.n_layers, m.config.d_mlp);
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "model/load/config.hpp"
#include "model/load/mapped_file.hpp"
#include "model/load/weights.hpp"

namespace neurolens::model {

struct Model {
  std::filesystem::path dir;
  ModelConfig config;
  ModelWeights weights;
  std::filesystem::path vocab_json;  // dir / "vocab.json"
  std::filesystem::path merges_txt;  // dir / "merges.txt"
  // dir / "tokenizer.json" when the checkpoint has one (then preferred), else empty. Load the
  // tokenizer with Tokenizer::load_for_model(dir).
  std::filesystem::path tokenizer_json;
  // Memory maps and fp32 buffers that the raw pointers in `weights` point into.
  std::shared_ptr<const void> storage;
  // The byte ranges of the memory-mapped safetensors files (kept alive by `storage`). An F32
  // tensor whose pointer lies inside one of them is shared, zero-copy, with other ranks.
  std::vector<std::span<const std::byte>> mapped;
};

// True when p points into one of m's memory-mapped files (rather than a converted fp32 buffer).
bool is_memory_mapped(const Model& m, const void* p);

// Throws neurolens::Error naming the file and tensor on any inconsistency; never reads outside
// a mapped file.
Model load_model(const std::filesystem::path& dir);

// Supplies the bytes of one safetensors file of the checkpoint. load_model calls it once per
// file, in the same order on every call for the same directory (the single file, or the shards
// in weight_map key order), so a reader may be a collective operation across ranks.
using WeightFileReader = std::function<MappedFile(const std::filesystem::path&)>;

// load_model with the safetensors bytes from `read` instead of memory-mapping each file
// (same validation, same errors).
Model load_model(const std::filesystem::path& dir, const WeightFileReader& read);

}  // namespace neurolens::model
