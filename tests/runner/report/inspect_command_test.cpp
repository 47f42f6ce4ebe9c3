// neurolens inspect (and report's errors) as a subprocess on a small synthetic results file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>

#include "io/hdf5.hpp"

namespace {

namespace fs = std::filesystem;
using neurolens::io::H5Dataset;
using neurolens::io::H5File;
using neurolens::io::H5Type;

struct Output {
  int code;
  std::string out;
};

Output run(const std::string& args) {
  const std::string cmd = std::string(NEUROLENS_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

fs::path write_small(const fs::path& dir) {
  const fs::path path = dir / "small.h5";
  const hsize_t L = 2, W = 4;
  H5File f = H5File::create(path);
  f.set_attribute("/", "study", std::string("contrast"));
  f.set_attribute("/", "test", std::string("welch"));
  f.set_attribute("/", "model", (dir / "model").string());
  f.set_attribute("/", "n_ranks", int64_t{3});
  f.set_attribute("/", "correction", std::string("bonferroni"));
  f.set_attribute("/", "alpha", 0.05);
  f.set_attribute("/", "threshold", 0.05 / 8);
  f.set_attribute("/", "family_size", int64_t{8});
  f.create_group("/mlp.hook_pre");
  const std::vector<int64_t> layers = {3, 5}, neurons = {0, 1, 2, 3};
  H5Dataset dl = f.create_dataset("/mlp.hook_pre/layer", H5Type::I64, {L});
  dl.write_all(layers.data());
  dl.make_dimension_scale("layer");
  H5Dataset dn = f.create_dataset("/mlp.hook_pre/neuron", H5Type::I64, {W});
  dn.write_all(neurons.data());
  dn.make_dimension_scale("neuron");
  const std::vector<double> t = {1, -2, 9.5, 0.1, -12.25, 3, 0.5, 2};
  const std::vector<double> p = {0.3, 0.05, 1e-9, 0.9, 1e-12, 0.01, 0.6, 0.04};
  const std::vector<uint8_t> sig = {0, 0, 1, 0, 1, 0, 0, 0};
  auto put = [&](const char* name, H5Type type, const void* data) {
    H5Dataset d = f.create_dataset(std::string("/mlp.hook_pre/") + name, type, {L, W});
    d.write_all(data);
  };
  put("t", H5Type::F64, t.data());
  put("p", H5Type::F64, p.data());
  put("significant", H5Type::U8, sig.data());
  f.close();
  // The model's planted.json marks layer 5 neuron 0 (t = -12.25).
  fs::create_directories(dir / "model");
  FILE* j = std::fopen((dir / "model" / "planted.json").c_str(), "w");
  std::fputs(R"({"format": "neurolens-planted-1", "seed": 1, "planted": [{"concept": "negation",
     "site": "mlp.hook_pre", "layer": 5, "neuron": 0, "residual_dim": 2, "gain": 1.0,
     "description": "negations", "n_tokens": 3}]})",
             j);
  std::fclose(j);
  return path;
}

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nl_inspect_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = write_small(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_, path_;
};

TEST_F(Inspect, SummarizesSitesAndTopNeurons) {
  const Output r = run("inspect " + path_.string() + " --top 3");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("study    contrast (test welch)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("site mlp.hook_pre: 2 layer(s) x 4 = 8 neurons"), std::string::npos);
  EXPECT_NE(r.out.find("top 3 neurons"), std::string::npos);
  // Most significant first: layer 5 neuron 0, then layer 3 neuron 2.
  const size_t top = r.out.find("top 3 neurons");
  const size_t first = r.out.find("-12.250", top), second = r.out.find("9.500", top);
  ASSERT_NE(first, std::string::npos) << r.out;
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, second);
  if (r.out.find("planted.json unreadable") == std::string::npos) {
    EXPECT_NE(r.out.find("planted: negation"), std::string::npos) << r.out;
  }
}

TEST_F(Inspect, ReportWritesOnePageAndRefusesToOverwrite) {
  const fs::path html = dir_ / "r.html";
  Output r = run("report " + path_.string() + " --out " + html.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(html));
  r = run("report " + path_.string() + " --out " + html.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("neurolens: error:"), std::string::npos) << r.out;
}

// An examples result (tests/fixtures/examples/examples.h5): top neurons by max activation with
// the best text, the max token in [[ ]], a character split over two tokens shown whole.
TEST_F(Inspect, ExamplesResultShowsTopNeuronsWithTheirBestText) {
  const std::string fixture = std::string(NEUROLENS_FIXTURES) + "/examples/examples.h5";
  Output r = run("inspect " + fixture + " --top 4");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("study    examples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("site mlp.hook_post: 2 layer(s) x 3 = 6 neurons"), std::string::npos);
  EXPECT_NE(r.out.find("top 4 neurons (by max activation"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'<|endoftext|>The cat sat on the mat[[.]]'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'\\nThe caf[[\xc3\xa9]] cat sat.'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("mlp.hook_post        2       2"), std::string::npos) << r.out;  // 4 only
  const fs::path html = dir_ / "examples.html";
  r = run("report " + fixture + " --out " + html.string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("<section id=\"examples\">"), std::string::npos);
  EXPECT_NE(page.find("class=\"mx\" style=\"background:#d62728\" title=\"4\">.</span>"),
            std::string::npos);
}

TEST_F(Inspect, ErrorsAreOneLine) {
  Output r = run("inspect " + (dir_ / "missing.h5").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("missing.h5: no such file (fix:"), std::string::npos) << r.out;
  r = run("inspect " + (dir_ / "model" / "planted.json").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("neurolens: error:"), std::string::npos) << r.out;
  r = run("report " + path_.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--out"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "r.html"));
}

}  // namespace
