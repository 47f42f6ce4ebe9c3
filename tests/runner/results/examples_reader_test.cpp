// ExamplesFile on tests/fixtures/examples/examples.h5, written independently with h5py by
// tests/reference/make_examples_results.py (its docstring gives the values used here).
#include "runner/results/examples_reader.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "io/hdf5.hpp"

namespace fs = std::filesystem;
using neurolens::Error;
using neurolens::runner::ExamplesFile;
using neurolens::runner::ExampleWindow;
using neurolens::runner::NeuronExamples;

namespace {

const std::string kFixture = std::string(NEUROLENS_FIXTURES) + "/examples/examples.h5";
const std::vector<std::vector<int32_t>> kWindows = {
    {0, 1, 2, 3, 4, 5, 6, 7},   {11, 1, 8, 9, 10, 2, 3, 7}, {5, 6, 4, 8, 9, 10, 7, 11},
    {0, 1, 8, 9, 5, 12, 7, 11}, {2, 3, 4, 5, 6, 7, 11, 1},  {1, 2, 9, 10, 9, 10, 7, 11}};

size_t site_index(const ExamplesFile& f, const std::string& name) {
  for (size_t s = 0; s < f.sites().size(); ++s) {
    if (f.sites()[s].name == name) return s;
  }
  ADD_FAILURE() << "no site " << name;
  return 0;
}

std::vector<int64_t> window_ids(const std::vector<ExampleWindow>& w) {
  std::vector<int64_t> out;
  for (const ExampleWindow& x : w) out.push_back(x.window);
  return out;
}

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("neurolens_examples_reader_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string error_of(const std::string& path) {
  try {
    ExamplesFile f(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(ExamplesReader, InfoSitesAndVocabulary) {
  ExamplesFile f(kFixture);
  const auto& info = f.info();
  EXPECT_EQ(info.seq_len, 8);
  EXPECT_EQ(info.top_k, 3);
  EXPECT_EQ(info.bottom_k, 2);
  EXPECT_EQ(info.per_quantile, 2);
  EXPECT_EQ(info.random_sample, 2);
  EXPECT_EQ(info.bins, 4);
  EXPECT_EQ(info.logit_tokens, 2);
  EXPECT_EQ(info.pilot_windows, 6);
  EXPECT_EQ(info.n_windows, 6);
  EXPECT_EQ(info.n_tokens, 46);
  EXPECT_EQ(info.seed, 1234);
  EXPECT_EQ(info.model, "/nonexistent/gpt2-examples-fixture");
  EXPECT_EQ(info.model_type, "gpt2");
  EXPECT_EQ(info.tokenizer, "GPT-2 byte-level BPE (fixture, 13 tokens)");

  ASSERT_EQ(f.sites().size(), 2u);
  const auto& mlp = f.sites()[site_index(f, "mlp.hook_post")];
  EXPECT_EQ(mlp.layers, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(mlp.width, 3);
  const auto& resid = f.sites()[site_index(f, "hook_resid_post")];
  EXPECT_EQ(resid.layers, (std::vector<int64_t>{2}));
  EXPECT_EQ(resid.width, 2);

  EXPECT_EQ(f.vocab_size(), 13);
  EXPECT_EQ(f.token_bytes(0), "<|endoftext|>");
  EXPECT_EQ(f.token_bytes(8), " caf");
  EXPECT_EQ(f.token_bytes(9), "\xc3");
  EXPECT_EQ(f.token_bytes(10), "\xa9");
  EXPECT_EQ(f.token_bytes(-1), "");
  EXPECT_EQ(f.token_bytes(13), "");
  EXPECT_TRUE(f.is_special(0));
  EXPECT_FALSE(f.is_special(1));
  EXPECT_FALSE(f.is_special(13));
}

TEST(ExamplesReader, ReadsEveryFieldOfALayerRow) {
  ExamplesFile f(kFixture);
  const std::vector<NeuronExamples> row = f.read_layer(site_index(f, "mlp.hook_post"), 0);
  ASSERT_EQ(row.size(), 3u);
  const NeuronExamples& n = row[0];
  EXPECT_EQ(n.layer, 1);
  EXPECT_EQ(n.neuron, 0);
  EXPECT_EQ(row[2].neuron, 2);
  EXPECT_DOUBLE_EQ(n.mean, 1.2065217391304348);
  EXPECT_DOUBLE_EQ(n.variance, 2.6285444234404536);
  EXPECT_DOUBLE_EQ(n.frac_positive, 0.6739130434782609);
  EXPECT_TRUE(std::isfinite(n.skewness));
  EXPECT_TRUE(std::isfinite(n.kurtosis));
  EXPECT_EQ(n.max_activation, 4.0f);
  EXPECT_EQ(n.min_activation, -1.5f);
  ASSERT_EQ(n.hist_edges.size(), 5u);
  EXPECT_FLOAT_EQ(n.hist_edges[0], -2.05f);
  EXPECT_FLOAT_EQ(n.hist_edges[4], 4.55f);
  EXPECT_EQ(n.hist_counts, (std::vector<int64_t>{0, 10, 13, 13, 10, 0}));
  EXPECT_EQ(n.quantile_boundaries[0], 3.25f);
  EXPECT_EQ(n.quantile_boundaries[1], 3.625f);
  EXPECT_EQ(n.quantile_count, (std::array<int64_t, 5>{3, 2, 0, 0, 1}));

  ASSERT_EQ(n.top.size(), 3u);
  EXPECT_EQ(window_ids(n.top), (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(n.top[0].value, 4.0f);
  EXPECT_EQ(n.top[1].value, 3.75f);
  EXPECT_EQ(n.top[0].position, 7);
  EXPECT_EQ(n.top[1].position, 3);
  EXPECT_EQ(n.top[1].document, 0);
  EXPECT_EQ(n.top[1].start, 8);
  EXPECT_EQ(n.top[2].document, 1);
  EXPECT_EQ(n.top[2].start, 0);
  EXPECT_EQ(n.top[0].tokens, kWindows[0]);
  const std::vector<float> acts = {1.75f, -0.75f, 2.5f, 0.0f, 3.25f, 0.75f, 4.0f};
  ASSERT_EQ(n.top[0].activations.size(), 8u);
  EXPECT_TRUE(std::isnan(n.top[0].activations[0]));  // the BOS (special) token
  EXPECT_EQ(std::vector<float>(n.top[0].activations.begin() + 1, n.top[0].activations.end()), acts);

  EXPECT_EQ(window_ids(n.bottom), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(n.bottom[0].value, -1.5f);
  EXPECT_EQ(n.bottom[0].position, 2);

  EXPECT_EQ(window_ids(n.quantiles[0]), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(window_ids(n.quantiles[1]), (std::vector<int64_t>{3, 1}));
  EXPECT_TRUE(n.quantiles[2].empty());
  EXPECT_TRUE(n.quantiles[3].empty());
  EXPECT_EQ(n.quantiles[0][0].value, 3.25f);
  EXPECT_EQ(n.quantiles[1][1].tokens, kWindows[1]);

  ASSERT_EQ(n.random.size(), 2u);
  EXPECT_EQ(window_ids(n.random), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(n.random[0].value, 3.25f);
  EXPECT_EQ(n.random[1].value, 3.5f);
  EXPECT_EQ(n.random[0].position, 6);
  EXPECT_EQ(n.random[0].document, 1);
  EXPECT_EQ(n.random[0].start, 16);
  EXPECT_EQ(n.random[0].tokens, kWindows[5]);
  EXPECT_EQ(n.random[0].activations.size(), 8u);
  EXPECT_EQ(n.random[0].activations[6], 3.25f);

  ASSERT_EQ(n.logit_top.size(), 2u);
  EXPECT_EQ(n.logit_top[0].token, 1);
  EXPECT_EQ(n.logit_top[0].value, 2.5f);
  EXPECT_EQ(n.logit_top[1].token, 2);
  EXPECT_EQ(n.logit_top[1].value, 1.25f);
  ASSERT_EQ(n.logit_bottom.size(), 2u);
  EXPECT_EQ(n.logit_bottom[0].token, 5);
  EXPECT_EQ(n.logit_bottom[0].value, -1.5f);

  // Row 1 is model layer 2 (the `layer` scale), not layer 1.
  const std::vector<NeuronExamples> row1 = f.read_layer(site_index(f, "mlp.hook_post"), 1);
  EXPECT_EQ(row1[0].layer, 2);
  EXPECT_EQ(window_ids(row1[0].top), (std::vector<int64_t>{4, 0, 2}));
  EXPECT_EQ(row1[1].logit_top[0].token, 3);  // (row 1 + neuron 1 + 1) % 13
}

TEST(ExamplesReader, EmptySlotsAreDropped) {
  ExamplesFile f(kFixture);
  const size_t mlp = site_index(f, "mlp.hook_post");
  const std::vector<NeuronExamples> row0 = f.read_layer(mlp, 0);
  const std::vector<NeuronExamples> row1 = f.read_layer(mlp, 1);
  EXPECT_EQ(window_ids(row0[1].top), (std::vector<int64_t>{1, 4}));  // third slot padded
  EXPECT_EQ(window_ids(row0[2].bottom), (std::vector<int64_t>{1}));  // second slot padded
  EXPECT_EQ(window_ids(row0[2].quantiles[1]), (std::vector<int64_t>{0}));
  // A window whose last two tokens are -1: dropped from tokens and activations alike.
  ASSERT_EQ(row1[2].top.size(), 1u);
  EXPECT_EQ(row1[2].top[0].tokens, (std::vector<int32_t>{11, 1, 8, 9, 10, 2}));
  ASSERT_EQ(row1[2].top[0].activations.size(), 6u);
  EXPECT_EQ(row1[2].top[0].activations[1], 4.0f);
  EXPECT_EQ(row1[2].top[0].position, 1);
}

TEST(ExamplesReader, NonMlpSiteHasNoLogitEffects) {
  ExamplesFile f(kFixture);
  const std::vector<NeuronExamples> row = f.read_layer(site_index(f, "hook_resid_post"), 0);
  ASSERT_EQ(row.size(), 2u);
  EXPECT_EQ(row[0].layer, 2);
  EXPECT_TRUE(row[0].logit_top.empty());
  EXPECT_TRUE(row[0].logit_bottom.empty());
  EXPECT_EQ(window_ids(row[0].top), (std::vector<int64_t>{0, 2, 5}));
  EXPECT_EQ(window_ids(row[1].bottom), (std::vector<int64_t>{0, 5}));
  EXPECT_THROW(f.read_layer(site_index(f, "hook_resid_post"), 1), Error);
  EXPECT_THROW(f.read_layer(2, 0), Error);
}

TEST(ExamplesReader, DisplayTokensJoinACharacterSplitOverTwoTokens) {
  ExamplesFile f(kFixture);
  const std::string e_acute = "\xc3\xa9";          // é = C3 A9
  const std::string replacement = "\xef\xbf\xbd";  // U+FFFD
  using V = std::vector<std::string>;
  // " caf" + 0xC3 + 0xA9: é is shown at the token holding its last byte.
  EXPECT_EQ(f.display_tokens(std::vector<int32_t>{8, 9, 10}), (V{" caf", "", e_acute}));
  EXPECT_EQ(f.display_tokens(kWindows[5]), (V{"The", " cat", "", e_acute, "", e_acute, ".", "\n"}));
  // 0xC3 followed by " the" never completes; 0xFF is never UTF-8.
  EXPECT_EQ(f.display_tokens(kWindows[3]),
            (V{"<|endoftext|>", "The", " caf", replacement, " the", replacement, ".", "\n"}));
  EXPECT_EQ(f.display_tokens(std::vector<int32_t>{9}), (V{replacement}));
  EXPECT_EQ(f.display_tokens(std::vector<int32_t>{10, 1}), (V{replacement, "The"}));
  EXPECT_EQ(f.display_tokens(std::vector<int32_t>{9, 9, 10}), (V{replacement, "", e_acute}));
  // -1 (and out-of-range) ids show "" and break a pending character.
  EXPECT_EQ(f.display_tokens(std::vector<int32_t>{9, -1, 10, 99}),
            (V{replacement, "", replacement, ""}));
  EXPECT_TRUE(f.display_tokens(std::vector<int32_t>{}).empty());
}

TEST(ExamplesReader, NotAnExamplesFileIsAOneLineError) {
  const fs::path dir = temp_dir();
  {
    const fs::path other = dir / "contrast.h5";
    neurolens::io::H5File out = neurolens::io::H5File::create(other);
    out.set_attribute("/", "study", std::string("contrast"));
    out.close();
    const std::string msg = error_of(other.string());
    EXPECT_NE(msg.find(other.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("not an examples results file (study = contrast)"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("fix: "), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  {
    const fs::path bare = dir / "bare.h5";
    neurolens::io::H5File out = neurolens::io::H5File::create(bare);
    out.close();
    const std::string msg = error_of(bare.string());
    EXPECT_NE(msg.find("no root attribute 'study'"), std::string::npos) << msg;
  }
  {
    const fs::path half = dir / "half.h5";
    neurolens::io::H5File out = neurolens::io::H5File::create(half);
    out.set_attribute("/", "study", std::string("examples"));
    out.close();
    const std::string msg = error_of(half.string());
    EXPECT_NE(msg.find(half.string() + ":/examples"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  {
    const fs::path text = dir / "notes.h5";
    std::ofstream(text) << "not hdf5\n";
    const std::string msg = error_of(text.string());
    EXPECT_NE(msg.find(text.string()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  {
    const std::string msg = error_of((dir / "missing.h5").string());
    EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
  }
  fs::remove_all(dir);
}
