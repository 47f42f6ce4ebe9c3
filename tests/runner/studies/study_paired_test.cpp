// study = paired, end to end through the binary on the planted demo model: the planted
// noun_verb neuron is the top t with a positive sign and passes Bonferroni; not on the unplanted
// model; the same t on 1 and 3 ranks; /samples reproduce the paired t in plain C++; the heatmap
// rows are the max-t / min-t neurons; bad inputs end with one error line and no results file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "io/hdf5.hpp"
#include "model/synth/plant.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;
using test::run_command;

const char* kPairs =
    "house:eat, tree:sing, car:swim, city:think, door:speak, money:bring, child:take, "
    "window:give, river:sleep, school:teach, friend:buy, king:sell, garden:grow, country:fight, "
    "mountain:climb, family:build, road:drive, church:pray, girl:seem, boy:become, street:know, "
    "room:believe, bed:understand, wall:forget, eye:remember, chair:write, bird:choose, "
    "ship:explain, island:arrive, village:decide";

class PairedStudy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::fresh_dir("paired");
    ASSERT_TRUE(test::write_demo_models(dir_, "unplanted"));
    std::ofstream(dir_ / "heatmap.txt")
        << "Randomness is the apparent lack of pattern in events. Information and entropy "
           "follow the same rules; a random sequence applies no order.\n";
  }

  // pairs: empty = the built-in 60 pairs (the same as jobs/demo/paired.ini).
  static fs::path write_job(const std::string& name, const std::string& extra,
                            const std::string& pairs = "") {
    const fs::path job = dir_ / (name + ".ini");
    std::ofstream(job) << "study = paired\nhooks = mlp.hook_pre\nlayers = all\n"
                          "batch_size = 8\nsave_samples = true\n"
                       << extra << "\n[paired]\n"
                       << (pairs.empty() ? "" : "pairs = " + pairs + "\n")
                       << "heatmap_text = " << (dir_ / "heatmap.txt").string() << "\n";
    return job;
  }

  static CommandResult run(const std::string& args, int ranks = 0) {
    return test::run_neurolens(dir_, "run " + args, ranks);
  }

  static fs::path dir_;
};
fs::path PairedStudy::dir_;

size_t argmax_abs(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i]) && std::fabs(v[i]) > std::fabs(v[best])) best = i;
  }
  return best;
}

TEST_F(PairedStudy, PlantedNeuronIsTopBySignAndSamplesReproduceT) {
  const fs::path out = dir_ / "planted.h5";
  const fs::path job =
      write_job("planted", "model = " + (dir_ / "planted").string() + "\noutput = " + out.string());
  const CommandResult r = run(job.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto planted = model::read_planted(dir_ / "planted");
  const auto it = std::find_if(planted.begin(), planted.end(), [](const model::PlantedNeuron& p) {
    return p.concept_name == "noun_verb";
  });
  ASSERT_NE(it, planted.end());
  EXPECT_NE(r.output.find("planted noun_verb neuron blocks." + std::to_string(it->layer) +
                          ".mlp.hook_pre #" + std::to_string(it->neuron) + ": rank 1 of"),
            std::string::npos)
      << r.output;

  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const std::vector<double> sig = f.open_dataset("/mlp.hook_pre/significant").read_f64();
  const int width = static_cast<int>(f.number_attribute("/mlp.hook_pre", "width"));
  const size_t k = static_cast<size_t>(it->layer * width + it->neuron);
  EXPECT_EQ(argmax_abs(t), k);
  EXPECT_GT(t[k], 0.0);  // nouns
  EXPECT_EQ(sig[k], 1.0);
  EXPECT_EQ(f.number_attribute("/", "family_size"), static_cast<double>(t.size()));

  // Heatmap: row 0 is the max-t neuron (the planted one), row 1 the min-t neuron.
  const std::vector<int64_t> layer = f.open_dataset("/heatmap/layer").read_i64();
  const std::vector<int64_t> neuron = f.open_dataset("/heatmap/neuron").read_i64();
  EXPECT_EQ(layer[0], it->layer);
  EXPECT_EQ(neuron[0], it->neuron);
  EXPECT_EQ(f.read_strings("/heatmap/role"), (std::vector<std::string>{"max_t", "min_t"}));
  const size_t n_tokens = f.read_strings("/heatmap/token_text").size();
  EXPECT_EQ(f.open_dataset("/heatmap/activation").dims(),
            (std::vector<hsize_t>{2, static_cast<hsize_t>(n_tokens)}));
  EXPECT_EQ(f.open_dataset("/heatmap/token_id").read_i64().size(), n_tokens);

  // /samples: recompute the paired t (independent formula) of a few neurons.
  io::H5Dataset samples = f.open_dataset("/samples/mlp.hook_pre");
  const std::vector<hsize_t> dims = samples.dims();
  ASSERT_EQ(dims.size(), 3u);
  const std::vector<float> x = samples.read_f32();
  const std::vector<int64_t> label = f.open_dataset("/samples/label").read_i64();
  const std::vector<int64_t> pair = f.open_dataset("/samples/pair_id").read_i64();
  const size_t N = dims[0], K = dims[1] * dims[2];
  ASSERT_EQ(N, 120u);
  for (size_t kk : {k, size_t{0}, size_t{777}, K - 1}) {
    std::map<int64_t, std::pair<double, double>> by_pair;
    for (size_t i = 0; i < N; ++i) {
      auto& p = by_pair[pair[i]];
      (label[i] == 0 ? p.first : p.second) = x[i * K + kk];
    }
    std::vector<double> d;
    for (const auto& [id, p] : by_pair) d.push_back(p.first - p.second);
    double mean = 0;
    for (double v : d) mean += v;
    mean /= static_cast<double>(d.size());
    double ss = 0;
    for (double v : d) ss += (v - mean) * (v - mean);
    const double sd = std::sqrt(ss / static_cast<double>(d.size() - 1));
    const double expected = mean / (sd / std::sqrt(static_cast<double>(d.size())));
    EXPECT_NEAR(t[kk], expected, 1e-6 * std::max(1.0, std::fabs(expected))) << "neuron " << kk;
  }
}

TEST_F(PairedStudy, UnplantedModelHasNoNounVerbNeuronAtThePlantedIndex) {
  const fs::path out = dir_ / "unplanted.h5";
  const fs::path job = write_job(
      "unplanted", "model = " + (dir_ / "unplanted").string() + "\noutput = " + out.string());
  const CommandResult r = run(job.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto planted = model::read_planted(dir_ / "planted");
  const auto it = std::find_if(planted.begin(), planted.end(), [](const model::PlantedNeuron& p) {
    return p.concept_name == "noun_verb";
  });
  io::H5File f = io::H5File::open_read_only(out);
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const int width = static_cast<int>(f.number_attribute("/mlp.hook_pre", "width"));
  const size_t k = static_cast<size_t>(it->layer * width + it->neuron);
  EXPECT_NE(argmax_abs(t), k);
  EXPECT_LT(std::fabs(t[k]), 6.0);  // the planted model gives about +44
  EXPECT_EQ(f.open_dataset("/mlp.hook_pre/significant").read_f64()[k], 0.0);
}

TEST_F(PairedStudy, SameStatisticsOnOneAndThreeRanks) {
  const fs::path out1 = dir_ / "np1.h5", out3 = dir_ / "np3.h5";
  const std::string model = "model = " + (dir_ / "planted").string();
  const fs::path job1 = write_job("np1", model + "\noutput = " + out1.string(), kPairs);
  const fs::path job3 = write_job("np3", model + "\noutput = " + out3.string(), kPairs);
  CommandResult r = run(job1.string(), 1);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run(job3.string(), 3);
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f1 = io::H5File::open_read_only(out1), f3 = io::H5File::open_read_only(out3);
  EXPECT_EQ(f3.number_attribute("/", "n_ranks"), 3.0);
  for (const char* name :
       {"/mlp.hook_pre/t", "/mlp.hook_pre/p", "/mlp.hook_pre/mean_diff", "/heatmap/activation"}) {
    const std::vector<double> a = f1.open_dataset(name).read_f64();
    const std::vector<double> b = f3.open_dataset(name).read_f64();
    ASSERT_EQ(a.size(), b.size()) << name;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(a[i])) {
        EXPECT_TRUE(std::isnan(b[i])) << name << " " << i;
        continue;
      }
      ASSERT_NEAR(a[i], b[i], 1e-9 * std::max(1e-300, std::fabs(a[i])) + 1e-300)
          << name << " " << i;
    }
  }
}

TEST_F(PairedStudy, BadInputsGiveOneErrorLineAndNoFile) {
  const std::string model = "model = " + (dir_ / "planted").string();
  const fs::path out = dir_ / "bad.h5";
  const fs::path good = write_job("bad", model + "\noutput = " + out.string(), kPairs);
  const fs::path text_corpus = dir_ / "plain.txt";
  std::ofstream(text_corpus) << "A plain text without part of speech tags, long enough to have "
                                "some words in it for the corpus mode to look at.\n";
  struct Case {
    std::string overrides;
    std::string expect;  // part of the error line
  };
  const std::vector<Case> cases = {
      {"--paired.pairs=dog:dog,cat:run", "pairs a word with itself"},
      {"--paired.pairs=dog:run", "only 1 usable pair"},
      {"--layers=9", "layers"},
      {"--hooks=mlp.hook_nothing", "hook"},
      {"--paired.heatmap_text=" + (dir_ / "missing.txt").string(), "paired.heatmap_text"},
      {"--paired.mode=corpus --corpus=" + text_corpus.string(), "part-of-speech tags"},
  };
  for (const Case& c : cases) {
    fs::remove(out);
    const CommandResult r = run(good.string() + " " + c.overrides);
    EXPECT_NE(r.code, 0) << c.overrides;
    EXPECT_NE(r.output.find("error"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.overrides << ": " << r.output;
    EXPECT_EQ(test::lines_besides_progress(r.output), 1u) << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.overrides;
  }
}

}  // namespace
