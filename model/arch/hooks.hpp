// Hook points — the names of the activations the forward pass can capture.
// Owns: the TransformerLens / Hugging Face naming of every activation, parsing names and layer
// wildcards against a ModelConfig, and the model order and widths of hook points, both read
// from the architecture's block-site table (model/arch/architecture.hpp, block_sites): the one
// place a block's order and widths are written.
// Legend: B batch, T tokens, D d_model, L layers, F d_mlp, H heads.
// Example:
//   HookPoint p = parse_hook_name("blocks.3.mlp.hook_pre", cfg);   // {MlpPre, 3}, width F
//   auto all = resolve_hook_patterns(std::vector<std::string>{"blocks.*.mlp.hook_pre"}, cfg);
//   hook_name(all[0]) == "blocks.0.mlp.hook_pre";
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/load/config.hpp"

namespace neurolens::model {

// Every activation is [B, T, width]: D outside blocks; in a block, the width its architecture's
// site table gives (GPT-2 / GPT-Neo: D, F for MlpPre / MlpPost).
enum class HookSite {
  Embed,              // hook_embed               wte[token]
  PosEmbed,           // hook_pos_embed           wpe[position]
  ResidPre,           // blocks.L.hook_resid_pre  input of block L
  AttnQ,              // blocks.L.attn.hook_q     query, heads concatenated
  AttnK,              // blocks.L.attn.hook_k
  AttnV,              // blocks.L.attn.hook_v
  AttnZ,              // blocks.L.attn.hook_z     softmax(QK^T) V, heads concatenated
  AttnOut,            // blocks.L.hook_attn_out   attention output projection (with bias)
  ResidMid,           // blocks.L.hook_resid_mid  resid_pre + attn_out
  MlpPre,             // blocks.L.mlp.hook_pre    c_fc output (with bias) / gate projection, F
  MlpPost,            // blocks.L.mlp.hook_post   gelu_new(mlp pre), width F
  MlpOut,             // blocks.L.hook_mlp_out    MLP c_proj output (with bias)
  ResidPost,          // blocks.L.hook_resid_post resid_mid + mlp_out
  LnFinalNormalized,  // ln_final.hook_normalized ln_f(resid_post of the last block)
  HiddenStates,       // hidden_states.i          HF output_hidden_states, i in 0..L
  AttnRotQ,           // blocks.L.attn.hook_rot_q query after rotary embedding (rotary models)
  AttnRotK,           // blocks.L.attn.hook_rot_k key after rotary embedding, key-value heads
  MlpPreLinear,       // blocks.L.mlp.hook_pre_linear  up projection of a gated MLP, width F
};

struct HookPoint {
  HookSite site = HookSite::Embed;
  // Block index for per-block sites; the index i in 0..L for HiddenStates; -1 for Embed,
  // PosEmbed and LnFinalNormalized.
  int layer = -1;

  friend bool operator==(const HookPoint&, const HookPoint&) = default;
};

// "blocks.3.mlp.hook_pre", "hidden_states.5", "hook_embed", "ln_final.hook_normalized".
std::string hook_name(const HookPoint& point);
// Layer-generic name: "mlp.hook_pre", "hook_resid_post", "attn.hook_q", "hidden_states",
// "hook_embed", "ln_final.hook_normalized".
std::string hook_site_name(HookSite site);
// Throws neurolens::Error listing the valid forms on an unknown name, or naming the layer range
// when the index is beyond the model.
HookPoint parse_hook_name(std::string_view name, const ModelConfig& config);
// Expands '*' wildcards (any run of characters, typically the layer: "blocks.*.mlp.hook_pre",
// "hidden_states.*") against every hook point of the model. Result in model order without
// duplicates. A pattern without '*' must be a valid name; one with '*' must match something.
std::vector<HookPoint> resolve_hook_patterns(std::span<const std::string> patterns,
                                             const ModelConfig& config);
// Every hook point of the model in model order (the order the forward pass produces them).
std::vector<HookPoint> all_hook_points(const ModelConfig& config);
// D outside blocks; in a block the architecture's width (GPT-2 / GPT-Neo: F for MlpPre /
// MlpPost, D otherwise; k / v are n_kv_heads * head_dim under grouped-query attention).
int hook_width(const HookPoint& point, const ModelConfig& config);
// hook_order of slot `slot` of block `layer` (slot: index in the architecture's block_sites;
// block_sites().size() is hidden_states.(layer + 1)).
int block_slot_order(int layer, int slot, const ModelConfig& config);
// Position of the point in model order: a < b means a is computed before b.
int hook_order(const HookPoint& point, const ModelConfig& config);
// The last block the forward pass must run to produce the point: -1 for the embeddings and
// hidden_states.0, L - 1 for ln_final / hidden_states.L.
int hook_last_block(const HookPoint& point, const ModelConfig& config);

}  // namespace neurolens::model
