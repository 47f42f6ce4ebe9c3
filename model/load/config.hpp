// ModelConfig — the architecture hyper-parameters of a GPT-2 or GPT-Neo checkpoint.
// Owns: parsing and validating a Hugging Face config.json into one struct that the loader and
// the forward pass share. Legend for shape comments: B batch, T tokens, D d_model, L layers,
// V vocabulary, F d_mlp (MLP width), H heads.
// Example:
//   ModelConfig cfg = parse_model_config("gpt2/config.json");
//   cfg.n_layers == 12; cfg.d_mlp == 3072; cfg.attention_kinds[1] == AttentionKind::Global;
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace neurolens::model {

enum class Architecture { Gpt2, GptNeo };
enum class AttentionKind { Global, Local };

struct ModelConfig {
  Architecture architecture = Architecture::Gpt2;
  std::string model_type;  // "gpt2" or "gpt_neo", as in config.json
  int n_layers = 0;        // L
  int d_model = 0;         // D
  int n_heads = 0;         // H
  int d_mlp = 0;           // F (n_inner / intermediate_size, or 4 * D when null)
  int n_vocab = 0;         // V
  int n_positions = 0;     // maximum sequence length (wpe rows)
  float layer_norm_eps = 1e-5f;
  std::string activation = "gelu_new";
  // One entry per layer. GPT-2: all Global. GPT-Neo: expanded from attention_types.
  std::vector<AttentionKind> attention_kinds;
  int window_size = 0;  // GPT-Neo local attention: key > query - window_size
  // GPT-2 scales scores by 1/sqrt(head_dim); GPT-Neo does not.
  bool scale_attention_scores = true;

  int head_dim() const { return d_model / n_heads; }
};

// Reads and validates config.json. Throws neurolens::Error naming the file and the field.
ModelConfig parse_model_config(const std::filesystem::path& config_json);

}  // namespace neurolens::model
