// config.json parsing and validation for gpt2 and gpt_neo.
#include "model/load/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/error.hpp"

namespace fs = std::filesystem;
using namespace neurolens::model;
using nlohmann::json;

namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

class ConfigParse : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("neurolens_cfg_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const json& j) { return write_text(j.dump()); }
  fs::path write_text(const std::string& text) {
    const fs::path p = dir_ / "config.json";
    std::ofstream(p) << text;
    return p;
  }
  std::string error_of(const json& j) {
    const fs::path p = write(j);
    try {
      parse_model_config(p);
    } catch (const neurolens::Error& e) {
      EXPECT_CONTAINS(e.what(), p.string());
      return e.what();
    }
    ADD_FAILURE() << "expected an error for " << j.dump();
    return {};
  }

  static json gpt2() {
    return {{"model_type", "gpt2"},
            {"n_embd", 768},
            {"n_layer", 12},
            {"n_head", 12},
            {"n_positions", 1024},
            {"vocab_size", 50257},
            {"n_inner", nullptr},
            {"layer_norm_epsilon", 1e-5},
            {"activation_function", "gelu_new"}};
  }
  static json neo() {
    return {{"model_type", "gpt_neo"},
            {"hidden_size", 768},
            {"num_layers", 12},
            {"num_heads", 12},
            {"max_position_embeddings", 2048},
            {"vocab_size", 50257},
            {"intermediate_size", nullptr},
            {"layer_norm_epsilon", 1e-5},
            {"activation_function", "gelu_new"},
            {"window_size", 256},
            {"attention_types", json::array({json::array({json::array({"global", "local"}), 6})})}};
  }

  fs::path dir_;
};

TEST_F(ConfigParse, Gpt2) {
  const ModelConfig c = parse_model_config(write(gpt2()));
  EXPECT_EQ(c.n_kv_heads, 12);
  EXPECT_EQ(c.model_type, "gpt2");
  EXPECT_EQ(c.n_layers, 12);
  EXPECT_EQ(c.d_model, 768);
  EXPECT_EQ(c.n_heads, 12);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.d_mlp, 3072);  // null n_inner -> 4 * D
  EXPECT_EQ(c.n_vocab, 50257);
  EXPECT_EQ(c.n_positions, 1024);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-5f);
  EXPECT_EQ(c.attention_kinds, std::vector<AttentionKind>(12, AttentionKind::Global));
  EXPECT_TRUE(c.scale_attention_scores);
}

TEST_F(ConfigParse, Gpt2NInnerSetAndNCtxFallback) {
  json j = gpt2();
  j["n_inner"] = 1000;
  j.erase("n_positions");
  j["n_ctx"] = 512;
  j["layer_norm_epsilon"] = 1e-6;
  const ModelConfig c = parse_model_config(write(j));
  EXPECT_EQ(c.d_mlp, 1000);
  EXPECT_EQ(c.n_positions, 512);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-6f);
}

TEST_F(ConfigParse, GptNeo) {
  json j = neo();
  j["attention_layers"] = json::array();
  for (int i = 0; i < 6; ++i) {
    j["attention_layers"].push_back("global");
    j["attention_layers"].push_back("local");
  }
  const ModelConfig c = parse_model_config(write(j));
  EXPECT_EQ(c.model_type, "gpt_neo");
  EXPECT_EQ(c.d_mlp, 3072);
  EXPECT_EQ(c.n_positions, 2048);
  EXPECT_EQ(c.window_size, 256);
  EXPECT_FALSE(c.scale_attention_scores);
  ASSERT_EQ(c.attention_kinds.size(), 12u);
  EXPECT_EQ(c.attention_kinds[0], AttentionKind::Global);
  EXPECT_EQ(c.attention_kinds[1], AttentionKind::Local);
  EXPECT_EQ(c.attention_kinds[11], AttentionKind::Local);
}

TEST_F(ConfigParse, GptNeoSeveralAttentionTypeGroups) {
  json j = neo();
  j["num_layers"] = 5;
  j["intermediate_size"] = 100;
  j["attention_types"] = json::parse(R"([[["local"], 2], [["global", "local", "global"], 1]])");
  const ModelConfig c = parse_model_config(write(j));
  EXPECT_EQ(c.d_mlp, 100);
  const std::vector<AttentionKind> want = {AttentionKind::Local, AttentionKind::Local,
                                           AttentionKind::Global, AttentionKind::Local,
                                           AttentionKind::Global};
  EXPECT_EQ(c.attention_kinds, want);
}

TEST_F(ConfigParse, Errors) {
  struct Case {
    json config;
    std::vector<std::string> expected;
  };
  std::vector<Case> cases;
  {
    json j = gpt2();
    j["model_type"] = "mamba";
    cases.push_back({j, {"model_type", "\"mamba\" is not supported"}});
  }
  {
    json j = gpt2();
    j.erase("model_type");
    cases.push_back({j, {"model_type", "missing"}});
  }
  {
    json j = gpt2();
    j["activation_function"] = "relu";
    cases.push_back({j, {"activation_function", "relu", "gelu_new"}});
  }
  {
    json j = gpt2();
    j.erase("n_embd");
    cases.push_back({j, {"n_embd", "missing"}});
  }
  {
    json j = gpt2();
    j["n_head"] = 0;
    cases.push_back({j, {"n_head", "not a positive integer"}});
  }
  {
    json j = gpt2();
    j["n_layer"] = "12";
    cases.push_back({j, {"n_layer", "not a positive integer"}});
  }
  {
    json j = gpt2();
    j["n_head"] = 7;
    cases.push_back({j, {"n_head", "does not divide"}});
  }
  {
    json j = gpt2();
    j.erase("n_positions");
    cases.push_back({j, {"n_ctx", "missing"}});
  }
  {
    json j = gpt2();
    j["layer_norm_epsilon"] = -1;
    cases.push_back({j, {"layer_norm_epsilon"}});
  }
  {
    json j = neo();
    j["attention_types"] = json::parse(R"([[["global", "local"], 5]])");
    cases.push_back({j, {"attention_types", "expands to 10 layers", "num_layers is 12"}});
  }
  {
    json j = neo();
    j["attention_types"] = json::parse(R"([[["global", "sparse"], 6]])");
    cases.push_back({j, {"attention_types[0]", "sparse"}});
  }
  {
    json j = neo();
    j["attention_types"] = json::parse(R"([["global", 6]])");
    cases.push_back({j, {"attention_types[0]", "is not [[kinds...], repeat]"}});
  }
  {
    json j = neo();
    j["attention_layers"] = json::array();
    for (int i = 0; i < 12; ++i) j["attention_layers"].push_back("global");
    cases.push_back({j, {"attention_layers", "disagrees with attention_types"}});
  }
  {
    json j = neo();
    j["attention_layers"] = json::array({"global"});
    cases.push_back({j, {"attention_layers", "has 1 entries"}});
  }
  {
    json j = neo();
    j.erase("attention_types");
    cases.push_back({j, {"attention_types", "missing"}});
  }
  {
    json j = neo();
    j["num_heads"] = 5;
    cases.push_back({j, {"num_heads", "does not divide"}});
  }
  {
    json j = neo();
    j.erase("hidden_size");
    cases.push_back({j, {"hidden_size", "missing"}});
  }
  for (const auto& c : cases) {
    const std::string msg = error_of(c.config);
    for (const auto& e : c.expected) EXPECT_CONTAINS(msg, e);
    EXPECT_CONTAINS(msg, "(fix: ");
  }
}

TEST_F(ConfigParse, InvalidJsonAndMissingFile) {
  const fs::path p = write_text("{\"model_type\": \"gpt2\",");
  try {
    parse_model_config(p);
    ADD_FAILURE() << "expected an error";
  } catch (const neurolens::Error& e) {
    EXPECT_CONTAINS(e.what(), p.string());
    EXPECT_CONTAINS(e.what(), "invalid JSON");
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  try {
    parse_model_config(dir_ / "nope.json");
    ADD_FAILURE() << "expected an error";
  } catch (const neurolens::Error& e) {
    EXPECT_CONTAINS(e.what(), "nope.json");
    EXPECT_CONTAINS(e.what(), "cannot open");
  }
}

}  // namespace
