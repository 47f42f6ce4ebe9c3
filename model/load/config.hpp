// ModelConfig — the hyper-parameters of a checkpoint, whatever its architecture.
// Owns: reading a Hugging Face config.json (ConfigReader: typed, validated fields with errors
// naming the file and field) and choosing the architecture by its model_type; the architecture
// (model/arch/architecture.hpp, e.g. model/arch/gpt2.cpp) reads its own fields into the one
// struct that the loader and the forward pass share. Legend for shape comments: B batch,
// T tokens, D d_model, L layers, V vocabulary, F d_mlp (MLP width), H heads.
// Example:
//   ModelConfig cfg = parse_model_config("gpt2/config.json");
//   cfg.model_type == "gpt2"; cfg.n_layers == 12; cfg.d_mlp == 3072;
//   cfg.attention_kinds[1] == AttentionKind::Global;
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace neurolens::model {

enum class AttentionKind { Global, Local };

struct ModelConfig {
  std::string model_type;  // as in config.json: "gpt2", "gpt_neo" (its architecture)
  int n_layers = 0;        // L
  int d_model = 0;         // D
  int n_heads = 0;         // H
  int n_kv_heads = 0;      // key / value heads; 0 = H (no grouped-query attention)
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
  // Learned position embeddings (wpe, hook_pos_embed): GPT-2, GPT-Neo. false: the architecture
  // encodes positions inside its blocks (rotary); the model has no hook_pos_embed.
  bool position_embeddings = true;

  int head_dim() const { return d_model / n_heads; }
  int kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
};

// Reads and validates config.json: model_type chooses the architecture, which reads the rest.
// Throws neurolens::Error naming the file and the field.
ModelConfig parse_model_config(const std::filesystem::path& config_json);

// Typed access to the fields of one config.json; every error names the file and the field and
// says what to set (`meaning`, e.g. "the hidden size (768 for gpt2)").
class ConfigReader {
 public:
  static constexpr int kMaxLayers = 65536;

  ConfigReader(const std::filesystem::path& path, const nlohmann::json& j);

  // "<file>: <key>", the context of an error about the field.
  std::string ctx(const std::string& key) const;
  // Present and not null.
  bool has(const std::string& key) const;
  const nlohmann::json& at(const std::string& key) const;
  int positive_int(const std::string& key, const std::string& meaning) const;
  int positive_int_value(const std::string& key, const nlohmann::json& v,
                         const std::string& meaning) const;
  // A small positive number (1e-5 when absent).
  float epsilon(const std::string& key) const;
  // 4 * width (the MLP default), refused when it does not fit in an int.
  int four_times(const std::string& width_key, int width) const;
  // A positive layer count of at most kMaxLayers (it bounds per-layer allocations).
  int layer_count(const std::string& key, const std::string& meaning) const;
  // "gelu_new" (the default when absent); anything else is refused.
  std::string activation(const std::string& key) const;

 private:
  std::string file_;
  const nlohmann::json& j_;
};

}  // namespace neurolens::model
