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

// Rotary position embeddings' frequency scaling (config.json rope_scaling). None: inv_freq_i =
// theta^(-2i / rotary_dim); Linear: divided by factor; Llama3: Llama 3.1's wavelength-banded
// scaling (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings).
enum class RopeScalingKind { None, Linear, Llama3 };
struct RopeScaling {
  RopeScalingKind kind = RopeScalingKind::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int original_max_position_embeddings = 8192;
};

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
  // GPT-NeoX use_parallel_residual: x + attn(ln_1(x)) + mlp(ln_2(x)), no hook_resid_mid.
  bool parallel_residual = false;
  // q / k / v and attention-output biases (GPT-NeoX attention_bias; GPT-2 always has them).
  bool attention_bias = true;
  // The unembedding is wte (GPT-2, GPT-Neo); false: a separate [V, D] matrix
  // (ModelWeights::unembed: GPT-NeoX embed_out, Llama-family lm_head).
  bool tie_word_embeddings = true;

  // head_dim when config.json sets it apart from D / H (Gemma: 256 with D 2048, H 8); 0 = D / H.
  int head_dim_override = 0;
  // Rotary position embeddings (Llama, NeoX, ...): the first rotary_dim features of every q / k
  // head rotate in HF's rotate_half convention (pairs i, i + rotary_dim / 2); 0 = no rotary.
  int rotary_dim = 0;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  // Scale of attention scores when > 0 (Gemma 2: query_pre_attn_scalar^-1/2), overriding
  // scale_attention_scores.
  float attention_scale = 0.0f;
  // The embedding is multiplied by this (Gemma: sqrt(D), rounded to the checkpoint dtype);
  // hook_embed and hidden_states.0 are after the scaling, as in HF and TransformerLens.
  float embedding_scale = 1.0f;
  // Llama-family blocks (model/arch/llama_block.hpp): which nn.Linear layers have a bias (Llama
  // attention_bias: q, k, v and o; Qwen2: q, k, v; mlp_bias: gate, up, down; untied unembedding:
  // lm_head.weight, tie_word_embeddings above), and Gemma 2's attention logit soft-capping
  // (attn_logit_softcapping; 0 = none).
  bool qkv_bias = false;
  bool out_bias = false;
  bool mlp_bias = false;
  float attention_softcap = 0.0f;

  int head_dim() const { return head_dim_override > 0 ? head_dim_override : d_model / n_heads; }
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
  // Present, possibly null.
  bool present(const std::string& key) const;
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
  // One of `allowed` (config.json's spelling: "gelu", "gelu_new", "gelu_pytorch_tanh", "silu",
  // ...), or `fallback` when absent; anything else is refused naming the allowed ones.
  std::string activation(const std::string& key, const std::vector<std::string>& allowed,
                         const std::string& fallback) const;
  // Throws unless `heads` (field heads_key) divides `width` (field width_key): "12 does not
  // divide n_embd 768", naming heads_key, asking to fix either.
  void check_heads_divide(const std::string& heads_key, int heads, const std::string& width_key,
                          int width) const;
  // A finite number, or `fallback` when absent or null.
  double number(const std::string& key, double fallback, const std::string& meaning) const;
  // A JSON boolean, or `fallback` when absent or null.
  bool boolean(const std::string& key, bool fallback) const;
  // config.json rope_scaling (null or absent: none); unknown types are refused naming the key.
  RopeScaling rope_scaling(const std::string& key) const;

 private:
  std::string file_;
  const nlohmann::json& j_;
};

}  // namespace neurolens::model
