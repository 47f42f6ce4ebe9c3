// study = examples, end to end through the binary on the planted demo model (synth-model
// --plant) with six Brown files: every planted neuron shows its concept at the max token of its
// top windows (negation words, nouns / verbs at the bottom, capitalised words, long tokens,
// " before"); the independent numpy reference (tests/reference/examples_reference.py) recomputes
// every list, count and statistic from `neurolens capture` of the same windows; 1, 2 and 3 ranks
// give identical files (moments to rounding); bad inputs give one-line errors and no file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "io/hdf5.hpp"
#include "model/synth/plant.hpp"
#include "tests/runner/run_test_util.hpp"

namespace neurolens::model::plant_words {
extern const char* const kNouns;
extern const char* const kVerbs;
}  // namespace neurolens::model::plant_words

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;

fs::path g_dir;

CommandResult run(const std::string& args, int ranks = 0) {
  return test::run_neurolens(g_dir, args, ranks);
}

std::set<std::string> words(const char* text) {
  std::istringstream in(text);
  std::set<std::string> out;
  std::string w;
  while (in >> w) out.insert(w);
  return out;
}

// The token texts (raw bytes) of an examples file.
struct Vocab {
  std::vector<int64_t> offsets;
  std::vector<int64_t> bytes;
  std::string text(int64_t id) const {
    std::string s;
    for (int64_t i = offsets[static_cast<size_t>(id)]; i < offsets[static_cast<size_t>(id) + 1];
         ++i) {
      s += static_cast<char>(bytes[static_cast<size_t>(i)]);
    }
    return s;
  }
};

Vocab read_vocab(const io::H5File& f) {
  return {f.open_dataset("/examples/token_offsets").read_i64(),
          f.open_dataset("/examples/token_bytes").read_i64()};
}

// The max (or min) token of each of neuron (layer row li, neuron k)'s listed windows.
std::vector<std::string> extreme_tokens(const io::H5File& f, const Vocab& v,
                                        const std::string& site, const std::string& list, size_t li,
                                        size_t k) {
  const io::H5Dataset tokens = f.open_dataset("/" + site + "/" + list + "_tokens");
  const std::vector<hsize_t> dims = tokens.dims();
  const size_t W = dims[1], C = dims[2], T = dims[3];
  const std::vector<int64_t> all = tokens.read_i64();
  const std::vector<int64_t> pos = f.open_dataset("/" + site + "/" + list + "_position").read_i64();
  std::vector<std::string> out;
  for (size_t c = 0; c < C; ++c) {
    const size_t e = (li * W + k) * C + c;
    if (pos[e] < 0) continue;
    out.push_back(v.text(all[e * T + static_cast<size_t>(pos[e])]));
  }
  return out;
}

std::string strip(const std::string& s) {
  return !s.empty() && s[0] == ' ' ? s.substr(1) : s;
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class ExamplesStudy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = test::fresh_dir("examples");
    test::copy_brown_files(g_dir / "corpus", {"ca01", "cb02", "cf03", "ck04", "cn04", "cp16"});
    ASSERT_TRUE(test::write_demo_models(g_dir));
    std::ofstream(g_dir / "job.ini") << "study = examples\n"
                                     << "corpus = " << (g_dir / "corpus").string() << "\n"
                                     << "hooks = mlp.hook_pre\nlayers = all\nseed = 3\n"
                                     << "batch_size = 16\n[examples]\nseq_len = 64\ntop_k = 20\n"
                                     << "bottom_k = 10\nper_quantile = 4\nrandom_sample = 3\n"
                                     << "pilot_windows = 100\nbins = 24\n";
    const fs::path out = g_dir / "planted.h5";
    const CommandResult r = run(test::study_job_args(g_dir, "planted", out));
    ASSERT_EQ(r.code, 0) << r.output;
    output_ = r.output;
  }
  static void TearDownTestSuite() { fs::remove_all(g_dir); }

  static model::PlantedNeuron planted(const std::string& concept_name) {
    for (const auto& p : model::read_planted(g_dir / "planted")) {
      if (p.concept_name == concept_name && p.site == "mlp.hook_pre") return p;
    }
    ADD_FAILURE() << "no planted " << concept_name;
    return {};
  }
  static std::string output_;
};
std::string ExamplesStudy::output_;

TEST_F(ExamplesStudy, PlantedNeuronsShowTheirConceptAtTheMaxToken) {
  io::H5File f = io::H5File::open_read_only(g_dir / "planted.h5");
  const Vocab v = read_vocab(f);
  const std::set<std::string> negation = {
      "not",   "never",   "cannot",  "no",     "nothing", "nobody", "neither", "nor",
      "none",  "nowhere", "without", "'t",     "n't",     "didn",   "don",     "doesn",
      "isn",   "wasn",    "couldn",  "wouldn", "shouldn", "aren",   "weren",   "hasn",
      "haven", "hadn",    "ain",     "mustn",  "needn"};
  const std::set<std::string> nouns = words(model::plant_words::kNouns);
  const std::set<std::string> verbs = words(model::plant_words::kVerbs);
  {
    const auto p = planted("negation");
    const auto top = extreme_tokens(f, v, "mlp.hook_pre", "top", static_cast<size_t>(p.layer),
                                    static_cast<size_t>(p.neuron));
    ASSERT_EQ(top.size(), 20u);
    for (const std::string& t : top) EXPECT_TRUE(negation.count(lower(strip(t)))) << t;
  }
  {
    const auto p = planted("before");
    // Six Brown files hold fewer than 20 windows with " before": those come first, all of them.
    const auto top = extreme_tokens(f, v, "mlp.hook_pre", "top", static_cast<size_t>(p.layer),
                                    static_cast<size_t>(p.neuron));
    const auto prefix = static_cast<size_t>(
        std::find_if(top.begin(), top.end(), [](const std::string& t) { return t != " before"; }) -
        top.begin());
    EXPECT_GE(prefix, 5u);
    EXPECT_EQ(std::count(top.begin(), top.end(), std::string(" before")),
              static_cast<long>(prefix));
  }
  {
    const auto p = planted("proper_noun");
    const auto top = extreme_tokens(f, v, "mlp.hook_pre", "top", static_cast<size_t>(p.layer),
                                    static_cast<size_t>(p.neuron));
    ASSERT_EQ(top.size(), 20u);
    for (const std::string& t : top) {
      const std::string w = strip(t);
      EXPECT_TRUE(w.size() >= 2 && std::isupper(static_cast<unsigned char>(w[0]))) << t;
    }
  }
  {
    const auto p = planted("token_length");
    const auto top = extreme_tokens(f, v, "mlp.hook_pre", "top", static_cast<size_t>(p.layer),
                                    static_cast<size_t>(p.neuron));
    ASSERT_EQ(top.size(), 20u);
    for (const std::string& t : top) EXPECT_GE(model::planted_token_length(t), 10) << t;
    // The bottom windows' min tokens are short.
    for (const std::string& t :
         extreme_tokens(f, v, "mlp.hook_pre", "bottom", static_cast<size_t>(p.layer),
                        static_cast<size_t>(p.neuron))) {
      EXPECT_LE(model::planted_token_length(t), 2) << t;
    }
  }
  {
    const auto p = planted("noun_verb");
    const auto top = extreme_tokens(f, v, "mlp.hook_pre", "top", static_cast<size_t>(p.layer),
                                    static_cast<size_t>(p.neuron));
    ASSERT_EQ(top.size(), 20u);
    for (const std::string& t : top) EXPECT_TRUE(nouns.count(lower(strip(t)))) << t;
    const auto bottom = extreme_tokens(f, v, "mlp.hook_pre", "bottom", static_cast<size_t>(p.layer),
                                       static_cast<size_t>(p.neuron));
    ASSERT_EQ(bottom.size(), 10u);
    for (const std::string& t : bottom) EXPECT_TRUE(verbs.count(lower(strip(t)))) << t;
  }
  EXPECT_NE(output_.find("planted negation neuron blocks.1.mlp.hook_pre #"), std::string::npos)
      << output_;
}

TEST_F(ExamplesStudy, MatchesTheNumpyReferenceOnCapturedActivations) {
  const fs::path capture = g_dir / "capture.h5";
  CommandResult r =
      run("capture --model " + (g_dir / "planted").string() + " --corpus " +
          (g_dir / "corpus").string() +
          " --seq-len 64 --hooks 'blocks.*.mlp.hook_pre' --overwrite --out " + capture.string());
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run_command(
      "/usr/bin/python3 " +
          (fs::path(NEUROLENS_SOURCE_DIR) / "tests/reference/examples_reference.py").string() +
          " " + capture.string() + " " + (g_dir / "planted.h5").string() + " mlp.hook_pre",
      g_dir / "reference.log");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("all match"), std::string::npos) << r.output;
}

TEST_F(ExamplesStudy, OneTwoAndThreeRanksGiveTheSameFile) {
  const fs::path one = g_dir / "planted.h5";
  io::H5File a = io::H5File::open_read_only(one);
  for (int ranks : {2, 3}) {
    const fs::path out = g_dir / ("ranks" + std::to_string(ranks) + ".h5");
    const CommandResult r = run(test::study_job_args(g_dir, "planted", out), ranks);
    ASSERT_EQ(r.code, 0) << r.output;
    io::H5File b = io::H5File::open_read_only(out);
    std::ostringstream report;
    for (const char* name : {"top_value",
                             "top_window",
                             "top_document",
                             "top_start",
                             "top_position",
                             "top_tokens",
                             "top_activations",
                             "bottom_window",
                             "bottom_value",
                             "bottom_activations",
                             "quantile_window",
                             "quantile_value",
                             "quantile_activations",
                             "quantile_count",
                             "quantile_boundaries",
                             "random_value",
                             "random_activations",
                             "hist_counts",
                             "hist_edges",
                             "max_activation",
                             "min_activation",
                             "frac_positive",
                             "logit_top_token",
                             "logit_top_value",
                             "logit_bottom_token"}) {
      EXPECT_EQ(test::compare_dataset(a, b, std::string("/mlp.hook_pre/") + name, 0.0, report), 0u)
          << name << " on " << ranks << " ranks: " << report.str();
    }
    for (const char* name : {"mean", "variance", "skewness", "kurtosis"}) {
      EXPECT_EQ(test::compare_dataset(a, b, std::string("/mlp.hook_pre/") + name, 1e-8, report), 0u)
          << name << " on " << ranks << " ranks: " << report.str();
    }
    for (const char* name : {"random_window", "random_tokens", "token_offsets", "token_bytes"}) {
      EXPECT_EQ(test::compare_dataset(a, b, std::string("/examples/") + name, 0.0, report), 0u)
          << name << " on " << ranks << " ranks: " << report.str();
    }
  }
}

TEST_F(ExamplesStudy, StopAtCheckpointThenResumeEqualsUninterrupted) {
  // More text than the six files: the run must still be going when SIGTERM comes.
  const fs::path big = test::copy_brown_files(
      g_dir / "big", {"ca01", "ca02", "ca03", "ca04", "cb01", "cb02", "cb03", "cc01", "cc02",
                      "cd01", "cd02", "ce01", "ce02", "cf01", "cf02", "cf03", "cg01", "cg02",
                      "ch01", "ch02", "cj01", "cj02", "cj03", "ck01", "ck02", "cl01", "cl02"});
  const std::string args = " --corpus=" + big.string() + " --examples.pilot_windows=50";
  const fs::path ref = g_dir / "resume_reference.h5";
  const CommandResult r = run(test::study_job_args(g_dir, "planted", ref) + args, 2);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string name = "examples_stopped_" + std::to_string(::getpid());
  const fs::path out = g_dir / (name + ".h5");
  const std::string command =
      test::neurolens_command(2, test::study_job_args(g_dir, "planted", out) + args);
  {
    test::Background b(command, g_dir / (name + ".log"));
    ASSERT_TRUE(b.wait_for_output("examples study, streaming", 90)) << b.output();
    const std::map<int, pid_t> pids = test::wait_for_ranks(name, 2, 10);
    ASSERT_EQ(pids.size(), 2u) << b.output();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_FALSE(b.wait(0)) << "finished before SIGTERM; make the job longer\n" << b.output();
    for (const auto& [rank, pid] : pids) ::kill(pid, SIGTERM);
    ASSERT_TRUE(b.wait(60)) << b.output();
    EXPECT_EQ(b.code(), 143) << b.output();
  }
  EXPECT_FALSE(fs::exists(out));
  const CommandResult resumed = test::run_command(command + " --resume", g_dir / "resumed.log");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming after batch"), std::string::npos) << resumed.output;
  io::H5File a = io::H5File::open_read_only(ref);
  io::H5File b = io::H5File::open_read_only(out);
  std::ostringstream report;
  size_t bad = 0;
  for (const std::string& d : a.list("/mlp.hook_pre")) {
    bad += test::compare_dataset(a, b, "/mlp.hook_pre/" + d, 1e-9, report);
  }
  EXPECT_EQ(bad, 0u) << report.str();
  EXPECT_EQ(a.number_attribute("/examples", "n_windows"),
            b.number_attribute("/examples", "n_windows"));
}

TEST_F(ExamplesStudy, TwoSitesAndEmptyListsOnTwoRanks) {
  const fs::path out = g_dir / "two_sites.h5";
  const CommandResult r = run(test::study_job_args(g_dir, "planted", out) +
                                  " --hooks=mlp.hook_pre,hook_resid_post --examples.random_sample=0"
                                  " --examples.per_quantile=0 --examples.bottom_k=0"
                                  " --max_tokens=6000",
                              2);
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  for (const char* site : {"/mlp.hook_pre", "/hook_resid_post"}) {
    const std::vector<int64_t> tokens =
        f.open_dataset(std::string(site) + "/top_tokens").read_i64();
    ASSERT_FALSE(tokens.empty()) << site;
    EXPECT_EQ(std::count(tokens.begin(), tokens.end(), -1), 0) << site << ": windows lost";
    EXPECT_EQ(f.open_dataset(std::string(site) + "/quantile_window").dims()[3], 0u) << site;
  }
  EXPECT_EQ(f.open_dataset("/examples/random_window").dims()[0], 0u);
  // Logit effects only for MLP neurons.
  EXPECT_TRUE(f.exists("/mlp.hook_pre/logit_top_token"));
  EXPECT_FALSE(f.exists("/hook_resid_post/logit_top_token"));
}

TEST_F(ExamplesStudy, BadInputsGiveOneLineErrorsAndNoFile) {
  const fs::path out = g_dir / "bad.h5";
  // A window longer than the model's positions.
  CommandResult r = run(test::study_job_args(g_dir, "planted", out) + " --examples.seq_len=4096");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("examples.seq_len"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  // top_k out of range.
  r = run(test::study_job_args(g_dir, "planted", out) + " --examples.top_k=0");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("examples.top_k"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  // A corpus with no window of seq_len tokens.
  fs::create_directories(g_dir / "tiny");
  std::ofstream(g_dir / "tiny" / "a.txt") << "Too short for a window.\n";
  r = run(test::study_job_args(g_dir, "planted", out) + " --corpus=" + (g_dir / "tiny").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("no window of 64 tokens"), std::string::npos) << r.output;
  EXPECT_LE(test::lines_besides_progress(r.output), 2u) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(ExamplesStudy, DryRunShowsTheMemoryBudget) {
  const CommandResult r =
      run(test::study_job_args(g_dir, "planted", g_dir / "dry.h5") + " --dry-run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("memory/rank"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("examples     per rank: lists"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(g_dir / "dry.h5"));
  // Without `hooks`, an examples job reads mlp.hook_post (Neuroscope's neurons).
  std::ofstream(g_dir / "default_hooks.ini")
      << "study = examples\ncorpus = " << (g_dir / "corpus").string() << "\n";
  const CommandResult d = run("run " + (g_dir / "default_hooks.ini").string() +
                              " --model=" + (g_dir / "planted").string() +
                              " --output=" + (g_dir / "dry2.h5").string() + " --dry-run");
  ASSERT_EQ(d.code, 0) << d.output;
  EXPECT_NE(d.output.find("site         mlp.hook_post: 4 layers"), std::string::npos) << d.output;
}

}  // namespace
