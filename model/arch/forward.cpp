#include "model/arch/forward.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "io/error.hpp"
#include "model/ops/gemm_f32.hpp"

namespace neurolens::model {
namespace {

constexpr std::size_t kAlignFloats = 16;  // 64 bytes

std::size_t round_up(std::size_t n) {
  return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
}

void check_point(const HookPoint& p, const ModelConfig& cfg) {
  const int n_layers = cfg.n_layers;
  switch (p.site) {
    case HookSite::Embed:
    case HookSite::LnFinalNormalized:
      return;
    case HookSite::PosEmbed:
      if (!cfg.position_embeddings) {
        throw Error("capture " + hook_name(p), "this model has no learned position embeddings",
                    "capture hook_embed or hidden_states.0");
      }
      return;
    case HookSite::HiddenStates:
      if (p.layer < 0 || p.layer > n_layers) {
        throw Error("capture " + hook_name(p),
                    "hidden state index outside 0.." + std::to_string(n_layers),
                    "the model has " + std::to_string(n_layers) + " layers");
      }
      return;
    default:
      if (p.layer < 0 || p.layer >= n_layers) {
        throw Error("capture " + hook_name(p), "layer outside 0.." + std::to_string(n_layers - 1),
                    "the model has " + std::to_string(n_layers) + " layers");
      }
  }
}

// Float counts of the workspace views: the residual stream, then the architecture's views
// (n = max_batch * max_seq_len rows).
std::vector<std::size_t> workspace_sizes(const ModelArchitecture& arch, const ModelConfig& cfg,
                                         std::size_t n, int max_seq_len) {
  std::vector<std::size_t> sizes = {n * static_cast<std::size_t>(cfg.d_model)};
  for (std::size_t s : arch.workspace_sizes(cfg, n, max_seq_len)) sizes.push_back(s);
  return sizes;
}

// gemm_f32 scratch (floats) of the fp32 weight GEMMs on `rows` rows.
std::size_t fp32_gemm_scratch(const ModelArchitecture& arch, const ModelConfig& cfg, int rows) {
  std::size_t size = 0;
  for (const BlockGemm& g : arch.block_gemms(cfg)) {
    size = std::max(size, gemm_f32_scratch_size(GemmShape{rows, g.out, g.in}));
  }
  return size;
}

// gemm_bf16 scratch (uint16_t) of the packed weight GEMMs on `rows` rows.
std::size_t bf16_gemm_scratch(const ModelArchitecture& arch, const ModelConfig& cfg, int rows) {
  std::size_t size = 0;
  for (const BlockGemm& g : arch.block_gemms(cfg)) {
    size = std::max(size, gemm_bf16_scratch_size(g.in, rows));
  }
  return size;
}

}  // namespace

const char* precision_name(Precision p) {
  return p == Precision::Bf16 ? "bf16" : "fp32";
}

void ForwardPass::FreeDeleter::operator()(float* p) const {
  ::operator delete[](p, std::align_val_t{64});
}

// Per-run state: which captures exist, where they go, when to stop.
struct ForwardPass::Plan {
  std::span<const CaptureRequest> captures;
  std::span<const int> positions;
  int batch = 0;
  int seq_len = 0;
  int last_order = -1;
  const ModelConfig* cfg = nullptr;

  bool needed(int order) const { return order <= last_order; }
  bool wanted(const HookPoint& p) const {
    return std::any_of(captures.begin(), captures.end(),
                       [&](const CaptureRequest& c) { return c.point == p; });
  }
  // The first capture of p when all positions are captured (its buffer is [B*T, width]).
  float* full_buffer(const HookPoint& p) const {
    if (!positions.empty()) return nullptr;
    for (const CaptureRequest& c : captures) {
      if (c.point == p) return c.out;
    }
    return nullptr;
  }
  // Copies src rows (row b*T + t, ld floats apart) into every capture of p, except `skip`.
  void emit(const HookPoint& p, const float* src, int ld, const float* skip = nullptr) const {
    const int width = hook_width(p, *cfg);
    const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(width);
    for (const CaptureRequest& c : captures) {
      if (!(c.point == p) || c.out == skip) continue;
      if (positions.empty()) {
        const std::size_t rows = static_cast<std::size_t>(batch) * seq_len;
        if (ld == width) {
          std::memcpy(c.out, src, bytes * rows);
        } else {
          for (std::size_t r = 0; r < rows; ++r) {
            std::memcpy(c.out + r * width, src + r * ld, bytes);
          }
        }
        continue;
      }
      const std::size_t n_pos = positions.size();
      for (int b = 0; b < batch; ++b) {
        for (std::size_t i = 0; i < n_pos; ++i) {
          const std::size_t src_row = static_cast<std::size_t>(b) * seq_len + positions[i];
          std::memcpy(c.out + (b * n_pos + i) * width, src + src_row * ld, bytes);
        }
      }
    }
  }
};

// One block of one run: what the architecture's run_block sees (model/arch/architecture.hpp).
class ForwardPass::Block final : public BlockRun {
 public:
  Block(ForwardPass& pass, const Plan& plan, int layer)
      : pass_(pass),
        plan_(plan),
        layer_(layer),
        sites_(pass.arch_.block_sites(pass.model_.config)),
        base_(block_slot_order(layer, 0, pass.model_.config)),
        packed_(pass.precision_ == Precision::Bf16 ? &pass.packed_[static_cast<std::size_t>(layer)]
                                                   : nullptr) {}

  const ModelConfig& config() const override { return pass_.model_.config; }
  const BlockWeights& weights() const override {
    return pass_.model_.weights.blocks[static_cast<std::size_t>(layer_)];
  }
  int batch() const override { return plan_.batch; }
  int seq_len() const override { return plan_.seq_len; }
  float* resid() override { return pass_.resid_; }
  std::span<float> workspace(int view) override {
    return pass_.views_[static_cast<std::size_t>(view)];
  }
  bool bf16() const override { return packed_ != nullptr; }
  void linear(int gemm, const Linear& w, const float* x, int ldx, float* y, int ldy) override {
    if (packed_) {
      gemm_bf16((*packed_)[static_cast<std::size_t>(gemm)], x, ldx, rows(), y, ldy,
                pass_.bf16_scratch_);
    } else {
      linear_fp32(w, x, ldx, y, ldy);
    }
  }
  // y[n, out] = x[n, in] W (no bias): Conv1D [in, out] as is, nn.Linear [out, in] transposed.
  void linear_fp32(const Linear& w, const float* x, int ldx, float* y, int ldy) override {
    gemm_f32({rows(), w.out, w.in}, x, ldx, {w.weight, w.ld, w.out_in}, y, ldy,
             pass_.gemm_scratch_);
  }
  bool needed(int slot) const override { return plan_.needed(base_ + slot); }
  bool wanted(int slot) const override { return plan_.wanted(point(slot)); }
  float* full_buffer(int slot) const override { return plan_.full_buffer(point(slot)); }
  void emit(int slot, const float* src, int ld, const float* skip) override {
    plan_.emit(point(slot), src, ld, skip);
  }

 private:
  HookPoint point(int slot) const { return {sites_[static_cast<std::size_t>(slot)].site, layer_}; }

  ForwardPass& pass_;
  const Plan& plan_;
  int layer_;
  std::span<const BlockSite> sites_;
  int base_;
  const std::vector<PackedBf16Matrix>* packed_;
};

ForwardPass::ForwardPass(const Model& model, int max_batch, int max_seq_len, Precision precision)
    : model_(model),
      arch_(architecture_of(model.config)),
      max_batch_(max_batch),
      max_seq_len_(max_seq_len),
      precision_(precision) {
  const ModelConfig& cfg = model.config;
  if (max_batch < 1 || max_seq_len < 1) {
    throw Error("ForwardPass", "max_batch and max_seq_len must be positive (got " +
                                   std::to_string(max_batch) + ", " + std::to_string(max_seq_len) +
                                   ")");
  }
  if (max_seq_len > cfg.n_positions) {
    throw Error("ForwardPass",
                "max_seq_len " + std::to_string(max_seq_len) + " exceeds the position table (" +
                    std::to_string(cfg.n_positions) + " positions)",
                "use sequences of at most " + std::to_string(cfg.n_positions) + " tokens");
  }
  if (cfg.n_heads < 1 || cfg.d_model % cfg.n_heads != 0 ||
      static_cast<int>(model.weights.blocks.size()) != cfg.n_layers ||
      static_cast<int>(cfg.attention_kinds.size()) != cfg.n_layers || !model.weights.wte ||
      (cfg.position_embeddings && !model.weights.wpe)) {
    throw Error("ForwardPass " + model.dir.string(), "model weights and config are inconsistent",
                "load the model with load_model");
  }
  const std::size_t n = static_cast<std::size_t>(max_batch) * max_seq_len;
  const std::vector<std::size_t> sizes = workspace_sizes(arch_, cfg, n, max_seq_len);
  std::size_t total = 0;
  for (std::size_t s : sizes) total += round_up(s);
  workspace_.reset(
      static_cast<float*>(::operator new[](total * sizeof(float), std::align_val_t{64})));
  float* p = workspace_.get();
  resid_ = p;
  p += round_up(sizes[0]);
  for (std::size_t i = 1; i < sizes.size(); ++i) {
    views_.emplace_back(p, sizes[i]);
    p += round_up(sizes[i]);
  }
  if (precision == Precision::Fp32)
    gemm_scratch_.resize(fp32_gemm_scratch(arch_, cfg, static_cast<int>(n)));
  if (precision == Precision::Bf16) {
    if (!bf16_compute_supported()) {
      throw Error("ForwardPass " + model.dir.string(),
                  "bf16 compute needs AVX512_BF16 (avx512f, avx512bw, avx512vl, avx512_bf16); "
                  "this CPU has no AVX512_BF16",
                  "use compute = fp32");
    }
    packed_.reserve(model.weights.blocks.size());
    for (const BlockWeights& b : model.weights.blocks) packed_.push_back(arch_.pack_block(b));
    bf16_scratch_.resize(bf16_gemm_scratch(arch_, cfg, static_cast<int>(n)));
  }
}

std::size_t ForwardPass::packed_bytes() const {
  std::size_t bytes = 0;
  for (const auto& block : packed_) {
    for (const PackedBf16Matrix& m : block) bytes += m.bytes();
  }
  return bytes;
}

std::size_t ForwardPass::packed_bytes_for(const ModelConfig& cfg, Precision precision) {
  if (precision != Precision::Bf16) return 0;
  std::size_t per_block = 0;
  for (const BlockGemm& g : architecture_of(cfg).block_gemms(cfg)) {
    per_block += PackedBf16Matrix::bytes_for(g.in, g.out);
  }
  return per_block * static_cast<std::size_t>(cfg.n_layers);
}

std::size_t ForwardPass::private_bytes_for(const ModelConfig& cfg, int max_batch, int max_seq_len,
                                           Precision precision) {
  const ModelArchitecture& arch = architecture_of(cfg);
  const std::size_t n = static_cast<std::size_t>(std::max(max_batch, 1)) * std::max(max_seq_len, 1);
  std::size_t floats = 0;
  for (std::size_t s : workspace_sizes(arch, cfg, n, max_seq_len)) floats += round_up(s);
  std::size_t bytes = floats * sizeof(float);
  if (precision == Precision::Fp32) {
    bytes += fp32_gemm_scratch(arch, cfg, static_cast<int>(n)) * sizeof(float);
  } else {
    bytes += packed_bytes_for(cfg, precision) +
             bf16_gemm_scratch(arch, cfg, static_cast<int>(n)) * sizeof(std::uint16_t);
  }
  return bytes;
}

void ForwardPass::run(std::span<const int32_t> tokens, int batch, int seq_len,
                      std::span<const CaptureRequest> captures, std::span<const int> positions) {
  const ModelConfig& cfg = model_.config;
  const ModelWeights& w = model_.weights;
  const int d = cfg.d_model, n_layers = cfg.n_layers;

  // ---- Validate everything before touching any buffer.
  if (batch < 1 || batch > max_batch_) {
    throw Error("ForwardPass::run",
                "batch " + std::to_string(batch) + " outside 1.." + std::to_string(max_batch_),
                "construct the ForwardPass with a larger max_batch");
  }
  if (seq_len < 1 || seq_len > cfg.n_positions) {
    throw Error(
        "ForwardPass::run",
        "sequence length " + std::to_string(seq_len) + " is longer than the position table (" +
            std::to_string(cfg.n_positions) + " positions)",
        "split inputs into sequences of at most " + std::to_string(cfg.n_positions) + " tokens");
  }
  if (seq_len > max_seq_len_) {
    throw Error("ForwardPass::run",
                "sequence length " + std::to_string(seq_len) + " exceeds max_seq_len " +
                    std::to_string(max_seq_len_),
                "construct the ForwardPass with a larger max_seq_len");
  }
  const std::size_t n = static_cast<std::size_t>(batch) * seq_len;
  if (tokens.size() != n) {
    throw Error("ForwardPass::run", "got " + std::to_string(tokens.size()) +
                                        " token ids for batch " + std::to_string(batch) + " x " +
                                        std::to_string(seq_len));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= cfg.n_vocab) {
      throw Error("ForwardPass::run",
                  "token id " + std::to_string(tokens[i]) + " at sequence " +
                      std::to_string(i / seq_len) + ", position " + std::to_string(i % seq_len) +
                      " is outside the vocabulary (0.." + std::to_string(cfg.n_vocab - 1) + ")",
                  "tokenize with this model's vocab.json");
    }
  }
  for (int pos : positions) {
    if (pos < 0 || pos >= seq_len) {
      throw Error("ForwardPass::run", "capture position " + std::to_string(pos) + " outside 0.." +
                                          std::to_string(seq_len - 1));
    }
  }
  Plan plan;
  plan.captures = captures;
  plan.positions = positions;
  plan.batch = batch;
  plan.seq_len = seq_len;
  plan.cfg = &cfg;
  for (const CaptureRequest& c : captures) {
    check_point(c.point, cfg);
    if (!c.out) throw Error("capture " + hook_name(c.point), "output buffer is null");
    plan.last_order = std::max(plan.last_order, hook_order(c.point, cfg));
  }
  if (captures.empty()) return;

  // ---- Embeddings: resid[b*T + t] = wte[token] + wpe[t] (wte[token] without position
  // embeddings).
  const std::size_t row_bytes = sizeof(float) * d;
  if (plan.wanted({HookSite::Embed, -1})) {
    for (const CaptureRequest& c : captures) {
      if (!(c.point == HookPoint{HookSite::Embed, -1})) continue;
      const std::size_t n_pos = positions.empty() ? seq_len : positions.size();
      for (int b = 0; b < batch; ++b) {
        for (std::size_t i = 0; i < n_pos; ++i) {
          const int t = positions.empty() ? static_cast<int>(i) : positions[i];
          const int32_t id = tokens[static_cast<std::size_t>(b) * seq_len + t];
          float* out = c.out + (b * n_pos + i) * d;
          std::memcpy(out, w.wte + static_cast<std::size_t>(id) * d, row_bytes);
          if (cfg.embedding_scale != 1.0f) {
            for (int j = 0; j < d; ++j) out[j] *= cfg.embedding_scale;
          }
        }
      }
    }
  }
  if (plan.wanted({HookSite::PosEmbed, -1})) {
    for (const CaptureRequest& c : captures) {
      if (!(c.point == HookPoint{HookSite::PosEmbed, -1})) continue;
      const std::size_t n_pos = positions.empty() ? seq_len : positions.size();
      for (int b = 0; b < batch; ++b) {
        for (std::size_t i = 0; i < n_pos; ++i) {
          const int t = positions.empty() ? static_cast<int>(i) : positions[i];
          std::memcpy(c.out + (b * n_pos + i) * d, w.wpe + static_cast<std::size_t>(t) * d,
                      row_bytes);
        }
      }
    }
  }
  if (!plan.needed(2)) return;
  if (cfg.position_embeddings) {
    for (std::size_t r = 0; r < n; ++r) {
      const float* te = w.wte + static_cast<std::size_t>(tokens[r]) * d;
      const float* pe = w.wpe + static_cast<std::size_t>(r % seq_len) * d;
      float* out = resid_ + r * d;
      for (int i = 0; i < d; ++i) out[i] = te[i] + pe[i];
    }
  } else {
    for (std::size_t r = 0; r < n; ++r) {
      std::memcpy(resid_ + r * d, w.wte + static_cast<std::size_t>(tokens[r]) * d, row_bytes);
      if (cfg.embedding_scale != 1.0f) {
        for (int j = 0; j < d; ++j) resid_[r * d + j] *= cfg.embedding_scale;
      }
    }
  }
  plan.emit({HookSite::HiddenStates, 0}, resid_, d);

  // ---- Blocks, each by its architecture; hidden_states.(l + 1) after block l.
  for (int l = 0; l < n_layers; ++l) {
    Block block(*this, plan, l);
    if (!arch_.run_block(block, l)) return;
    if (l + 1 < n_layers) plan.emit({HookSite::HiddenStates, l + 1}, resid_, d);
  }

  // ---- Final norm (into the first workspace view).
  if (!plan.needed(block_slot_order(n_layers, 0, cfg))) return;
  float* out = views_[0].data();
  arch_.final_norm(w, cfg, {resid_, n * d}, {out, n * d}, static_cast<int>(n));
  plan.emit({HookSite::LnFinalNormalized, -1}, out, d);
  plan.emit({HookSite::HiddenStates, n_layers}, out, d);
}

double ForwardPass::gemm_flops(int batch, int seq_len, int up_to_layer) const {
  const ModelConfig& cfg = model_.config;
  const int all = static_cast<int>(arch_.block_sites(cfg).size());
  double flops = 0.0;
  for (int l = 0; l <= up_to_layer && l < cfg.n_layers; ++l) {
    flops += arch_.block_flops(cfg, l, batch, seq_len, all);
  }
  return flops;
}

double ForwardPass::gemm_flops(int batch, int seq_len, std::span<const HookPoint> points) const {
  const ModelConfig& cfg = model_.config;
  int last = -1;
  for (const HookPoint& p : points) last = std::max(last, hook_order(p, cfg));
  double flops = 0.0;
  for (int l = 0; l < cfg.n_layers; ++l) {
    const int base = block_slot_order(l, 0, cfg);
    if (last < base) break;
    flops += arch_.block_flops(cfg, l, batch, seq_len, last - base);
  }
  return flops;
}

}  // namespace neurolens::model
