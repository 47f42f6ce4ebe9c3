// GPT-NeoX (model/arch/gpt_neox.cpp) beyond the reference comparison of forward_test.cpp: the
// config.json fields it reads, its one-line errors for unsupported config values and for
// missing, extra and mis-shaped tensors, and which hook names each variant has.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/arch/architecture.hpp"
#include "model/arch/forward.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"
#include "model/load/safetensors.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace neurolens::model {
namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const fs::path kModels = fs::path(NEUROLENS_FIXTURES) / "models";

// One line, with a fix.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    EXPECT_CONTAINS(e.what(), "(fix: ");
    return e.what();
  }
  ADD_FAILURE() << "expected neurolens::Error";
  return {};
}

std::string load_error(const fs::path& dir) {
  return error_of([&] { load_model(dir); });
}

// A tensor of a checkpoint being edited.
struct Tensor {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

class NeoxCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("neurolens_neox_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A copy of a fixture checkpoint under a fresh name.
  fs::path copy(const std::string& variant) {
    const fs::path dir = root_ / (variant + "_" + std::to_string(n_++));
    fs::copy(kModels / variant, dir);
    return dir;
  }
  static json read_config(const fs::path& dir) {
    std::ifstream in(dir / "config.json");
    return json::parse(in);
  }
  static void write_config(const fs::path& dir, const json& j) {
    std::ofstream(dir / "config.json", std::ios::trunc) << j.dump(2);
  }
  static void edit_config(const fs::path& dir, const std::string& key, const json& value) {
    json j = read_config(dir);
    if (value.is_null()) {
      j.erase(key);
    } else {
      j[key] = value;
    }
    write_config(dir, j);
  }
  static std::vector<Tensor> read_tensors(const fs::path& file) {
    const SafetensorsFile f(file);
    std::vector<Tensor> out;
    for (const TensorInfo& t : f.tensors()) {
      const std::byte* p = f.data(t);
      out.push_back({t.name, t.dtype, t.shape, std::vector<std::byte>(p, p + t.nbytes)});
    }
    return out;
  }
  static void write_tensors(const fs::path& file, const std::vector<Tensor>& tensors) {
    std::vector<TensorToWrite> w;
    for (const Tensor& t : tensors) w.push_back({t.name, t.dtype, t.shape, t.bytes});
    write_safetensors(file, w);
  }
  // The single-file F32 checkpoint with its tensors edited.
  fs::path with_tensors(const std::function<void(std::vector<Tensor>&)>& edit) {
    const fs::path dir = copy("neox_parallel_f32");
    std::vector<Tensor> t = read_tensors(dir / "model.safetensors");
    edit(t);
    write_tensors(dir / "model.safetensors", t);
    return dir;
  }

  fs::path root_;
  int n_ = 0;
};

TEST(GptNeox, ConfigFieldsOfTheFixtures) {
  {
    const Model m = load_model(kModels / "neox_parallel_f32");
    const ModelConfig& c = m.config;
    EXPECT_EQ(c.model_type, "gpt_neox");
    EXPECT_EQ(c.n_layers, 3);
    EXPECT_EQ(c.d_model, 32);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.kv_heads(), 4);
    EXPECT_EQ(c.d_mlp, 128);
    EXPECT_EQ(c.n_vocab, 520);  // padded beyond the tokenizer's 512 ids
    EXPECT_EQ(c.n_positions, 64);
    EXPECT_EQ(c.rotary_dim, 2);  // int(8 * 0.25)
    EXPECT_EQ(c.rope_theta, 10000.0);
    EXPECT_EQ(c.rope_scaling.kind, RopeScalingKind::None);
    EXPECT_EQ(c.activation, "gelu");
    EXPECT_TRUE(c.parallel_residual);
    EXPECT_TRUE(c.attention_bias);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_FALSE(c.position_embeddings);
    EXPECT_EQ(m.weights.wpe, nullptr);
    ASSERT_NE(m.weights.unembed, nullptr);
    EXPECT_NE(m.weights.unembed, m.weights.wte);
    // F32: the fused query_key_value and embed_out are read in place from the memory map.
    const BlockWeights& b = m.weights.blocks.at(1);
    EXPECT_TRUE(is_memory_mapped(m, b.linear("qkv").weight));
    EXPECT_TRUE(is_memory_mapped(m, m.weights.unembed));
    EXPECT_EQ(b.linear("qkv").out, 96);
    EXPECT_TRUE(b.linear("qkv").out_in);
    EXPECT_NE(b.linear("qkv").bias, nullptr);
    EXPECT_EQ(b.linear("fc").out, 128);
    EXPECT_NE(b.norm("ln_2").beta, nullptr);
  }
  {
    const ModelConfig c = load_model(kModels / "neox_sequential_bf16_sharded").config;
    EXPECT_FALSE(c.parallel_residual);
    EXPECT_EQ(c.rotary_dim, 4);
    EXPECT_EQ(c.rope_theta, 500.0);
    EXPECT_EQ(c.activation, "gelu_new");
  }
  {
    const Model m = load_model(kModels / "neox_f16");
    EXPECT_EQ(m.config.rotary_dim, 8);
    EXPECT_EQ(m.config.rope_scaling.kind, RopeScalingKind::Linear);
    EXPECT_EQ(m.config.rope_scaling.factor, 2.0);
    EXPECT_FALSE(m.config.attention_bias);
    EXPECT_EQ(m.weights.blocks.at(0).linear("qkv").bias, nullptr);
    EXPECT_EQ(m.weights.blocks.at(0).linear("attn_out").bias, nullptr);
  }
}

TEST_F(NeoxCheckpoint, NewerConfigSpellingsReadTheSame) {
  // transformers >= 4.5x: rope_parameters {rope_type, rope_theta, partial_rotary_factor}.
  const fs::path dir = copy("neox_sequential_bf16_sharded");
  json j = read_config(dir);
  j.erase("rotary_pct");
  j.erase("rotary_emb_base");
  j.erase("rope_scaling");
  j["rope_parameters"] = {
      {"rope_type", "default"}, {"rope_theta", 500}, {"partial_rotary_factor", 0.5}};
  write_config(dir, j);
  const ModelConfig c = load_model(dir).config;
  EXPECT_EQ(c.rotary_dim, 4);
  EXPECT_EQ(c.rope_theta, 500.0);
  EXPECT_EQ(c.rope_scaling.kind, RopeScalingKind::None);
  // rope_theta at top level, linear scaling inside rope_parameters.
  j.erase("rope_parameters");
  j["rope_theta"] = 250;
  j["partial_rotary_factor"] = 1.0;
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 4.0}};
  write_config(dir, j);
  const ModelConfig c2 = load_model(dir).config;
  EXPECT_EQ(c2.rotary_dim, 8);
  EXPECT_EQ(c2.rope_theta, 250.0);
  EXPECT_EQ(c2.rope_scaling.kind, RopeScalingKind::Linear);
  EXPECT_EQ(c2.rope_scaling.factor, 4.0);
  // Defaults when the keys are absent: rotary_pct 0.25, base 10000, parallel, untied, gelu.
  json d = read_config(dir);
  for (const char* k : {"rope_theta", "partial_rotary_factor", "rope_parameters",
                        "use_parallel_residual", "hidden_act", "tie_word_embeddings"}) {
    d.erase(k);
  }
  write_config(dir, d);
  // The checkpoint is sequential, but the default is parallel: same tensors, so it loads.
  const ModelConfig c3 = load_model(dir).config;
  EXPECT_EQ(c3.rotary_dim, 2);
  EXPECT_EQ(c3.rope_theta, 10000.0);
  EXPECT_TRUE(c3.parallel_residual);
  EXPECT_EQ(c3.activation, "gelu");
  EXPECT_FALSE(c3.tie_word_embeddings);
}

TEST_F(NeoxCheckpoint, UnsupportedConfigValuesAreOneLineNamingTheKey) {
  struct Case {
    std::string key;
    json value;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"hidden_act", "relu", {"config.json: hidden_act", "\"relu\" is not an implemented"}},
      {"hidden_act", 3, {"config.json: hidden_act", "3 is not an implemented activation"}},
      {"rotary_pct", 0.0, {"config.json: rotary_pct", "0.0 is not in (0, 1]"}},
      {"rotary_pct", 1.5, {"config.json: rotary_pct", "1.5 is not in (0, 1]"}},
      {"rotary_pct", "x", {"config.json: rotary_pct", "is not a number"}},
      {"rotary_pct", 0.1, {"config.json: rotary_pct", "rotary_ndims = int(8 * 0.1) = 0"}},
      {"rotary_pct", 0.375, {"config.json: rotary_pct", "= 3, which must be even"}},
      {"rope_scaling",
       json{{"type", "dynamic"}, {"factor", 2.0}},
       {"config.json: rope_scaling.rope_type", "\"dynamic\" is not supported"}},
      {"rope_scaling", json{{"factor", 2.0}}, {"config.json: rope_scaling.rope_type", "missing"}},
      {"rope_scaling",
       json{{"type", "linear"}, {"factor", -1}},
       {"config.json: rope_scaling.factor", "not a positive number"}},
      {"rotary_emb_base", 0, {"config.json: rotary_emb_base", "is not a rotary base"}},
      {"use_parallel_residual", "yes", {"config.json: use_parallel_residual", "not a boolean"}},
      {"attention_bias", 1, {"config.json: attention_bias", "not a boolean"}},
      {"num_attention_heads", 5, {"config.json: num_attention_heads", "5 does not divide"}},
      {"intermediate_size", json(), {"config.json: intermediate_size", "missing"}},
      {"layer_norm_eps", -1, {"config.json: layer_norm_eps", "not a small positive number"}},
  };
  for (const Case& c : cases) {
    const fs::path dir = copy("neox_parallel_f32");
    edit_config(dir, c.key, c.value);
    const std::string msg = load_error(dir);
    for (const std::string& e : c.expect) EXPECT_CONTAINS(msg, e) << " for " << c.key;
    EXPECT_CONTAINS(msg, (dir / "config.json").string());
  }
}

TEST_F(NeoxCheckpoint, MissingExtraAndMisShapedTensorsAreNamed) {
  const auto erase = [](const std::string& name) {
    return [name](std::vector<Tensor>& t) {
      std::erase_if(t, [&](const Tensor& x) { return x.name == name; });
    };
  };
  for (const std::string victim : {"gpt_neox.layers.1.mlp.dense_4h_to_h.bias",
                                   "gpt_neox.layers.2.attention.query_key_value.weight",
                                   "gpt_neox.final_layer_norm.bias", "embed_out.weight"}) {
    const fs::path dir = with_tensors(erase(victim));
    const std::string msg = load_error(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string() + ": " + victim + ": missing tensor");
  }
  {
    // No embed_in: not a GPT-NeoX checkpoint at all.
    const fs::path dir = with_tensors(erase("gpt_neox.embed_in.weight"));
    EXPECT_CONTAINS(load_error(dir),
                    "gpt_neox.embed_in.weight: missing tensor (gpt_neox.embed_in.weight is not "
                    "present)");
  }
  {
    const fs::path dir = with_tensors([](std::vector<Tensor>& t) {
      Tensor extra = t.front();
      extra.name = "gpt_neox.layers.0.foo";
      t.push_back(extra);
    });
    const std::string msg = load_error(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string() + ": gpt_neox.layers.0.foo");
    EXPECT_CONTAINS(msg, "unexpected tensor");
  }
  {
    // query_key_value [3D, D + 1]: the shape and what it should be.
    const fs::path dir = with_tensors([](std::vector<Tensor>& t) {
      for (Tensor& x : t) {
        if (x.name != "gpt_neox.layers.1.attention.query_key_value.weight") continue;
        x.shape = {32, 96};  // transposed (Conv1D layout)
      }
    });
    const std::string msg = load_error(dir);
    EXPECT_CONTAINS(msg, "gpt_neox.layers.1.attention.query_key_value.weight");
    EXPECT_CONTAINS(msg,
                    "shape [32, 96] contradicts config.json (expected [96, 32] = [3 * "
                    "hidden_size, hidden_size])");
  }
  {
    // embed_out rows must match vocab_size like embed_in.
    const fs::path dir = copy("neox_parallel_f32");
    edit_config(dir, "vocab_size", 512);
    EXPECT_CONTAINS(load_error(dir), "gpt_neox.embed_in.weight: shape [520, 32] contradicts");
  }
  {
    // Fewer layers in config.json than in the weights.
    const fs::path dir = copy("neox_parallel_f32");
    edit_config(dir, "num_hidden_layers", 2);
    const std::string msg = load_error(dir);
    EXPECT_CONTAINS(msg, "gpt_neox.layers.2.");
    EXPECT_CONTAINS(msg, "config.json has 2 layers");
  }
  {
    // attention_bias false, but the weights have the biases: refused, not silently dropped.
    const fs::path dir = copy("neox_parallel_f32");
    edit_config(dir, "attention_bias", false);
    const std::string msg = load_error(dir);
    EXPECT_CONTAINS(msg, "gpt_neox.layers.0.attention.dense.bias");
    EXPECT_CONTAINS(msg, "unexpected tensor (and 5 more)");
  }
  {
    // attention_bias true (the default), but the weights have none.
    const fs::path dir = copy("neox_f16");
    edit_config(dir, "attention_bias", json());
    EXPECT_CONTAINS(load_error(dir), "gpt_neox.layers.0.attention.query_key_value.bias: missing");
  }
}

TEST_F(NeoxCheckpoint, BuffersAndATiedEmbedOutAreIgnored) {
  // neox_f16 carries attention.bias (BOOL), masked_bias and rotary_emb.inv_freq per layer.
  const Model m = load_model(kModels / "neox_f16");
  EXPECT_EQ(m.config.n_layers, 3);
  // tie_word_embeddings: embed_in is the unembedding; a stored embed_out is not read.
  const fs::path dir = copy("neox_parallel_f32");
  edit_config(dir, "tie_word_embeddings", true);
  const Model tied = load_model(dir);
  EXPECT_EQ(tied.weights.unembed, nullptr);
  // And a buffer name outside the model's prefix is not a buffer.
  const fs::path stray = with_tensors([](std::vector<Tensor>& t) {
    Tensor extra = t.front();
    extra.name = "layers.0.attention.rotary_emb.inv_freq";
    t.push_back(extra);
  });
  EXPECT_CONTAINS(load_error(stray), "layers.0.attention.rotary_emb.inv_freq: unexpected tensor");
}

TEST(GptNeox, HookNamesFollowTheResidualVariant) {
  const ModelConfig par = load_model(kModels / "neox_parallel_f32").config;
  const ModelConfig seq = load_model(kModels / "neox_sequential_bf16_sharded").config;
  for (const ModelConfig* c : {&par, &seq}) {
    for (const char* name :
         {"blocks.0.hook_resid_pre", "blocks.1.attn.hook_q", "blocks.1.attn.hook_k",
          "blocks.1.attn.hook_v", "blocks.2.attn.hook_rot_q", "blocks.2.attn.hook_rot_k",
          "blocks.0.attn.hook_z", "blocks.0.hook_attn_out", "blocks.0.mlp.hook_pre",
          "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out", "blocks.2.hook_resid_post",
          "hook_embed", "ln_final.hook_normalized", "hidden_states.0", "hidden_states.3"}) {
      EXPECT_NO_THROW(parse_hook_name(name, *c)) << name;
    }
    EXPECT_EQ(hook_width(parse_hook_name("blocks.0.attn.hook_rot_k", *c), *c), 32);
    EXPECT_EQ(hook_width(parse_hook_name("blocks.0.mlp.hook_post", *c), *c), 128);
    // No learned positions, no gated MLP.
    EXPECT_CONTAINS(error_of([&] { parse_hook_name("hook_pos_embed", *c); }),
                    "no learned position embeddings");
    EXPECT_CONTAINS(error_of([&] { parse_hook_name("blocks.0.mlp.hook_pre_linear", *c); }),
                    "this gpt_neox model's blocks have no 'mlp.hook_pre_linear'");
    EXPECT_CONTAINS(error_of([&] { parse_hook_name("blocks.0.attn.hook_x", *c); }),
                    "unknown block hook 'attn.hook_x'");
  }
  EXPECT_NO_THROW(parse_hook_name("blocks.1.hook_resid_mid", seq));
  const std::string msg = error_of([&] { parse_hook_name("blocks.1.hook_resid_mid", par); });
  EXPECT_CONTAINS(msg,
                  "hook 'blocks.1.hook_resid_mid': this gpt_neox model's blocks have no "
                  "'hook_resid_mid' (parallel residual");
  EXPECT_CONTAINS(msg, "attn.hook_rot_q");  // the valid names follow
  EXPECT_EQ(msg.find("hook_resid_mid,"), std::string::npos) << msg;
  EXPECT_CONTAINS(error_of([&] {
                    resolve_hook_patterns(std::vector<std::string>{"blocks.*.hook_resid_mid"}, par);
                  }),
                  "matches no hook point");
  EXPECT_EQ(resolve_hook_patterns(std::vector<std::string>{"blocks.*.hook_resid_mid"}, seq).size(),
            3u);
  // The site tables: 12 sites per parallel block, 13 per sequential one.
  EXPECT_EQ(architecture_of(par).block_sites(par).size(), 12u);
  EXPECT_EQ(architecture_of(seq).block_sites(seq).size(), 13u);
  EXPECT_EQ(all_hook_points(par).size(), 2u + 3u * 13u + 1u);  // embed, hidden.0, blocks, ln_f
  EXPECT_EQ(all_hook_points(seq).size(), 2u + 3u * 14u + 1u);
}

TEST(GptNeox, RotaryHooksDifferOnlyInTheRotatedFeatures) {
  // rotary_pct 0.25 (rd 2 of dh 8): hook_rot_q equals hook_q outside the first 2 features of
  // each head, and at position 0 (angle 0) everywhere.
  const Model m = load_model(kModels / "neox_parallel_f32");
  ForwardPass fwd(m, 1, 16);
  std::vector<int32_t> tokens(16);
  for (int i = 0; i < 16; ++i) tokens[static_cast<std::size_t>(i)] = 31 * i % 520;
  std::vector<float> q(16 * 32), rot(16 * 32);
  const CaptureRequest reqs[] = {{{HookSite::AttnQ, 1}, q.data()},
                                 {{HookSite::AttnRotQ, 1}, rot.data()}};
  fwd.run(tokens, 1, 16, reqs);
  int rotated = 0;
  for (int t = 0; t < 16; ++t) {
    for (int j = 0; j < 32; ++j) {
      const std::size_t i = static_cast<std::size_t>(t) * 32 + j;
      if (t == 0 || j % 8 >= 2) {
        ASSERT_EQ(q[i], rot[i]) << t << "," << j;
      } else if (q[i] != rot[i]) {
        ++rotated;
      }
    }
  }
  EXPECT_GT(rotated, 15 * 8 / 2);
}

}  // namespace
}  // namespace neurolens::model
