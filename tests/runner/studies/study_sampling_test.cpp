// study = sampling, end to end through the binary on the planted demo model (synth-model --plant)
// and the same seed unplanted, with eight Brown files: the planted " before" dimension of
// hidden_states.2 wins the batches, the unplanted one does not; batches are distinct chunks and
// reproducible; 1 and 3 ranks give identical files; bad inputs give one-line errors, no file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

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

std::vector<int64_t> read_i64(const fs::path& file, const std::string& path) {
  return io::H5File::open_read_only(file).open_dataset(path).read_i64();
}

class SamplingStudy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = test::fresh_dir("sampling");
    test::copy_brown_files(g_dir / "corpus",
                           {"ck22", "cj52", "ch17", "ce35", "cp25", "cl10", "cf31", "cp16"});
    ASSERT_TRUE(test::write_demo_models(g_dir));
    std::ofstream(g_dir / "job.ini") << "study = sampling\n"
                                     << "corpus = " << (g_dir / "corpus").string() << "\n"
                                     << "hooks = hidden_states\nlayers = 2\nseed = 7\n"
                                     << "batch_size = 16\n[sampling]\nbatch_sequences = 16\n"
                                     << "seq_len = 128\nrepetitions = 300\ntop_tokens = 5\n"
                                     << "top_contexts = 3\ncontext_tokens = 4\n";
  }
  static void TearDownTestSuite() { fs::remove_all(g_dir); }

  static std::string job(const std::string& model, const fs::path& out) {
    return test::study_job_args(g_dir, model, out);
  }
};

constexpr int32_t kBefore = 878;  // " before"

TEST_F(SamplingStudy, PlantedBeforeDimensionWinsTheBatches) {
  const auto planted = model::read_planted(g_dir / "planted");
  int dim = -1;
  for (const auto& p : planted) {
    if (p.concept_name == "before" && p.site == "hidden_states") dim = p.neuron;
  }
  ASSERT_GE(dim, 0);
  const fs::path out = g_dir / "planted.h5";
  CommandResult r = run(job("planted", out) + " --save_samples=true");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted before dimension hidden_states.2 #" + std::to_string(dim) +
                          ": top token \" before\""),
            std::string::npos)
      << r.output;
  const auto top = read_i64(out, "/hidden_states/top_token");
  const auto count = read_i64(out, "/hidden_states/top_token_count");
  ASSERT_EQ(top.size(), 128u * 5);
  EXPECT_EQ(top[static_cast<size_t>(dim) * 5], kBefore);
  // A clear margin: " before" wins at least 80% of the batches and 10x the runner-up.
  EXPECT_GE(count[static_cast<size_t>(dim) * 5], 240);
  EXPECT_GE(count[static_cast<size_t>(dim) * 5], 10 * count[static_cast<size_t>(dim) * 5 + 1]);
  // Counts of a dimension add up to the repetitions.
  int64_t total = 0;
  for (size_t i = 0; i < 5; ++i) total += count[static_cast<size_t>(dim) * 5 + i];
  EXPECT_LE(total, 300);
  // The top context of the planted dimension is a " before", marked in its text.
  io::H5File f = io::H5File::open_read_only(out);
  EXPECT_EQ(f.open_dataset("/hidden_states/context_token").read_i64()[static_cast<size_t>(dim) * 3],
            kBefore);
  const auto texts = f.read_strings("/hidden_states/context_text");
  ASSERT_EQ(texts.size(), 128u * 3);
  EXPECT_NE(texts[static_cast<size_t>(dim) * 3].find("[[ before]]"), std::string::npos)
      << texts[static_cast<size_t>(dim) * 3];
  // Batches: 16 distinct chunks each; save_samples keeps each batch's winner.
  const auto batches = f.open_dataset("/sampling/batch_chunks").read_i64();
  const auto n_chunks = static_cast<int64_t>(f.number_attribute("/sampling", "n_chunks"));
  ASSERT_EQ(batches.size(), 300u * 16);
  for (size_t b = 0; b < 300; ++b) {
    std::set<int64_t> distinct(batches.begin() + static_cast<long>(b * 16),
                               batches.begin() + static_cast<long>((b + 1) * 16));
    ASSERT_EQ(distinct.size(), 16u) << "batch " << b;
    ASSERT_GE(*distinct.begin(), 0);
    ASSERT_LT(*distinct.rbegin(), n_chunks);
  }
  const auto winners = f.open_dataset("/hidden_states/winner_token").read_i64();
  ASSERT_EQ(winners.size(), 128u * 300);
  int64_t before_wins = 0;
  for (size_t rep = 0; rep < 300; ++rep)
    before_wins += winners[static_cast<size_t>(dim) * 300 + rep] == kBefore;
  EXPECT_EQ(before_wins, count[static_cast<size_t>(dim) * 5]);
}

TEST_F(SamplingStudy, UnplantedModelHasNoBeforeDimension) {
  const fs::path out = g_dir / "plain.h5";
  CommandResult r = run(job("plain", out));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto top = read_i64(out, "/hidden_states/top_token");
  const auto count = read_i64(out, "/hidden_states/top_token_count");
  const auto planted = model::read_planted(g_dir / "planted");
  for (const auto& p : planted) {
    if (p.concept_name != "before" || p.site != "hidden_states") continue;
    const size_t k = static_cast<size_t>(p.neuron) * 5;
    EXPECT_FALSE(top[k] == kBefore && count[k] >= 150) << "count " << count[k];
  }
  // No dimension of the random model is dominated by " before".
  for (size_t k = 0; k < 128; ++k) {
    EXPECT_FALSE(top[k * 5] == kBefore && count[k * 5] >= 150) << "dimension " << k;
  }
}

TEST_F(SamplingStudy, OneAndThreeRanksGiveIdenticalResults) {
  const fs::path one = g_dir / "np1.h5", three = g_dir / "np3.h5";
  CommandResult r1 = run(job("planted", one) + " --layers=1-2", 1);
  ASSERT_EQ(r1.code, 0) << r1.output;
  CommandResult r3 = run(job("planted", three) + " --layers=1-2", 3);
  ASSERT_EQ(r3.code, 0) << r3.output;
  for (const char* name : {"/hidden_states/top_token", "/hidden_states/top_token_count",
                           "/hidden_states/distinct_tokens", "/hidden_states/context_window",
                           "/hidden_states/context_position", "/hidden_states/context_token",
                           "/sampling/batch_chunks", "/sampling/chunk_start"}) {
    EXPECT_EQ(read_i64(one, name), read_i64(three, name)) << name;
  }
  io::H5File a = io::H5File::open_read_only(one), b = io::H5File::open_read_only(three);
  EXPECT_EQ(a.open_dataset("/hidden_states/context_value").read_f32(),
            b.open_dataset("/hidden_states/context_value").read_f32());
  EXPECT_EQ(a.read_strings("/hidden_states/context_text"),
            b.read_strings("/hidden_states/context_text"));
  EXPECT_EQ(b.number_attribute("/", "n_ranks"), 3);
}

TEST_F(SamplingStudy, BadInputsFailWithOneLineAndNoFile) {
  const fs::path out = g_dir / "bad.h5";
  struct Case {
    std::string overrides, expect;
  } cases[] = {
      {"--sampling.batch_sequences=100000", "sampling.batch_sequences"},
      {"--layers=9", "layers"},
      {"--hooks=mlp.nope", "hooks: mlp.nope"},
      {"--sampling.seq_len=5000", "sampling.seq_len"},
  };
  for (const Case& c : cases) {
    fs::remove(out);
    CommandResult r = run(job("planted", out) + " " + c.overrides);
    EXPECT_NE(r.code, 0) << c.overrides;
    EXPECT_NE(r.output.find("neurolens: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
    EXPECT_EQ(test::lines_besides_progress(r.output), 1u) << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.overrides;
  }
}

}  // namespace
