// neurolens capture on several ranks, end to end through the binary under mpirun: the same
// capture of a corpus (JSON Lines cut into many small segments, so every rank reads several
// rounds), a text and a token file on 1, 2 and 3 ranks gives bitwise-identical datasets; rows
// are the documents' consecutive seq_len chunks in corpus order (checked against the tokenizer)
// with the activations of an in-process ForwardPass; f16 / bf16 are the f32 values rounded to
// nearest even; --sequences keeps the first N rows; a bad document is one line and no file.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/hdf5.hpp"
#include "model/arch/forward.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"
#include "model/ops/half.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

using test::CommandResult;

const char* const kHooks[] = {"blocks.0.mlp.hook_pre", "blocks.1.mlp.hook_pre", "hidden_states.2"};
constexpr int kSeqLen = 12;

class CaptureRanks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::fresh_dir("capture_ranks");
    test::write_tiny_model(dir_ / "model");
    // 40 documents of 0..~90 tokens (some shorter than a sequence), ~150 bytes and more each.
    std::ofstream jsonl(dir_ / "docs.jsonl");
    static const char* words[] = {"the", "cat", "sat", "on", "a",     "mat", "and", "we",
                                  "can", "not", "see", "it", "today", "old", "dog"};
    uint32_t state = 12345;
    for (int d = 0; d < 40; ++d) {
      std::string text;
      const int n = d % 7 == 3 ? 3 : 5 + static_cast<int>((d * 37) % 60);
      for (int w = 0; w < n; ++w) {
        state = state * 1664525u + 1013904223u;
        text += (w ? " " : "") + std::string(words[(state >> 16) % 15]);
      }
      texts_.push_back(text);
      jsonl << "{\"text\": \"" << text << ".\"}\n";
      texts_.back() += ".";
    }
    jsonl.close();
    std::string text;
    for (const std::string& t : texts_) text += t + "\n";
    test::write_text(dir_ / "text.txt", text);
    test::write_text(dir_ / "ids.txt",
                     "1 2 3 4 5 6\n7 8 9 10 11 12\n\n13 14 15 16 17 18\n"
                     "19 20 21 22 23 24\n25 26 27 28 29 30\n");
  }

  static CommandResult capture(const std::string& args, int ranks) {
    return test::run_command(
        test::neurolens_command(ranks, "capture --model " + (dir_ / "model").string() + " " + args),
        dir_ / ("command_" + std::to_string(::getpid()) + ".log"));
  }

  static std::string corpus_args(const fs::path& out) {
    return "--corpus " + (dir_ / "docs.jsonl").string() + " --seq-len " + std::to_string(kSeqLen) +
           " --segment-bytes 400 --batch-size 3 --hooks "
           "'blocks.*.mlp.hook_pre,hidden_states.2' --overwrite --out " +
           out.string();
  }

  static fs::path dir_;
  static std::vector<std::string> texts_;
};
fs::path CaptureRanks::dir_;
std::vector<std::string> CaptureRanks::texts_;

// Raw bits of every element, so that comparisons are bitwise (and NaN-safe).
std::vector<uint32_t> bits(const std::vector<float>& v) {
  std::vector<uint32_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::bit_cast<uint32_t>(v[i]);
  return out;
}

// Lines of `output` that neurolens printed.
int neurolens_lines(const std::string& output) {
  std::istringstream in(output);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.rfind("neurolens", 0) == 0 ? 1 : 0;
  return n;
}

void expect_same_file(const fs::path& a_path, const fs::path& b_path) {
  io::H5File a = io::H5File::open_read_only(a_path);
  io::H5File b = io::H5File::open_read_only(b_path);
  for (const char* name : kHooks) {
    const io::H5Dataset da = a.open_dataset(std::string("/") + name);
    const io::H5Dataset db = b.open_dataset(std::string("/") + name);
    ASSERT_EQ(da.dims(), db.dims()) << name << ": " << b_path;
    EXPECT_TRUE(bits(da.read_f32()) == bits(db.read_f32())) << name << ": " << b_path;
  }
  for (const char* name : {"/tokens", "/sequence_document", "/sequence_start"}) {
    EXPECT_EQ(a.open_dataset(name).dims(), b.open_dataset(name).dims()) << name;
    EXPECT_EQ(a.open_dataset(name).read_i64(), b.open_dataset(name).read_i64()) << name;
  }
}

TEST_F(CaptureRanks, CorpusCaptureIsBitwiseIdenticalOnOneTwoAndThreeRanks) {
  std::vector<fs::path> outs;
  for (int ranks : {1, 2, 3}) {
    outs.push_back(dir_ / ("corpus_np" + std::to_string(ranks) + ".h5"));
    const CommandResult r = capture(corpus_args(outs.back()), ranks);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find(std::to_string(ranks) + " rank(s)"), std::string::npos) << r.output;
  }
  expect_same_file(outs[0], outs[1]);
  expect_same_file(outs[0], outs[2]);

  // Rows = every document's consecutive kSeqLen chunks, tails dropped, in corpus order.
  const model::Model m = model::load_model(dir_ / "model");
  const model::Tokenizer tok = model::Tokenizer::load(m.vocab_json, m.merges_txt);
  std::vector<int64_t> tokens, document, start;
  for (size_t d = 0; d < texts_.size(); ++d) {
    const std::vector<int32_t> ids = tok.encode(texts_[d]);
    for (size_t s = 0; s + kSeqLen <= ids.size(); s += kSeqLen) {
      tokens.insert(tokens.end(), ids.begin() + static_cast<long>(s),
                    ids.begin() + static_cast<long>(s + kSeqLen));
      document.push_back(static_cast<int64_t>(d));
      start.push_back(static_cast<int64_t>(s));
    }
  }
  const auto n = static_cast<hsize_t>(document.size());
  ASSERT_GT(n, 20u);
  io::H5File f = io::H5File::open_read_only(outs[2]);
  EXPECT_EQ(f.open_dataset("/tokens").dims(), (std::vector<hsize_t>{n, kSeqLen}));
  EXPECT_EQ(f.open_dataset("/tokens").read_i64(), tokens);
  EXPECT_EQ(f.open_dataset("/sequence_document").read_i64(), document);
  EXPECT_EQ(f.open_dataset("/sequence_start").read_i64(), start);
  EXPECT_EQ(f.number_attribute("/", "n_sequences"), static_cast<double>(n));
  EXPECT_EQ(f.number_attribute("/", "n_ranks"), 3.0);
  EXPECT_EQ(f.string_attribute("/", "dtype"), "f32");

  // Activations = an in-process forward pass over the same rows.
  const std::vector<int32_t> ids(tokens.begin(), tokens.end());
  model::ForwardPass forward(m, static_cast<int>(n), kSeqLen);
  for (const char* name : kHooks) {
    const model::HookPoint point = model::parse_hook_name(name, m.config);
    const auto width = static_cast<hsize_t>(model::hook_width(point, m.config));
    const io::H5Dataset d = f.open_dataset(std::string("/") + name);
    ASSERT_EQ(d.dims(), (std::vector<hsize_t>{n, kSeqLen, width})) << name;
    std::vector<float> expected(n * kSeqLen * width);
    model::CaptureRequest req{point, expected.data()};
    forward.run(ids, static_cast<int>(n), kSeqLen, std::span(&req, 1));
    EXPECT_TRUE(bits(d.read_f32()) == bits(expected)) << name;
  }
}

TEST_F(CaptureRanks, TextAndTokenFileShardOverRanks) {
  const std::string text_args = "--text " + (dir_ / "text.txt").string() +
                                " --seq-len 10 --batch-size 2 --hooks "
                                "'blocks.*.mlp.hook_pre,hidden_states.2' --overwrite --out ";
  const std::string ids_args = "--token-file " + (dir_ / "ids.txt").string() +
                               " --batch-size 1 --hooks 'blocks.*.mlp.hook_pre,hidden_states.2' "
                               "--overwrite --out ";
  for (const auto& [args, stem] : {std::pair{text_args, "text"}, std::pair{ids_args, "ids"}}) {
    std::vector<fs::path> outs;
    for (int ranks : {0, 2, 3}) {
      outs.push_back(dir_ / (std::string(stem) + "_np" + std::to_string(ranks) + ".h5"));
      const CommandResult r = capture(args + outs.back().string(), ranks);
      ASSERT_EQ(r.code, 0) << r.output;
    }
    expect_same_file(outs[0], outs[1]);
    expect_same_file(outs[0], outs[2]);
  }
  io::H5File ids = io::H5File::open_read_only(dir_ / "ids_np3.h5");
  EXPECT_EQ(ids.open_dataset("/tokens").dims(), (std::vector<hsize_t>{5, 6}));
  EXPECT_EQ(ids.open_dataset("/sequence_document").read_i64(),
            (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST_F(CaptureRanks, HalfPrecisionIsTheF32CaptureRoundedToNearestEven) {
  const fs::path f32 = dir_ / "half_f32.h5";
  ASSERT_EQ(capture(corpus_args(f32), 2).code, 0);
  io::H5File ref = io::H5File::open_read_only(f32);
  for (const std::string dtype : {"f16", "bf16"}) {
    const fs::path out = dir_ / ("half_" + dtype + ".h5");
    const CommandResult r = capture(corpus_args(out) + " --dtype " + dtype, 3);
    ASSERT_EQ(r.code, 0) << r.output;
    io::H5File f = io::H5File::open_read_only(out);
    EXPECT_EQ(f.string_attribute("/", "dtype"), dtype);
    for (const char* name : kHooks) {
      const io::H5Dataset d = f.open_dataset(std::string("/") + name);
      EXPECT_EQ(d.type(), dtype == "f16" ? io::H5Type::F16 : io::H5Type::BF16) << name;
      EXPECT_EQ(d.dims(), ref.open_dataset(std::string("/") + name).dims());
      const std::vector<float> got = d.read_f32();
      const std::vector<float> want = ref.open_dataset(std::string("/") + name).read_f32();
      ASSERT_EQ(got.size(), want.size());
      // Relative precision of the format: 2^-11 (f16, normal range) or 2^-8 (bf16).
      const double eps = dtype == "f16" ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
      size_t bad = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        const float rounded = dtype == "f16" ? model::f16_to_f32(model::f32_to_f16(want[i]))
                                             : model::bf16_to_f32(model::f32_to_bf16(want[i]));
        const bool same = std::bit_cast<uint32_t>(got[i]) == std::bit_cast<uint32_t>(rounded);
        const bool close =
            std::fabs(got[i] - want[i]) <= eps * std::fabs(want[i]) + (dtype == "f16" ? 6e-8 : 0.0);
        if ((!same || !close) && ++bad <= 5) {
          ADD_FAILURE() << dtype << " " << name << "[" << i << "]: " << got[i] << " vs f32 "
                        << want[i];
        }
      }
      EXPECT_EQ(bad, 0u) << dtype << " " << name;
    }
  }
}

TEST_F(CaptureRanks, SequencesCapKeepsTheFirstRows) {
  const fs::path all = dir_ / "cap_all.h5";
  ASSERT_EQ(capture(corpus_args(all), 0).code, 0);
  io::H5File full = io::H5File::open_read_only(all);
  for (int cap : {1, 7}) {
    const fs::path out = dir_ / ("cap_" + std::to_string(cap) + ".h5");
    const CommandResult r = capture(corpus_args(out) + " --sequences " + std::to_string(cap), 3);
    ASSERT_EQ(r.code, 0) << r.output;
    io::H5File f = io::H5File::open_read_only(out);
    for (const char* name : kHooks) {
      const io::H5Dataset d = f.open_dataset(std::string("/") + name);
      const io::H5Dataset whole = full.open_dataset(std::string("/") + name);
      ASSERT_EQ(d.dims()[0], static_cast<hsize_t>(cap)) << name;
      const std::vector<float> got = d.read_f32();
      std::vector<float> first = whole.read_f32();
      first.resize(got.size());
      EXPECT_TRUE(bits(got) == bits(first)) << name << " cap " << cap;
    }
    std::vector<int64_t> tokens = full.open_dataset("/tokens").read_i64();
    tokens.resize(static_cast<size_t>(cap) * kSeqLen);
    EXPECT_EQ(f.open_dataset("/tokens").read_i64(), tokens);
  }
  const fs::path ids = dir_ / "cap_ids.h5";
  ASSERT_EQ(capture("--token-file " + (dir_ / "ids.txt").string() +
                        " --sequences 2 --hooks hook_embed --out " + ids.string(),
                    2)
                .code,
            0);
  EXPECT_EQ(io::H5File::open_read_only(ids).open_dataset("/tokens").read_i64(),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

TEST_F(CaptureRanks, BadDocumentFailsWithOneLineAndNoFile) {
  const fs::path bad = dir_ / "bad";
  fs::create_directories(bad);
  {
    std::ofstream out(bad / "docs.jsonl");
    for (int i = 0; i < 30; ++i)
      out << "{\"text\": \"the cat sat on the mat and we can see it\"}\n";
    out << "{\"text\": \"never closed\n";
    for (int i = 0; i < 5; ++i) out << "{\"text\": \"the dog\"}\n";
  }
  const fs::path out = bad / "never.h5";
  struct Case {
    std::string args;
    std::string expect;
  } cases[] = {
      {"--corpus " + (bad / "docs.jsonl").string() + " --segment-bytes 300", "docs.jsonl:31"},
      {"--corpus " + (bad / "missing*.jsonl").string(), "missing"},
      {"--corpus " + (dir_ / "docs.jsonl").string() + " --seq-len 1000", "--seq-len"},
      {"--corpus " + (dir_ / "docs.jsonl").string() + " --dtype f8", "--dtype"},
      {"--corpus " + (dir_ / "docs.jsonl").string() + " --sequences 0", "--sequences"},
      {"--token-file " + (dir_ / "ids.txt").string() + " --segment-bytes 10", "--segment-bytes"},
      {"--corpus " + (dir_ / "docs.jsonl").string() + " --text " + (dir_ / "text.txt").string(),
       "exactly one"},
  };
  for (const Case& c : cases) {
    for (int ranks : {0, 3}) {
      const CommandResult r = capture(c.args + " --hooks hook_embed --out " + out.string(), ranks);
      EXPECT_NE(r.code, 0) << c.args;
      EXPECT_NE(r.output.find("neurolens: error: "), std::string::npos) << r.output;
      EXPECT_NE(r.output.find(c.expect), std::string::npos)
          << "expected '" << c.expect << "' in: " << r.output;
      // One line from neurolens (mpirun adds its own banner about the non-zero exit).
      EXPECT_EQ(neurolens_lines(r.output), 1) << "one line: " << r.output;
      if (ranks == 0) {
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
      }
      EXPECT_FALSE(fs::exists(out)) << c.args;
    }
  }
  for (const auto& entry : fs::directory_iterator(bad)) {
    EXPECT_EQ(entry.path().filename().string().find(".never.h5"), std::string::npos)
        << "left a temporary file: " << entry.path();
  }
}

}  // namespace
