// Replays inputs through the fuzz targets of tests/fuzz, compiled here with g++ into one normal
// test (no libFuzzer): every committed seed (tests/fuzz/corpus/<name>/) and every input that once
// crashed a target (tests/fuzz/regressions/<name>/). A target aborts on any finding, so a
// regression fails this test; bad input must end in neurolens::Error, caught by the target.
// The regressions found by fuzzing also have a named test below that states the expected error.
#define NEUROLENS_FUZZ_REPLAY 1

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/load/config.hpp"
#include "tests/fuzz/brown_fuzz.cpp"
#include "tests/fuzz/checkpoint_fuzz.cpp"
#include "tests/fuzz/compressed_fuzz.cpp"
#include "tests/fuzz/config_fuzz.cpp"
#include "tests/fuzz/corpus_fuzz.cpp"
#include "tests/fuzz/job_fuzz.cpp"
#include "tests/fuzz/safetensors_fuzz.cpp"
#include "tests/fuzz/tokenizer_fuzz.cpp"
#include "tests/fuzz/tokenizer_json_fuzz.cpp"
#include "tests/fuzz/tokens_fuzz.cpp"
#include "tests/fuzz/vocab_fuzz.cpp"

namespace {

namespace fs = std::filesystem;
using Target = int (*)(const std::uint8_t*, std::size_t);

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs every file under tests/fuzz/<kind>/<name>/ through `target`; returns how many.
int replay(const std::string& kind, const std::string& name, Target target) {
  const fs::path dir = fs::path(NEUROLENS_SOURCE_DIR) / "tests/fuzz" / kind / name;
  int n = 0;
  if (!fs::is_directory(dir)) return 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    const std::string bytes = read_bytes(f);
    target(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ++n;
  }
  return n;
}

struct Case {
  const char* name;
  Target target;
};
const Case kTargets[] = {
    {"safetensors", safetensors_fuzz_one},
    {"config", config_fuzz_one},
    {"checkpoint", checkpoint_fuzz_one},
    {"vocab", vocab_fuzz_one},
    {"tokenizer", tokenizer_fuzz_one},
    {"tokenizer_json", tokenizer_json_fuzz_one},
    {"job", job_fuzz_one},
    {"corpus", corpus_fuzz_one},
    {"brown", brown_fuzz_one},
    {"tokens", tokens_fuzz_one},
    {"compressed", compressed_fuzz_one},
};

TEST(FuzzSeeds, EveryTargetHasSeedsAndAcceptsThemAll) {
  for (const Case& c : kTargets) {
    SCOPED_TRACE(c.name);
    EXPECT_GE(replay("corpus", c.name, c.target), 3) << "seed corpus of " << c.name;
  }
}

TEST(FuzzRegressions, EveryCrashFoundByFuzzingStaysFixed) {
  for (const Case& c : kTargets) {
    SCOPED_TRACE(c.name);
    replay("regressions", c.name, c.target);
  }
}

// Found by safetensors_fuzz: an F32 tensor with zero elements made to_f32 call
// memcpy(nullptr, src, 0) (UBSan: null pointer passed as argument 1). Now: an empty vector.
TEST(FuzzRegressions, EmptyF32TensorConvertsToAnEmptyVector) {
  const fs::path path = neurolens::fuzz::scratch_dir() / "empty.safetensors";
  const std::vector<neurolens::model::TensorToWrite> tensors = {
      {"e", neurolens::model::DType::F32, {0, 3}, {}}};
  neurolens::model::write_safetensors(path, tensors);
  const neurolens::model::SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 1u);
  EXPECT_TRUE(neurolens::model::to_f32(file, file.tensors()[0]).empty());
}

// Found by config_fuzz (and hand-made variants): sizes from config.json that drove undefined
// behaviour or huge allocations before any weight was read. Each is now a one-line Error.
std::string config_error(const std::string& json) {
  const fs::path path = neurolens::fuzz::scratch_dir() / "config.json";
  neurolens::fuzz::write_file(path, json);
  try {
    neurolens::model::parse_model_config(path);
  } catch (const neurolens::Error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(FuzzRegressions, ConfigSizesAreBoundedBeforeAnyAllocation) {
  // 4 * n_embd (the default n_inner) overflowed int: UBSan signed-integer-overflow.
  EXPECT_NE(config_error(R"({"model_type":"gpt2","n_embd":1073741824,"n_layer":1,"n_head":1,)"
                         R"("n_positions":1,"vocab_size":1})")
                .find("n_embd: 1073741824 is too large"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"model_type":"gpt_neo","hidden_size":1073741824,"num_layers":1,)"
                         R"("num_heads":1,"max_position_embeddings":1,"vocab_size":1,)"
                         R"("attention_types":[[["global"],1]]})")
                .find("hidden_size: 1073741824 is too large"),
            std::string::npos);
  // n_layer = 2e9 allocated 8 GB of attention kinds.
  EXPECT_NE(config_error(R"({"model_type":"gpt2","n_embd":8,"n_layer":2000000000,"n_head":1,)"
                         R"("n_positions":1,"vocab_size":1})")
                .find("n_layer: 2000000000 layers is more than the 65536"),
            std::string::npos);
  // attention_types repeating a long pattern 100000 times per entry expanded to gigabytes.
  const std::string neo =
      read_bytes(fs::path(NEUROLENS_SOURCE_DIR) /
                 "tests/fuzz/regressions/config/attention_types_expands_to_billions");
  EXPECT_NE(config_error(neo).find("expands to more than 5 layers but num_layers is 5"),
            std::string::npos)
      << config_error(neo);
}

// Found by corpus_fuzz (and the same pattern in vocab.json by reading the code): a JSON number
// too large for a double made nlohmann throw out_of_range, which only parse_error was caught
// for: an uncaught exception. Now a one-line neurolens::Error naming the file.
TEST(FuzzRegressions, JsonNumberOverflowIsAnErrorNamingTheFile) {
  const fs::path dir = neurolens::fuzz::scratch_dir() / "overflow";
  fs::create_directories(dir);
  neurolens::fuzz::write_file(dir / "c.jsonl", "{\"text\": \"ok\", \"n\": 1e999999}\n");
  const neurolens::io::Corpus corpus = neurolens::io::Corpus::open((dir / "c.jsonl").string());
  try {
    corpus.read_segment(0, [](neurolens::io::Document&) { return true; });
    ADD_FAILURE() << "accepted";
  } catch (const neurolens::Error& e) {
    EXPECT_NE(std::string(e.what()).find("c.jsonl"), std::string::npos) << e.what();
  }
  neurolens::fuzz::write_file(dir / "vocab.json", "{\"a\": 1e999999}");
  neurolens::fuzz::write_file(dir / "merges.txt", "#version: 0.2\n");
  EXPECT_THROW(neurolens::model::Tokenizer::load(dir / "vocab.json", dir / "merges.txt"),
               neurolens::Error);
}

}  // namespace
