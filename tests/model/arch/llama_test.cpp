// The Llama family (model/arch/llama_block.* and llama.cpp, mistral.cpp, qwen2.cpp, gemma.cpp,
// gemma2.cpp): what each config.json field becomes, the hook names and widths (k / v with the
// key-value heads), the weights it reads (tied and untied unembedding, biases, sandwich norms),
// and one-line errors naming the file and key for bad configs and bad tensors. The activations
// themselves are checked against the PyTorch reference in forward_test.cpp (LlamaFixtures).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
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
#include "model/ops/attention.hpp"

namespace neurolens::model {
namespace {

namespace fs = std::filesystem;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const fs::path kModels = fs::path(NEUROLENS_FIXTURES) / "models";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_file(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_CONTAINS(msg, "(fix: ");
    return msg;
  }
  ADD_FAILURE() << "expected neurolens::Error";
  return {};
}

TEST(Llama, ConfigFieldsOfEachModelType) {
  {
    const Model m = load_model(kModels / "llama_gqa_f32");
    const ModelConfig& c = m.config;
    EXPECT_EQ(c.model_type, "llama");
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.kv_heads(), 2);
    EXPECT_EQ(c.head_dim(), 8);
    EXPECT_EQ(c.rotary_dim, 8);
    EXPECT_EQ(c.rope_scaling.kind, RopeScalingKind::Llama3);
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
    EXPECT_EQ(c.activation, "silu");
    EXPECT_FALSE(c.position_embeddings);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_NE(m.weights.unembed, nullptr);  // lm_head.weight
    EXPECT_EQ(m.weights.wpe, nullptr);
    EXPECT_EQ(m.weights.ln_f.beta, nullptr);
    EXPECT_EQ(m.weights.blocks[0].linear("q").bias, nullptr);
  }
  {
    const Model m = load_model(kModels / "llama_tied_bf16_sharded");
    const ModelConfig& c = m.config;
    EXPECT_EQ(c.head_dim(), 12);  // != hidden_size / heads = 8
    EXPECT_EQ(c.rope_scaling.kind, RopeScalingKind::Linear);
    EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(m.weights.unembed, nullptr);
    for (const char* name : {"q", "k", "v", "attn_out", "gate", "up", "down"}) {
      EXPECT_NE(m.weights.blocks[1].linear(name).bias, nullptr) << name;
    }
    EXPECT_EQ(m.weights.blocks[0].linear("q").out, 4 * 12);
    EXPECT_EQ(m.weights.blocks[0].linear("k").out, 2 * 12);
    EXPECT_EQ(m.weights.blocks[0].linear("attn_out").in, 4 * 12);
  }
  {
    const Model m = load_model(kModels / "mistral_f32");
    EXPECT_EQ(m.config.window_size, 7);
    for (AttentionKind k : m.config.attention_kinds) EXPECT_EQ(k, AttentionKind::Local);
  }
  {
    const Model m = load_model(kModels / "qwen2_f16");  // has a tied lm_head.weight: ignored
    EXPECT_FLOAT_EQ(m.config.layer_norm_eps, 1e-6f);
    EXPECT_TRUE(m.config.qkv_bias);
    EXPECT_FALSE(m.config.out_bias);
    EXPECT_NE(m.weights.blocks[0].linear("v").bias, nullptr);
    EXPECT_EQ(m.weights.blocks[0].linear("attn_out").bias, nullptr);
    EXPECT_EQ(m.weights.unembed, nullptr);
  }
  {
    const Model m = load_model(kModels / "gemma_f32");
    EXPECT_EQ(m.config.head_dim(), 16);
    EXPECT_EQ(m.config.activation, "gelu_pytorch_tanh");  // hidden_act "gelu" is not read
    EXPECT_FLOAT_EQ(m.config.embedding_scale, std::sqrt(32.0f));
    EXPECT_EQ(m.weights.blocks[0].norms.size(), 2u);
  }
  {
    const Model m = load_model(kModels / "gemma2_f32");
    const ModelConfig& c = m.config;
    EXPECT_FLOAT_EQ(c.attention_scale, 1.0f / std::sqrt(24.0f));
    EXPECT_FLOAT_EQ(c.attention_softcap, 50.0f);
    EXPECT_EQ(c.window_size, 6);
    EXPECT_EQ(c.attention_kinds,
              (std::vector<AttentionKind>{AttentionKind::Local, AttentionKind::Global,
                                          AttentionKind::Local, AttentionKind::Global}));
    EXPECT_EQ(m.weights.blocks[0].norms.size(), 4u);
  }
}

TEST(Llama, HookNamesAndWidths) {
  const Model m = load_model(kModels / "llama_gqa_f32");
  const ModelConfig& c = m.config;
  const std::vector<HookPoint> all = all_hook_points(c);
  std::vector<std::string> names;
  for (const HookPoint& p : all) names.push_back(hook_name(p));
  const std::vector<std::string> block0 = {
      "blocks.0.hook_resid_pre", "blocks.0.attn.hook_q",         "blocks.0.attn.hook_k",
      "blocks.0.attn.hook_v",    "blocks.0.attn.hook_rot_q",     "blocks.0.attn.hook_rot_k",
      "blocks.0.attn.hook_z",    "blocks.0.hook_attn_out",       "blocks.0.hook_resid_mid",
      "blocks.0.mlp.hook_pre",   "blocks.0.mlp.hook_pre_linear", "blocks.0.mlp.hook_post",
      "blocks.0.hook_mlp_out",   "blocks.0.hook_resid_post"};
  for (const std::string& n : block0) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  EXPECT_EQ(std::find(names.begin(), names.end(), "hook_pos_embed"), names.end());
  EXPECT_EQ(names.size(), 1u + 4u + 14u * 3u + 1u);  // embed, hidden_states, blocks, ln_final
  const auto width = [&](const std::string& n) { return hook_width(parse_hook_name(n, c), c); };
  EXPECT_EQ(width("blocks.1.attn.hook_q"), 4 * 8);
  EXPECT_EQ(width("blocks.1.attn.hook_rot_q"), 4 * 8);
  EXPECT_EQ(width("blocks.1.attn.hook_z"), 4 * 8);
  EXPECT_EQ(width("blocks.1.attn.hook_k"), 2 * 8);
  EXPECT_EQ(width("blocks.1.attn.hook_v"), 2 * 8);
  EXPECT_EQ(width("blocks.1.attn.hook_rot_k"), 2 * 8);
  EXPECT_EQ(width("blocks.1.mlp.hook_pre_linear"), 64);
  EXPECT_EQ(width("blocks.1.mlp.hook_post"), 64);
  EXPECT_EQ(width("blocks.1.hook_attn_out"), 32);
  const Model g = load_model(kModels / "llama_tied_bf16_sharded");
  EXPECT_EQ(hook_width(parse_hook_name("blocks.0.attn.hook_z", g.config), g.config), 4 * 12);
  EXPECT_EQ(hook_width(parse_hook_name("blocks.0.attn.hook_k", g.config), g.config), 2 * 12);
  EXPECT_THROW(parse_hook_name("hook_pos_embed", c), Error);
}

// Gemma 2's soft-capping in attention_head against a double-precision reference: scores =
// tanh(s q k^T / cap) * cap, masked (causal, or keys > query - window), softmax, times v; over
// several query tiles (T > kAttentionBlock) and with scores large enough for the cap to bind.
TEST(Llama, SoftCappedAttentionMatchesNaive) {
  const int t = 300, dh = 16;
  const float scale = 0.25f, cap = 20.0f;
  std::vector<float> q(t * dh), k(t * dh), v(t * dh), z(t * dh);
  unsigned state = 12345;
  const auto rnd = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  };
  for (float& x : q) x = 6.0f * rnd();
  for (float& x : k) x = 6.0f * rnd();
  for (float& x : v) x = rnd();
  std::vector<float> scratch(attention_scratch_size(t, dh));
  for (int window : {0, 6}) {
    attention_head(q.data(), k.data(), v.data(), dh, z.data(), dh, t, dh, scale, window, scratch,
                   cap);
    int capped = 0;
    for (int i = 0; i < t; ++i) {
      const int lo = window > 0 ? std::max(0, i - window + 1) : 0;
      std::vector<double> p(static_cast<std::size_t>(i + 1 - lo));
      double mx = -1e300, sum = 0.0;
      for (int j = lo; j <= i; ++j) {
        double s = 0.0;
        for (int c = 0; c < dh; ++c) s += static_cast<double>(q[i * dh + c]) * k[j * dh + c];
        s *= scale;
        if (std::fabs(s) > cap) ++capped;
        s = std::tanh(s / cap) * cap;
        p[static_cast<std::size_t>(j - lo)] = s;
        mx = std::max(mx, s);
      }
      for (double& x : p) sum += (x = std::exp(x - mx));
      for (int c = 0; c < dh; ++c) {
        double want = 0.0;
        for (int j = lo; j <= i; ++j)
          want += p[static_cast<std::size_t>(j - lo)] / sum * v[j * dh + c];
        ASSERT_NEAR(z[i * dh + c], want, 2e-5) << "window " << window << " query " << i;
      }
    }
    EXPECT_GT(capped, 0) << "the cap never binds";
  }
}

// ---- Bad configs and tensors: a copy of a fixture with one thing changed.
class BadLlama : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("neurolens_llama_test_" +
             std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path copy(const std::string& variant) {
    const fs::path dir = root_ / (variant + std::to_string(++n_));
    fs::copy(kModels / variant, dir, fs::copy_options::recursive);
    return dir;
  }
  static void edit_config(const fs::path& dir, const std::string& key, const nlohmann::json& v) {
    auto j = nlohmann::json::parse(read_file(dir / "config.json"));
    if (v.is_discarded()) {
      j.erase(key);
    } else {
      j[key] = v;
    }
    write_file(dir / "config.json", j.dump());
  }
  // Rewrites model.safetensors through `edit` on its tensor list (fp32 data kept alive here).
  void edit_tensors(const fs::path& dir,
                    const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    std::vector<TensorToWrite> tensors;
    {
      const SafetensorsFile f(dir / "model.safetensors");
      for (const TensorInfo& t : f.tensors()) {
        const std::byte* p = f.data(t);
        data_.emplace_back(p, p + t.nbytes);
        tensors.push_back({t.name, t.dtype, t.shape, data_.back()});
      }
      edit(tensors);
      write_safetensors(dir / "model.safetensors.tmp", tensors);
    }
    fs::rename(dir / "model.safetensors.tmp", dir / "model.safetensors");
  }

  fs::path root_;
  int n_ = 0;
  std::vector<std::vector<std::byte>> data_;
};

TEST_F(BadLlama, ConfigErrorsNameTheKey) {
  {
    const fs::path dir = copy("llama_gqa_f32");
    edit_config(dir, "rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}});
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": rope_scaling");
    EXPECT_CONTAINS(msg, "yarn");
  }
  {
    const fs::path dir = copy("llama_gqa_f32");
    edit_config(dir, "hidden_act", "relu2");
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": hidden_act");
    EXPECT_CONTAINS(msg, "relu2");
  }
  {
    const fs::path dir = copy("gemma_f32");
    edit_config(dir, "hidden_activation", "quick_gelu");
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": hidden_activation");
  }
  {
    const fs::path dir = copy("llama_gqa_f32");
    edit_config(dir, "num_key_value_heads", 3);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": num_key_value_heads");
    EXPECT_CONTAINS(msg, "3 does not divide num_attention_heads 4");
  }
  {
    const fs::path dir = copy("llama_gqa_f32");
    edit_config(dir, "num_attention_heads", 3);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, ": num_key_value_heads");  // checked first: 2 does not divide 3
  }
  {
    const fs::path dir = copy("llama_gqa_f32");
    edit_config(dir, "num_attention_heads", 6);
    edit_config(dir, "num_key_value_heads", 3);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, ": num_attention_heads");
    EXPECT_CONTAINS(msg, "6 does not divide hidden_size 32");
  }
  {
    const fs::path dir = copy("llama_tied_bf16_sharded");
    edit_config(dir, "head_dim", 1 << 29);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, ": head_dim");
    EXPECT_CONTAINS(msg, "exceeds 2^30");
  }
  {
    const fs::path dir = copy("llama_tied_bf16_sharded");
    edit_config(dir, "head_dim", 7);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": head_dim");
    EXPECT_CONTAINS(msg, "odd");
  }
  {
    const fs::path dir = copy("qwen2_f16");
    edit_config(dir, "use_sliding_window", true);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": use_sliding_window");
  }
  {
    const fs::path dir = copy("gemma2_f32");
    edit_config(dir, "layer_types", {"sliding_attention", "full_attention", "chunked", "x"});
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": layer_types[2]");
  }
  {
    const fs::path dir = copy("mistral_f32");
    edit_config(dir, "sliding_window", -3);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": sliding_window");
  }
}

TEST_F(BadLlama, MistralSlidingWindowNullAndAbsent) {
  {
    const fs::path dir = copy("mistral_f32");
    edit_config(dir, "sliding_window", nullptr);
    const Model m = load_model(dir);
    for (AttentionKind k : m.config.attention_kinds) EXPECT_EQ(k, AttentionKind::Global);
  }
  {
    const fs::path dir = copy("mistral_f32");
    edit_config(dir, "sliding_window", nlohmann::json(nlohmann::json::value_t::discarded));
    const Model m = load_model(dir);
    EXPECT_EQ(m.config.window_size, 4096);  // MistralConfig's default
    EXPECT_EQ(m.config.attention_kinds[0], AttentionKind::Local);
  }
}

TEST_F(BadLlama, TensorErrorsNameFileAndKey) {
  {
    const fs::path dir = copy("llama_gqa_f32");
    edit_tensors(dir, [](std::vector<TensorToWrite>& t) {
      std::erase_if(
          t, [](const TensorToWrite& x) { return x.name == "model.layers.1.mlp.up_proj.weight"; });
    });
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, "model.layers.1.mlp.up_proj.weight");
    EXPECT_CONTAINS(msg, "missing tensor");
  }
  {
    const fs::path dir = copy("llama_gqa_f32");  // untied: lm_head.weight is required
    edit_tensors(dir, [](std::vector<TensorToWrite>& t) {
      std::erase_if(t, [](const TensorToWrite& x) { return x.name == "lm_head.weight"; });
    });
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, ": lm_head.weight");
    EXPECT_CONTAINS(msg, "missing tensor");
  }
  {
    const fs::path dir = copy("llama_gqa_f32");
    edit_tensors(dir, [](std::vector<TensorToWrite>& t) {
      TensorToWrite extra = t.front();
      extra.name = "model.layers.0.self_attn.q_proj.bias_extra";
      t.push_back(extra);
    });
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(
        msg, (dir / "model.safetensors").string() + ": model.layers.0.self_attn.q_proj.bias_extra");
    EXPECT_CONTAINS(msg, "unexpected tensor");
  }
  {
    const fs::path dir = copy("llama_gqa_f32");  // q/k/v biases without attention_bias
    edit_config(dir, "attention_bias", true);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, "model.layers.0.self_attn.");
    EXPECT_CONTAINS(msg, "missing tensor");
  }
  {
    const fs::path dir = copy("llama_gqa_f32");  // k_proj with 4 heads instead of 2
    edit_config(dir, "num_key_value_heads", 4);
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(
        msg, (dir / "model.safetensors").string() + ": model.layers.0.self_attn.k_proj.weight");
    EXPECT_CONTAINS(msg, "shape [16, 32] contradicts config.json");
    EXPECT_CONTAINS(msg, "num_key_value_heads * head_dim");
  }
  {
    const fs::path dir = copy("gemma2_f32");  // sandwich norms are required
    edit_tensors(dir, [](std::vector<TensorToWrite>& t) {
      std::erase_if(t, [](const TensorToWrite& x) {
        return x.name == "model.layers.3.post_feedforward_layernorm.weight";
      });
    });
    const std::string msg = error_of([&] { load_model(dir); });
    EXPECT_CONTAINS(msg, "model.layers.3.post_feedforward_layernorm.weight");
  }
}

// The bf16 pass (packed q | k | v, gate, up, down) against fp32 on 2 x 64 random tokens. Bounds
// are measured on these fixtures with ~2x headroom; they are wider than GPT-2's
// (gemm_bf16_test.cpp) because act(gate) * up multiplies two rounded GEMMs (heavier tails), and
// much wider for gemma2_f32, whose q / k are scaled up until soft-capping binds: near-hard
// attention turns the rounding of q and k into visible changes of hook_z.
TEST(Llama, Bf16ForwardIsCloseToFp32) {
  if (!bf16_compute_supported()) GTEST_SKIP() << "no AVX512_BF16";
  for (const std::string v : {"llama_gqa_f32", "llama_tied_bf16_sharded", "mistral_f32",
                              "qwen2_f16", "gemma_f32", "gemma2_f32"}) {
    const Model m = load_model(kModels / v);
    const int batch = 2, seq_len = 64;
    std::vector<int32_t> tokens(batch * seq_len);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = static_cast<int32_t>((i * 7919 + 13) % 512);
    }
    ForwardPass fp32(m, batch, seq_len);
    ForwardPass bf16(m, batch, seq_len, Precision::Bf16);
    EXPECT_EQ(bf16.packed_bytes(), ForwardPass::packed_bytes_for(m.config, Precision::Bf16)) << v;
    const std::vector<HookPoint> all = all_hook_points(m.config);
    std::map<std::string, std::vector<float>> a, b;
    std::vector<CaptureRequest> ra, rb;
    for (const HookPoint& p : all) {
      const std::size_t size = static_cast<std::size_t>(batch) * seq_len * hook_width(p, m.config);
      a[hook_name(p)].assign(size, std::nanf(""));
      b[hook_name(p)].assign(size, std::nanf(""));
    }
    for (const HookPoint& p : all) {
      ra.push_back({p, a[hook_name(p)].data()});
      rb.push_back({p, b[hook_name(p)].data()});
    }
    fp32.run(tokens, batch, seq_len, ra);
    bf16.run(tokens, batch, seq_len, rb);
    const bool capped = v == "gemma2_f32";
    const double max_bound = capped ? 1.6 : 0.3, rms_bound = capped ? 0.1 : 0.025;
    double worst = 0.0, worst_rms = 0.0;
    for (const HookPoint& p : all) {
      const std::vector<float>& want = a.at(hook_name(p));
      const std::vector<float>& got = b.at(hook_name(p));
      double sq = 0.0, sq_err = 0.0, max_err = 0.0;
      for (std::size_t i = 0; i < want.size(); ++i) {
        const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
        sq += static_cast<double>(want[i]) * want[i];
        sq_err += err * err;
        max_err = std::isnan(err) ? INFINITY : std::max(max_err, err);
      }
      const double rms = std::sqrt(sq / static_cast<double>(want.size()));
      const double rms_err = std::sqrt(sq_err / static_cast<double>(want.size()));
      worst = std::max(worst, max_err / rms);
      worst_rms = std::max(worst_rms, rms_err / rms);
      EXPECT_LE(max_err / rms, max_bound) << v << " " << hook_name(p);
      EXPECT_LE(rms_err / rms, rms_bound) << v << " " << hook_name(p);
    }
    std::printf("bf16-vs-fp32 %s: worst max/rms %.4f, worst rms-err/rms %.4f\n", v.c_str(), worst,
                worst_rms);
  }
}

}  // namespace
}  // namespace neurolens::model
