// study = length, end to end through the binary on the planted demo model (synth-model --plant)
// and the same seed unplanted, with a few Brown files: the planted token-length neuron ranks
// first by |t| with t > 0 (longer tokens higher) and passes Bonferroni, its group means are
// ordered longer > equal > shorter; the unplanted model shows nothing there; histograms hold
// every sample (pooled by group, with under/overflow, and per neuron); 1 and 3 ranks agree; a pilot
// shorter than the run puts the extremes in under/overflow; bad inputs give one-line errors and
// no file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/hdf5.hpp"
#include "model/synth/plant.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;

fs::path g_dir;

CommandResult run(const std::string& args, int ranks = 0) {
  return test::run_neurolens(g_dir, args, ranks);
}

class LengthStudy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = test::fresh_dir("length");
    test::copy_brown_files(g_dir / "corpus", {"ca01", "cb02", "cg03", "cn04"});
    ASSERT_TRUE(test::write_demo_models(g_dir));
    std::ofstream(g_dir / "job.ini") << "study = length\n"
                                     << "corpus = " << (g_dir / "corpus").string() << "\n"
                                     << "hooks = mlp.hook_pre\nlayers = 0-1\nbatch_size = 2\n"
                                     << "[length]\nsequences = 8\nseq_len = 256\nbins = 32\n";
    for (const auto& p : model::read_planted(g_dir / "planted")) {
      if (p.concept_name == "token_length") planted_ = p;
    }
  }
  static void TearDownTestSuite() { fs::remove_all(g_dir); }

  static std::string job(const std::string& model, const fs::path& out) {
    return test::study_job_args(g_dir, model, out);
  }
  static model::PlantedNeuron planted_;
};
model::PlantedNeuron LengthStudy::planted_;

TEST_F(LengthStudy, PlantedLengthNeuronRanksFirstWithPositiveT) {
  ASSERT_EQ(planted_.layer, 0);
  const fs::path out = g_dir / "planted.h5";
  CommandResult r = run(job("planted", out));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted token_length neuron blocks.0.mlp.hook_pre #" +
                          std::to_string(planted_.neuron) + ": rank 1 of 1024"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const auto t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const auto sig = f.open_dataset("/mlp.hook_pre/significant").read_i64();
  const auto mean_a = f.open_dataset("/mlp.hook_pre/mean_a").read_f64();
  const auto mean_b = f.open_dataset("/mlp.hook_pre/mean_b").read_f64();
  const auto mean_eq = f.open_dataset("/mlp.hook_pre/mean_equal").read_f64();
  ASSERT_EQ(t.size(), 1024u);
  const auto k = static_cast<size_t>(planted_.neuron);
  EXPECT_GT(t[k], 0);
  EXPECT_EQ(sig[k], 1);
  for (size_t i = 0; i < t.size(); ++i) {
    if (i != k && std::isfinite(t[i])) {
      EXPECT_LT(std::fabs(t[i]), 0.5 * t[k]) << "neuron " << i;
    }
  }
  EXPECT_GT(mean_a[k], mean_eq[k]);
  EXPECT_GT(mean_eq[k], mean_b[k]);
  // Groups: every sample is in one; histograms hold each group's samples x width per layer.
  const auto n_longer = static_cast<int64_t>(f.number_attribute("/length", "n_longer"));
  const auto n_shorter = static_cast<int64_t>(f.number_attribute("/length", "n_shorter"));
  const auto n_equal = static_cast<int64_t>(f.number_attribute("/length", "n_equal"));
  EXPECT_EQ(n_longer + n_shorter + n_equal, 8 * 256);
  EXPECT_GT(n_longer, 200);
  EXPECT_GT(n_shorter, 200);
  EXPECT_GT(n_equal, 50);
  // The distribution of token lengths (samples per length) and its lower median.
  const auto count = f.open_dataset("/length/length_count").read_i64();
  const auto median = static_cast<int64_t>(f.number_attribute("/length", "median"));
  int64_t above = 0, below = 0, total = 0;
  for (size_t len = 0; len < count.size(); ++len) {
    above += static_cast<int64_t>(len) > median ? count[len] : 0;
    below += static_cast<int64_t>(len) < median ? count[len] : 0;
    total += count[len];
  }
  EXPECT_EQ(above, n_longer);
  EXPECT_EQ(below, n_shorter);
  EXPECT_EQ(total, 8 * 256);
  EXPECT_LE(below, (total - 1) / 2) << "the median is the lower median";
  EXPECT_GT(below + count[static_cast<size_t>(median)], (total - 1) / 2);
  // Histograms: in-range bins plus under- and overflow hold each group's samples x width per
  // layer; edges increase; the per-neuron histograms hold every sample of every neuron.
  const auto hist = f.open_dataset("/mlp.hook_pre/histogram").read_i64();
  const auto under = f.open_dataset("/mlp.hook_pre/histogram_underflow").read_i64();
  const auto over = f.open_dataset("/mlp.hook_pre/histogram_overflow").read_i64();
  const auto edges = f.open_dataset("/mlp.hook_pre/histogram_edges").read_f64();
  const auto neuron_hist = f.open_dataset("/mlp.hook_pre/neuron_histogram").read_i64();
  const auto layer_min = f.open_dataset("/mlp.hook_pre/layer_min").read_f64();
  const auto layer_max = f.open_dataset("/mlp.hook_pre/layer_max").read_f64();
  ASSERT_EQ(hist.size(), 2u * 3 * 32);
  ASSERT_EQ(under.size(), 2u * 3);
  ASSERT_EQ(edges.size(), 2u * 33);
  ASSERT_EQ(neuron_hist.size(), 2u * 512 * 34);
  const int64_t groups[3] = {n_longer, n_shorter, n_equal};
  for (size_t l = 0; l < 2; ++l) {
    int64_t outside = 0;
    for (size_t g = 0; g < 3; ++g) {
      int64_t sum = under[l * 3 + g] + over[l * 3 + g];
      outside += under[l * 3 + g] + over[l * 3 + g];
      for (size_t b = 0; b < 32; ++b) sum += hist[(l * 3 + g) * 32 + b];
      EXPECT_EQ(sum, groups[g] * 512) << "layer " << l << " group " << g;
    }
    for (size_t e = 0; e < 32; ++e) EXPECT_LT(edges[l * 33 + e], edges[l * 33 + e + 1]);
    // The pilot here is the whole run (pilot_sequences 16 >= sequences 8): nothing outside, and
    // the edges enclose the exact extremes.
    EXPECT_EQ(outside, 0) << "layer " << l;
    EXPECT_LE(edges[l * 33], layer_min[l]);
    EXPECT_GE(edges[l * 33 + 32], layer_max[l]);
    for (size_t w = 0; w < 512; ++w) {
      int64_t sum = 0;
      for (size_t b = 0; b < 34; ++b) sum += neuron_hist[(l * 512 + w) * 34 + b];
      ASSERT_EQ(sum, 8 * 256) << "layer " << l << " neuron " << w;
    }
  }
}

TEST_F(LengthStudy, UnplantedModelShowsNoLengthNeuron) {
  const fs::path out = g_dir / "plain.h5";
  CommandResult r = run(job("plain", out));
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  const auto t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const auto k = static_cast<size_t>(planted_.neuron);
  size_t rank = 1;
  for (double v : t) rank += std::isfinite(v) && std::fabs(v) > std::fabs(t[k]);
  EXPECT_GT(rank, 10u) << "t = " << t[k];
  EXPECT_LT(std::fabs(t[k]), 10.0);
}

TEST_F(LengthStudy, OneAndThreeRanksAgree) {
  const fs::path one = g_dir / "np1.h5", three = g_dir / "np3.h5";
  CommandResult r1 = run(job("planted", one), 1);
  ASSERT_EQ(r1.code, 0) << r1.output;
  CommandResult r3 = run(job("planted", three), 3);
  ASSERT_EQ(r3.code, 0) << r3.output;
  io::H5File a = io::H5File::open_read_only(one), b = io::H5File::open_read_only(three);
  for (const char* name : {"/mlp.hook_pre/histogram", "/mlp.hook_pre/neuron_histogram",
                           "/mlp.hook_pre/histogram_overflow", "/length/length_count"}) {
    EXPECT_EQ(a.open_dataset(name).read_i64(), b.open_dataset(name).read_i64()) << name;
  }
  EXPECT_EQ(a.open_dataset("/mlp.hook_pre/histogram_edges").read_f64(),
            b.open_dataset("/mlp.hook_pre/histogram_edges").read_f64());
  for (const char* name : {"/mlp.hook_pre/t", "/mlp.hook_pre/p", "/mlp.hook_pre/mean_a",
                           "/mlp.hook_pre/mean_b", "/mlp.hook_pre/mean_equal"}) {
    const auto x = a.open_dataset(name).read_f64(), y = b.open_dataset(name).read_f64();
    ASSERT_EQ(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_NEAR(x[i], y[i], 1e-9 * std::max(1e-300, std::fabs(x[i]))) << name << " " << i;
    }
  }
}

TEST_F(LengthStudy, ShortPilotCountsValuesOutsideItsEdges) {
  // A pilot of one sequence: values of the other seven beyond its range land in the
  // under/overflow counts, and every sample is still counted once.
  const fs::path out = g_dir / "pilot1.h5";
  CommandResult r = run(job("planted", out) + " --length.pilot_sequences=1", 2);
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  EXPECT_EQ(f.open_dataset("/mlp.hook_pre/histogram_edges").read_f64().size(), 2u * 33);
  const auto hist = f.open_dataset("/mlp.hook_pre/histogram").read_i64();
  const auto under = f.open_dataset("/mlp.hook_pre/histogram_underflow").read_i64();
  const auto over = f.open_dataset("/mlp.hook_pre/histogram_overflow").read_i64();
  int64_t total = 0, outside = 0;
  for (int64_t v : hist) total += v;
  for (size_t i = 0; i < under.size(); ++i) outside += under[i] + over[i];
  EXPECT_EQ(total + outside, int64_t{2} * 8 * 256 * 512);
  EXPECT_GT(outside, 0) << "one pilot sequence should not cover eight sequences' extremes";
  EXPECT_EQ(f.number_attribute("/length", "pilot_sequences"), 1.0);
}

TEST_F(LengthStudy, BadInputsFailWithOneLineAndNoFile) {
  std::ofstream(g_dir / "same.txt") << [] {
    std::string s;
    for (int i = 0; i < 600; ++i) s += "a ";
    return s;
  }();
  std::ofstream(g_dir / "short.txt") << "Only a few words here.";
  const fs::path out = g_dir / "bad.h5";
  struct Case {
    std::string overrides, expect;
  } cases[] = {
      {"--corpus=" + (g_dir / "same.txt").string(), "groups too small"},
      {"--corpus=" + (g_dir / "short.txt").string(), "length.seq_len"},
      {"--layers=7", "layers"},
      {"--hooks=mlp.nope", "hooks: mlp.nope"},
      {"--test=logistic", "test"},
  };
  for (const Case& c : cases) {
    fs::remove(out);
    CommandResult r = run(job("planted", out) + " " + c.overrides);
    EXPECT_NE(r.code, 0) << c.overrides;
    EXPECT_NE(r.output.find("neurolens: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.overrides;
  }
}

}  // namespace

// length.pack: documents shorter than seq_len give no chunk on their own; packed, their tokens
// form one stream (document order, no separator) cut into chunks, checked against the tokenizer.
TEST_F(LengthStudy, PackCutsChunksFromOneStreamAcrossDocuments) {
  const fs::path corpus = g_dir / "short_docs";
  fs::create_directories(corpus);
  const std::string texts[] = {
      "The quick brown fox jumps over the lazy dog. Short documents are common on the web, "
      "and a study that drops them sees a different corpus than the original did.",
      "Interpretability researchers concatenate text into one stream before cutting it into "
      "sequences; extraordinarily long words and tiny ones (a, I, of) both appear.",
      "Histograms by token length compare shorter, equal and longer tokens at every layer of "
      "the model, neuron by neuron, with Welch tests and Bonferroni corrections."};
  for (int i = 0; i < 3; ++i) {
    std::ofstream(corpus / ("doc" + std::to_string(i) + ".txt")) << texts[i];
  }
  const model::Tokenizer tok =
      model::Tokenizer::load(g_dir / "planted" / "vocab.json", g_dir / "planted" / "merges.txt");
  std::vector<int32_t> stream;
  for (const std::string& t : texts) {
    const std::vector<int32_t> ids = tok.encode(t);
    ASSERT_LT(ids.size(), 48u) << "each document must be shorter than seq_len";
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  const size_t T = 48, chunks = stream.size() / T;
  ASSERT_GE(chunks, 1u);

  const std::string common =
      " --corpus=" + corpus.string() + " --length.seq_len=48 --length.sequences=8";
  const fs::path unpacked = g_dir / "unpacked.h5";
  CommandResult r = run(job("planted", unpacked) + common);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("no document of the corpus has 48 tokens"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(unpacked));

  const fs::path packed = g_dir / "packed.h5";
  r = run(job("planted", packed) + common + " --length.pack=true --save_samples=true", 2);
  ASSERT_EQ(r.code, 0) << r.output;
  io::H5File f = io::H5File::open_read_only(packed);
  EXPECT_EQ(f.number_attribute("/", "n_windows"), static_cast<double>(chunks));
  const std::vector<int64_t> ids = f.open_dataset("/samples/token_id").read_i64();
  ASSERT_EQ(ids.size(), chunks * T);
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(ids[i], stream[i]) << "sample " << i;
  }
}
