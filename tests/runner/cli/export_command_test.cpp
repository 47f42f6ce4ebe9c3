// neurolens export, run as a subprocess on tests/fixtures/examples/examples.h5 (written by
// tests/reference/make_examples_results.py): both formats' files, fields and values; one-line
// errors with a non-zero exit and no output for bad input or options.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/gzip.hpp"
#include "io/hdf5.hpp"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const std::string kFixture = std::string(NEUROLENS_FIXTURES) + "/examples/examples.h5";

struct Result {
  int status = -1;
  std::string output;  // stdout + stderr
};

Result run(const std::string& args) {
  const std::string cmd = "'" + std::string(NEUROLENS_BINARY) + "' " + args + " 2>&1";
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

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::vector<json> read_jsonl_gz(const fs::path& path) {
  std::vector<json> out;
  std::istringstream in(neurolens::io::read_gzip_file(path));
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

// Directory entries (names) of `dir`, sorted.
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class ExportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("neurolens_export_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ExportCommand, OpenAiNeuronRecords) {
  const fs::path out = dir_ / "openai";
  const Result r = run("export '" + kFixture + "' --format openai --out '" + out.string() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_CONTAINS(r.output, "8 neurons");
  EXPECT_EQ(entries(out), (std::vector<std::string>{"hook_resid_post", "mlp.hook_post",
                                                    "neurolens-export.json"}));
  EXPECT_EQ(entries(out / "mlp.hook_post"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(entries(out / "mlp.hook_post" / "1"),
            (std::vector<std::string>{"0.json", "1.json", "2.json"}));

  const json rec = read_json(out / "mlp.hook_post" / "1" / "0.json");
  std::vector<std::string> keys;
  for (const auto& [k, v] : rec.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"dataclass_name", "neuron_id", "random_sample",
                                            "random_sample_by_quantile", "quantile_boundaries",
                                            "mean", "variance", "skewness", "kurtosis",
                                            "most_positive_activation_records"}));
  EXPECT_EQ(rec["dataclass_name"], "NeuronRecord");
  EXPECT_EQ(rec["neuron_id"],
            json({{"dataclass_name", "NeuronId"}, {"layer_index", 1}, {"neuron_index", 0}}));
  const json& top = rec["most_positive_activation_records"];
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0]["dataclass_name"], "ActivationRecord");
  EXPECT_EQ(top[0]["tokens"],
            json({"<|endoftext|>", "The", " cat", " sat", " on", " the", " mat", "."}));
  // NaN at the special token is written as 0.
  EXPECT_EQ(top[0]["activations"], json({0.0, 1.75, -0.75, 2.5, 0.0, 3.25, 0.75, 4.0}));
  EXPECT_EQ(top[1]["tokens"],
            json({"\n", "The", " caf", "", "\xc3\xa9", " cat", " sat", "."}));  // é joined
  EXPECT_EQ(rec["random_sample"].size(), 2u);
  ASSERT_EQ(rec["random_sample_by_quantile"].size(), 5u);
  EXPECT_EQ(rec["random_sample_by_quantile"][0].size(), 2u);
  EXPECT_EQ(rec["random_sample_by_quantile"][2].size(), 0u);
  EXPECT_EQ(rec["random_sample_by_quantile"][4], top);  // the top bucket is the top-k
  EXPECT_EQ(rec["quantile_boundaries"], json({3.25, 3.625, 3.875, 3.9875, 3.99875}));
  EXPECT_DOUBLE_EQ(rec["mean"].get<double>(), 1.2065217391304348);
  EXPECT_TRUE(rec["kurtosis"].is_number());

  // Empty slots are dropped: row 0 neuron 1 has 2 top windows.
  const json rec1 = read_json(out / "mlp.hook_post" / "1" / "1.json");
  EXPECT_EQ(rec1["most_positive_activation_records"].size(), 2u);
  const json manifest = read_json(out / "neurolens-export.json");
  EXPECT_EQ(manifest["format"], "openai");
  EXPECT_EQ(manifest["neurons"], 8);
}

TEST_F(ExportCommand, NeuronpediaBatches) {
  const fs::path out = dir_ / "np";
  const Result r = run("export '" + kFixture + "' --format neuronpedia --batch-size 2 --out '" +
                       out.string() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  const fs::path model = out / "gpt2-examples-fixture";
  EXPECT_EQ(entries(model),
            (std::vector<std::string>{"1-neurolens-mlp-hook-post", "2-neurolens-hook-resid-post",
                                      "2-neurolens-mlp-hook-post"}));
  const fs::path source = model / "1-neurolens-mlp-hook-post";
  EXPECT_EQ(entries(source),
            (std::vector<std::string>{"activations", "features", "model.jsonl", "release.jsonl",
                                      "source.jsonl", "sourceset.jsonl"}));
  const json src = read_json(source / "source.jsonl");
  EXPECT_EQ(src["id"], "1-neurolens-mlp-hook-post");
  EXPECT_EQ(src["modelId"], "gpt2-examples-fixture");
  EXPECT_EQ(src["setName"], "neurolens-mlp-hook-post");
  EXPECT_EQ(src["num_prompts"], 6);
  EXPECT_EQ(src["num_tokens_in_prompt"], 8);
  EXPECT_EQ(read_json(source / "model.jsonl")["id"], "gpt2-examples-fixture");
  EXPECT_EQ(read_json(source / "sourceset.jsonl")["name"], "neurolens-mlp-hook-post");
  EXPECT_EQ(read_json(source / "release.jsonl")["name"], "neurolens-mlp-hook-post");
  EXPECT_EQ(entries(source / "features"),
            (std::vector<std::string>{"batch-0.jsonl.gz", "batch-1.jsonl.gz"}));
  const std::vector<json> features = read_jsonl_gz(source / "features" / "batch-0.jsonl.gz");
  ASSERT_EQ(features.size(), 2u);
  const json& f = features[0];
  EXPECT_EQ(f["modelId"], "gpt2-examples-fixture");
  EXPECT_EQ(f["layer"], "1-neurolens-mlp-hook-post");
  EXPECT_EQ(f["index"], "0");
  EXPECT_EQ(f["maxActApprox"], 4.0);
  EXPECT_EQ(f["hasVector"], false);
  EXPECT_EQ(f["pos_values"], json({2.5, 1.25}));
  EXPECT_EQ(f["pos_str"], json({"The", " cat"}));
  EXPECT_EQ(f["neg_values"], json({-1.5, -0.75}));
  EXPECT_EQ(f["neg_str"], json({" the", " mat"}));
  EXPECT_DOUBLE_EQ(f["frac_nonzero"].get<double>(), 0.6739130434782609);
  EXPECT_EQ(f["freq_hist_data_bar_heights"], json({10.0, 13.0, 13.0, 10.0}));
  EXPECT_EQ(f["freq_hist_data_bar_values"].size(), 4u);
  EXPECT_EQ(read_jsonl_gz(source / "features" / "batch-1.jsonl.gz").size(), 1u);

  const std::vector<json> acts = read_jsonl_gz(source / "activations" / "batch-0.jsonl.gz");
  // neuron 0: 3 top + 2 + 2 reservoir windows; neuron 1: 2 top + 2 + 2.
  ASSERT_EQ(acts.size(), 13u);
  const json& a = acts[0];
  EXPECT_EQ(a["index"], "0");
  EXPECT_EQ(a["layer"], "1-neurolens-mlp-hook-post");
  EXPECT_EQ(a["tokens"].size(), 8u);
  EXPECT_EQ(a["values"], json({0.0, 1.75, -0.75, 2.5, 0.0, 3.25, 0.75, 4.0}));
  EXPECT_EQ(a["maxValue"], 4.0);
  EXPECT_EQ(a["maxValueTokenIndex"], 7);
  EXPECT_EQ(a["minValue"], -0.75);
  EXPECT_EQ(a["binMin"], -1);
  EXPECT_EQ(a["binMax"], 4.0);
  EXPECT_EQ(a["binContains"], -1);
  EXPECT_EQ(a["qualifyingTokenIndex"], 7);
  // The quantile buckets, highest first: bucket 1 = [3.625, 3.875), 2 of 6 windows.
  const json& q = acts[3];
  EXPECT_EQ(q["binMin"], 3.625);
  EXPECT_EQ(q["binMax"], 3.875);
  EXPECT_DOUBLE_EQ(q["binContains"].get<double>(), 2.0 / 6.0);
  EXPECT_EQ(q["dataIndex"], "1");
  // A non-MLP site has no logit effects.
  const std::vector<json> resid =
      read_jsonl_gz(model / "2-neurolens-hook-resid-post" / "features" / "batch-0.jsonl.gz");
  ASSERT_EQ(resid.size(), 2u);
  EXPECT_TRUE(resid[0]["pos_str"].empty());
}

TEST_F(ExportCommand, ErrorsAreOneLineAndLeaveNoOutput) {
  const fs::path out = dir_ / "out";
  {
    const fs::path other = dir_ / "contrast.h5";
    neurolens::io::H5File f = neurolens::io::H5File::create(other);
    f.set_attribute("/", "study", std::string("contrast"));
    f.close();
    const Result r =
        run("export '" + other.string() + "' --format openai --out '" + out.string() + "'");
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.output, "not an examples results file (study = contrast)");
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  {
    const Result r = run("export '" + kFixture + "' --format csv --out '" + out.string() + "'");
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.output, "--format: 'csv' is not a known format");
  }
  {
    const Result r = run("export '" + kFixture + "' --out '" + out.string() + "'");
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.output, "--format: missing");
  }
  {
    const Result r = run("export '" + kFixture + "' --format neuronpedia --model-id a/b --out '" +
                         out.string() + "'");
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.output, "--model-id: 'a/b' is not a plain name");
  }
  {
    const Result r = run("export '" + kFixture + "' --format openai --out '" +
                         (dir_ / "missing" / "out").string() + "'");
    EXPECT_EQ(r.status, 1);
    EXPECT_CONTAINS(r.output, "does not exist");
  }
  EXPECT_EQ(entries(dir_), (std::vector<std::string>{"contrast.h5"}));  // nothing written

  // An existing export needs --overwrite; a directory that is not one is never replaced.
  ASSERT_EQ(run("export '" + kFixture + "' --format openai --out '" + out.string() + "'").status,
            0);
  Result r = run("export '" + kFixture + "' --format neuronpedia --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.output, "already exists (fix: pass --overwrite");
  r = run("export '" + kFixture + "' --format neuronpedia --overwrite --out '" + out.string() +
          "'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "gpt2-examples-fixture"));
  EXPECT_FALSE(fs::exists(out / "mlp.hook_post"));
  fs::create_directories(dir_ / "mine");
  std::ofstream(dir_ / "mine" / "notes.txt") << "keep\n";
  r = run("export '" + kFixture + "' --format openai --overwrite --out '" +
          (dir_ / "mine").string() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_CONTAINS(r.output, "is not a neurolens export directory");
  EXPECT_TRUE(fs::exists(dir_ / "mine" / "notes.txt"));
  for (const std::string& name : entries(dir_)) {
    EXPECT_EQ(name.find(".partial-"), std::string::npos) << name;
  }
}

TEST_F(ExportCommand, Help) {
  const Result r = run("export --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_CONTAINS(r.output, "--format");
  EXPECT_CONTAINS(r.output, "neuronpedia");
}

}  // namespace
