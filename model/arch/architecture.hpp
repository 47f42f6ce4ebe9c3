// ModelArchitecture — everything that differs between transformer architectures, behind one
// interface, and the registry that finds one by config.json's model_type.
// Owns: the interface an architecture implements in its one file (model/arch/gpt2.cpp,
// model/arch/gpt_neo.cpp): its config.json fields, the names, shapes and layouts of its tensors,
// its block's hook-site table (order and widths: the one source of both), one block's
// computation, and the block's workspace, weight GEMMs and FLOPs. A file joins the registry with
// NEUROLENS_REGISTER_ARCHITECTURE (model/CMakeLists.txt finds it; nothing else lists it).
// Legend: B batch, T tokens, N = B*T rows, D d_model, F d_mlp, L layers, H heads, dh head_dim.
// Example:
//   const ModelArchitecture& a = find_architecture("gpt_neo");   // throws on unknown types
//   for (const BlockSite& s : a.block_sites(cfg))
//     std::printf("%s [N, %d]\n", hook_site_name(s.site).c_str(), site_width(s.width, cfg));
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/arch/hooks.hpp"
#include "model/load/config.hpp"
#include "model/load/weights.hpp"
#include "model/ops/gemm_bf16.hpp"

namespace neurolens::model {

// Width of a block activation in terms of the config.
enum class SiteWidth {
  Model,    // D
  Mlp,      // F
  QHeads,   // H * dh
  KvHeads,  // n_kv_heads * dh (grouped-query attention: fewer key / value heads)
};
int site_width(SiteWidth width, const ModelConfig& config);

// One hook site of a block. An architecture lists them in the order its block produces them;
// the index in that table (the slot) is how run_block emits them and how hooks order them.
struct BlockSite {
  HookSite site;
  SiteWidth width;
};

// A weight GEMM of one block, y[N, out] = x[N, in] W: one packed matrix under Precision::Bf16.
struct BlockGemm {
  int in = 0;
  int out = 0;
};

// Looks up a checkpoint tensor under the architecture's name (key prefix already chosen),
// checks its dtype and shape, and returns fp32 data that lives as long as the Model.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // Throws neurolens::Error naming the file and tensor; `meaning` explains the shape
  // ("[n_embd, 3 * n_embd]").
  virtual const float* get(const std::string& key, const std::vector<std::int64_t>& shape,
                           const std::string& meaning) = 0;
};

// The tensors of one MLP neuron in a checkpoint's layout (for planting, model/synth/plant.hpp).
struct MlpTensorNames {
  std::string in_weight;   // reads the residual stream: [D, F] (out_in false) or [F, D]
  std::string in_bias;     // [F]
  std::string out_weight;  // writes the residual stream: [F, D] (out_in false) or [D, F]
  bool out_in = false;     // nn.Linear [out, in] layout (else Conv1D [in, out])
};

class BlockRun;  // what the forward pass hands run_block (below)

class ModelArchitecture {
 public:
  virtual ~ModelArchitecture() = default;

  // config.json's model_type ("gpt2").
  virtual const char* model_type() const = 0;
  // Fills config (model_type already set) from config.json. Throws neurolens::Error naming the
  // field. Must set n_layers, d_model, n_heads, n_kv_heads, d_mlp, n_vocab, n_positions and one
  // attention kind per layer.
  virtual void parse_config(const ConfigReader& reader, ModelConfig& config) const = 0;

  // Tensor key prefixes a checkpoint may use ("" and "transformer."), the tensor whose presence
  // chooses one, and the prefix of per-block tensors ("h." -> "h.3.ln_1.weight").
  virtual std::vector<std::string> key_prefixes() const = 0;
  virtual std::string embedding_tensor() const = 0;
  virtual std::string block_tensor_prefix() const = 0;
  // Every tensor the forward pass reads, shapes checked against config.
  virtual ModelWeights map_weights(TensorSource& tensors, const ModelConfig& config) const = 0;
  // Whether a checkpoint tensor that map_weights did not read may be ignored (buffers such as
  // "h.0.attn.bias" or "layers.0.attention.rotary_emb.inv_freq", a tied "lm_head.weight").
  // `name` is without the key prefix when it has it. Any other unread tensor is an error naming
  // it (the weights are not what config.json describes).
  virtual bool ignored_tensor(const std::string& name) const {
    (void)name;
    return false;
  }
  // Names of MLP neuron tensors of block `layer`, without key prefix.
  virtual MlpTensorNames mlp_tensor_names(int layer) const = 0;

  // The block's hook sites in the order run_block emits them (the slot is the index). The table
  // may depend on the config (GPT-NeoX: no hook_resid_mid when use_parallel_residual); it is
  // the same for every block of one config.
  virtual std::span<const BlockSite> block_sites(const ModelConfig& config) const = 0;
  // Float counts of the block's workspace views for `rows` rows (the forward pass allocates
  // them 64-byte aligned and hands them to run_block in this order), besides the residual
  // stream [N, D] and the final norm's output [N, D].
  virtual std::vector<std::size_t> workspace_sizes(const ModelConfig& config, std::size_t rows,
                                                   int max_seq_len) const = 0;
  // The block's weight GEMMs in run order; their count and shapes size the packed weights and
  // GEMM scratch.
  virtual std::vector<BlockGemm> block_gemms(const ModelConfig& config) const = 0;
  // The block's weights packed for gemm_bf16, one matrix per block_gemms entry.
  virtual std::vector<PackedBf16Matrix> pack_block(const BlockWeights& block) const = 0;
  // GEMM FLOPs of block `layer` run until it has produced slot `last_slot` (block_sites().size()
  // or more: the whole block), attention counted as the tiles issued.
  virtual double block_flops(const ModelConfig& config, int layer, int batch, int seq_len,
                             int last_slot) const = 0;
  // Runs block `layer` on run.resid() in place, emitting its sites by slot. Returns false when
  // nothing after the last emitted slot is needed (the pass stops).
  virtual bool run_block(BlockRun& run, int layer) const = 0;
  // y[N, D] = the final norm of x[N, D] (ln_f).
  virtual void final_norm(const ModelWeights& weights, const ModelConfig& config,
                          std::span<const float> x, std::span<float> y, int rows) const = 0;
};

// The registered architecture for model_type; throws neurolens::Error (context `where`) naming
// the supported ones.
const ModelArchitecture& find_architecture(const std::string& model_type,
                                           const std::string& where = "model_type");
// The config's architecture (config.model_type).
const ModelArchitecture& architecture_of(const ModelConfig& config);
// Registered model_types, sorted.
std::vector<std::string> architecture_names();

// What run_block works with: the block's weights, the residual stream and workspace, the weight
// GEMMs (fp32 or bf16) and the hook sink. Made by the forward pass for each block.
class BlockRun {
 public:
  virtual ~BlockRun() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const BlockWeights& weights() const = 0;
  virtual int batch() const = 0;
  virtual int seq_len() const = 0;
  int rows() const { return batch() * seq_len(); }
  virtual float* resid() = 0;                        // [N, D]
  virtual std::span<float> workspace(int view) = 0;  // workspace_sizes order
  virtual bool bf16() const = 0;
  // y[N, out] = x[N, in] W (no bias): block GEMM `gemm` with the packed bf16 weights under
  // Precision::Bf16, else gemm_f32 on w.
  virtual void linear(int gemm, const Linear& w, const float* x, int ldx, float* y, int ldy) = 0;
  // gemm_f32 on w (fp32 regardless of precision).
  virtual void linear_fp32(const Linear& w, const float* x, int ldx, float* y, int ldy) = 0;
  // Hook sink, by slot: whether the pass must still compute the slot; whether a capture wants
  // it; a capture's buffer [N, width] when it wants all positions (the block may write there
  // directly); copy src rows (ld floats apart) into every capture of the slot except `skip`.
  virtual bool needed(int slot) const = 0;
  virtual bool wanted(int slot) const = 0;
  virtual float* full_buffer(int slot) const = 0;
  virtual void emit(int slot, const float* src, int ld, const float* skip = nullptr) = 0;
};

}  // namespace neurolens::model

// In an architecture's .cpp (at global scope, at the start of a line):
//   NEUROLENS_REGISTER_ARCHITECTURE(gpt2, Gpt2Architecture)
// model/CMakeLists.txt scans model/arch/*.cpp for this line and lists every architecture in
// the generated registry. The first argument names the registry function (a C identifier; by
// convention the model_type); config.json is matched against model_type(). Each model_type
// must be registered once.
#define NEUROLENS_REGISTER_ARCHITECTURE(name, type) \
  namespace neurolens::model::arch_registry {       \
  const ModelArchitecture& name() {                 \
    static const type instance;                     \
    return instance;                                \
  }                                                 \
  }
