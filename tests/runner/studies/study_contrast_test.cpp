// study = contrast, end to end through the binary on the planted demo model
// (synth-model --plant --seed 1) and the same seed unplanted, over a few Brown files with the
// original procedure's 90 + 1 + 10-token windows: the planted negation neuron ranks first by
// |t| with t > 0 (group a = negations higher) and passes Bonferroni; on the unplanted model the
// same index is not reported as strong; the per-word target counts add up; the stop-at-target
// forward gives the activations of full windows (checked against `neurolens capture`).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/hdf5.hpp"
#include "model/synth/plant.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;

fs::path g_dir;

CommandResult run(const std::string& args, int ranks = 0) {
  return test::run_neurolens(g_dir, args, ranks);
}

class ContrastStudy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = test::fresh_dir("contrast");
    test::copy_brown_files(g_dir / "corpus",
                           {"ca01", "cb02", "cf03", "cg03", "ck04", "cn04", "cp05", "cr01"});
    ASSERT_TRUE(test::write_demo_models(g_dir));
    std::ofstream(g_dir / "job.ini") << "study = contrast\n"
                                     << "corpus = " << (g_dir / "corpus").string() << "\n"
                                     << "hooks = mlp.hook_pre\nlayers = all\nbatch_size = 32\n"
                                     << "save_samples = true\n"
                                     << "[contrast]\ncontext_before = 90\ncontext_after = 10\n";
    for (const auto& p : model::read_planted(g_dir / "planted")) {
      if (p.concept_name == "negation") planted_ = p;
    }
  }
  static void TearDownTestSuite() { fs::remove_all(g_dir); }

  static std::string job(const std::string& model, const fs::path& out) {
    return test::study_job_args(g_dir, model, out);
  }
  // Rank (1 = largest) of neuron k among all finite |t|, and t itself.
  static std::pair<size_t, double> rank_of(const std::vector<double>& t, size_t k) {
    size_t rank = 1;
    for (double v : t) rank += std::isfinite(v) && std::fabs(v) > std::fabs(t[k]);
    return {rank, t[k]};
  }
  static model::PlantedNeuron planted_;
};
model::PlantedNeuron ContrastStudy::planted_;

TEST_F(ContrastStudy, PlantedNegationNeuronRanksFirstAndPassesBonferroni) {
  ASSERT_EQ(planted_.concept_name, "negation");
  const fs::path out = g_dir / "planted.h5";
  CommandResult r = run(job("planted", out));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string hook = "blocks." + std::to_string(planted_.layer) + ".mlp.hook_pre";
  EXPECT_NE(r.output.find("planted negation neuron " + hook + " #" +
                          std::to_string(planted_.neuron) + ": rank 1 of 2048"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const std::vector<int64_t> sig = f.open_dataset("/mlp.hook_pre/significant").read_i64();
  const size_t width = 512;
  const size_t k =
      static_cast<size_t>(planted_.layer) * width + static_cast<size_t>(planted_.neuron);
  const auto [rank, value] = rank_of(t, k);
  EXPECT_EQ(rank, 1u) << "t = " << value;
  EXPECT_GT(value, 0.0) << "negations (group a) must be higher";
  EXPECT_EQ(sig[k], 1);
  // A clear margin over every other neuron.
  double runner_up = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i != k && std::isfinite(t[i])) runner_up = std::max(runner_up, std::fabs(t[i]));
  }
  EXPECT_GT(value, 2.0 * runner_up);
  // Per-word counts add up to the samples of each group.
  const std::vector<int64_t> count = f.open_dataset("/contrast/count").read_i64();
  const std::vector<int64_t> label = f.open_dataset("/contrast/label").read_i64();
  int64_t a = 0, b = 0;
  for (size_t i = 0; i < count.size(); ++i) (label[i] == 0 ? a : b) += count[i];
  EXPECT_EQ(a, static_cast<int64_t>(f.number_attribute("/mlp.hook_pre", "n_a")));
  EXPECT_EQ(b, static_cast<int64_t>(f.number_attribute("/mlp.hook_pre", "n_b")));
  EXPECT_GT(a, 20);
}

TEST_F(ContrastStudy, UnplantedModelShowsNothingAtThePlantedIndex) {
  const fs::path out = g_dir / "plain.h5";
  CommandResult r = run(job("plain", out));
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const size_t k = static_cast<size_t>(planted_.layer) * 512 + static_cast<size_t>(planted_.neuron);
  const auto [rank, value] = rank_of(t, k);
  EXPECT_GT(rank, 10u) << "t = " << value;
  // Nothing like the planted model's value there (t of several hundred on this corpus).
  EXPECT_LT(std::fabs(value), 30.0);
}

TEST_F(ContrastStudy, StopAtTargetEqualsFullWindowActivations) {
  // The study runs the forward only up to the target (position 90) because the model is causal.
  // Check that invariant with the real forward: 101-token windows vs the same windows cut after
  // the target, capturing position 90 of every mlp.hook_pre.
  CommandResult ids = run("tokenize --model " + (g_dir / "planted").string() + " --text " +
                          (g_dir / "corpus" / "ca01").string());
  ASSERT_EQ(ids.code, 0) << ids.output;
  std::vector<std::string> tokens;
  {
    std::istringstream in(ids.output);
    std::string t;
    while (in >> t) tokens.push_back(t);
  }
  ASSERT_GE(tokens.size(), 8u * 101u);
  std::ofstream full(g_dir / "full.txt"), cut(g_dir / "cut.txt");
  for (size_t w = 0; w < 8; ++w) {
    for (size_t i = 0; i < 101; ++i) {
      full << tokens[w * 101 + i] << (i + 1 < 101 ? " " : "\n");
      if (i < 91) cut << tokens[w * 101 + i] << (i + 1 < 91 ? " " : "\n");
    }
  }
  full.close();
  cut.close();
  const std::string common = "capture --model " + (g_dir / "planted").string() +
                             " --hooks 'blocks.*.mlp.hook_pre' --positions 90 --overwrite";
  ASSERT_EQ(run(common + " --token-file " + (g_dir / "full.txt").string() + " --out " +
                (g_dir / "full.h5").string())
                .code,
            0);
  ASSERT_EQ(run(common + " --token-file " + (g_dir / "cut.txt").string() + " --out " +
                (g_dir / "cut.h5").string())
                .code,
            0);
  io::H5File a = io::H5File::open_read_only(g_dir / "full.h5");
  io::H5File b = io::H5File::open_read_only(g_dir / "cut.h5");
  for (int layer = 0; layer < 4; ++layer) {
    const std::string name = "/blocks." + std::to_string(layer) + ".mlp.hook_pre";
    const std::vector<float> x = a.open_dataset(name).read_f32();
    const std::vector<float> y = b.open_dataset(name).read_f32();
    ASSERT_EQ(x.size(), 8u * 512u);
    ASSERT_EQ(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_NEAR(x[i], y[i], 1e-5) << name << " window " << i / 512 << " neuron " << i % 512;
    }
  }
}

TEST_F(ContrastStudy, TargetRulesMultiTokenWordsAndFollowingSpace) {
  // A crafted document where the expected targets are known:
  //   " not" followed by " go" twice -> 2 targets of "not";
  //   " can't" = " can" + "'t": the target is "'t", followed by " go" -> 1 target of "can't";
  //   " can" followed by " not" / " go" -> 2 targets; " can" before "'t" (a longer word) and
  //   before "." (punctuation) are not targets; " cannot" and " cannon" contain "can" but are
  //   other tokens.
  fs::create_directories(g_dir / "crafted");
  std::ofstream(g_dir / "crafted" / "doc.txt")
      << "Once upon a time we do not go. Then we can not go. We can't go now. We cannot go. "
         "The cannon is big. We can. And we can go home today.";
  const fs::path out = g_dir / "crafted.h5";
  CommandResult r =
      run("run " + (g_dir / "job.ini").string() + " --model=" + (g_dir / "planted").string() +
          " --corpus=" + (g_dir / "crafted").string() + " --output=" + out.string() +
          " --overwrite --save_samples=false \"--contrast.group_a=not,can't\""
          " --contrast.group_b=can --contrast.context_before=2"
          " --contrast.context_after=1");
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<std::string> words = f.read_strings("/contrast/word");
  const std::vector<int64_t> count = f.open_dataset("/contrast/count").read_i64();
  ASSERT_EQ(words, (std::vector<std::string>{"not", "can't", "can"}));
  EXPECT_EQ(count, (std::vector<int64_t>{2, 1, 2}));
}

}  // namespace
