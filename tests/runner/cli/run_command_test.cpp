// neurolens run, end to end through the binary on one rank (and two for the one-line errors):
// bad jobs end with one "neurolens: error:" line and leave nothing behind, outputs are checked
// before any compute, --dry-run prints the plan and writes nothing, and the results file has the
// documented layout, with t-tests that an independent recomputation from /samples reproduces.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <hdf5_hl.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "model/ops/gemm_bf16.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;
using namespace neurolens::test;

namespace {

class RunCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fresh_dir("run_command");
    write_tiny_model(dir_ / "model");
    write_corpus(dir_ / "corpus", 6, 40);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // Writes job `name`.ini (a contrast job writing out/<name>.h5 plus `extra`) and returns its path.
  static fs::path job(const std::string& name, const std::string& extra = "",
                      const std::string& output = "") {
    fs::create_directories(dir_ / "out");
    const fs::path out = output.empty() ? dir_ / "out" / (name + ".h5") : fs::path(output);
    const fs::path file = dir_ / (name + ".ini");
    write_text(file, contrast_job(dir_ / "model", dir_ / "corpus", out, extra));
    return file;
  }
  static CommandResult run(int ranks, const std::string& args, const std::string& name) {
    return run_command(neurolens_command(ranks, "run " + args), dir_ / (name + ".log"), 120);
  }
  // Nothing named out/<name>.h5 or out/.<name>.h5.* (partial files, lock) is left.
  static void expect_nothing_left(const std::string& name) {
    EXPECT_FALSE(fs::exists(dir_ / "out" / (name + ".h5"))) << name;
    const auto left = files_starting_with(dir_ / "out", "." + name + ".h5");
    EXPECT_TRUE(left.empty()) << "left behind: " << join(left);
    EXPECT_FALSE(fs::exists(dir_ / "out" / (name + ".h5.ckpt"))) << name;
  }
  static fs::path dir_;
};
fs::path RunCommand::dir_;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Exactly one "neurolens: error: " line containing `expected`; returns it.
std::string the_error_line(const CommandResult& r, const std::string& expected) {
  std::vector<std::string> errors;
  for (const std::string& line : lines_of(r.output)) {
    if (line.rfind("neurolens: error: ", 0) == 0) errors.push_back(line);
  }
  EXPECT_EQ(errors.size(), 1u) << r.output;
  if (errors.empty()) return "";
  EXPECT_NE(errors[0].find(expected), std::string::npos)
      << "expected '" << expected << "' in: " << errors[0];
  return errors[0];
}

TEST_F(RunCommand, BadJobsFailWithOneErrorLineAndLeaveNothing) {
  struct Case {
    std::string name;
    std::string extra;      // job file lines (top level)
    std::string overrides;  // command line
    std::string expected;   // in the error line
  };
  const std::string model = (dir_ / "model").string();
  const std::vector<Case> cases = {
      {"unknown_key", "colour = blue", "", "colour: unknown job key"},
      {"bad_enum", "correction = holm", "", "allowed values: bonferroni | bh"},
      {"bad_number", "", "--batch_size=0", "batch_size: '0' is not valid"},
      {"no_model", "", "--model=" + (dir_ / "nomodel").string(), "nomodel"},
      {"no_corpus", "", "--corpus=" + (dir_ / "nocorpus").string() + "/*.txt", "nocorpus"},
      {"bad_layers", "layers = 0-7", "", "layer 7 does not exist"},
      {"bad_hook", "hooks = mlp.hook_nope", "", "mlp.hook_nope"},
      {"duplicate_word", "", "--contrast.group_b=can,not", "word 'not' is listed twice"},
      {"too_long", "", "--contrast.context_before=80", "exceed the model's 64 positions"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path file = job(c.name, c.extra);
    const CommandResult r = run(0, file.string() + " " + c.overrides, c.name);
    EXPECT_EQ(r.code, 1) << r.output;
    the_error_line(r, c.expected);
    expect_nothing_left(c.name);
  }
  // No job at all.
  const CommandResult none = run(0, "", "nothing");
  EXPECT_EQ(none.code, 1) << none.output;
  the_error_line(none, "no job file given");
}

TEST_F(RunCommand, ErrorsArePrintedOnceOnSeveralRanks) {
  const fs::path file = job("two_ranks_error", "correction = holm");
  const CommandResult r = run(2, file.string(), "two_ranks_error");
  EXPECT_NE(r.code, 0) << r.output;
  the_error_line(r, "'holm' is not allowed");
  expect_nothing_left("two_ranks_error");
  // A failure found while planning (after the output is locked), on two ranks.
  const fs::path dup = job("two_ranks_dup", "");
  const CommandResult d = run(2, dup.string() + " --contrast.group_b=not", "two_ranks_dup");
  EXPECT_NE(d.code, 0) << d.output;
  the_error_line(d, "listed twice");
  expect_nothing_left("two_ranks_dup");
}

TEST_F(RunCommand, ExistingOutputRefusedBeforeAnyCompute) {
  const fs::path file = job("existing");
  const fs::path out = dir_ / "out" / "existing.h5";
  write_text(out, "precious");
  const CommandResult r = run(0, file.string(), "existing");
  EXPECT_EQ(r.code, 1) << r.output;
  the_error_line(r, "output file already exists (fix: pass --overwrite");
  EXPECT_EQ(read_text(out), "precious");
  EXPECT_EQ(r.output.find("contrast study"), std::string::npos) << "computed anyway:\n" << r.output;
  EXPECT_TRUE(files_starting_with(dir_ / "out", ".existing.h5").empty());

  const CommandResult again = run(0, file.string() + " --overwrite", "existing");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(read_text(out).substr(1, 3), "HDF");  // replaced by an HDF5 file
  EXPECT_EQ(io::H5File::open_read_only(out).string_attribute("/", "study"), "contrast");
  EXPECT_TRUE(files_starting_with(dir_ / "out", ".existing.h5").empty());
}

TEST_F(RunCommand, MissingOutputDirectoryRefusedBeforeAnyCompute) {
  const fs::path out = dir_ / "no_such_dir" / "x.h5";
  const fs::path file = job("missing_dir", "", out.string());
  const CommandResult r = run(0, file.string(), "missing_dir");
  EXPECT_EQ(r.code, 1) << r.output;
  const std::string line = the_error_line(r, "does not exist");
  EXPECT_NE(line.find("mkdir -p"), std::string::npos) << line;
  EXPECT_EQ(r.output.find("contrast study"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "no_such_dir"));
}

TEST_F(RunCommand, DryRunPrintsThePlanAndWritesNothing) {
  const fs::path file = job("dry");
  const CommandResult r = run(0, file.string() + " --dry-run", "dry");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const std::string part :
       {"plan for study 'contrast'", "  model ", "2 layers, d_model 32, d_mlp 64",
        "  documents    6 (", "  windows ", "of 11 tokens", "  samples ",
        "group a: ", "group b: ", "  site         mlp.hook_pre: 2 layers x 64 = 128 neurons",
        "  ranks        1 (", "  compute      fp32; weights loaded by memory-mapping",
        "  memory/rank  ~", "  output ", "dry.h5"}) {
    EXPECT_NE(r.output.find(part), std::string::npos) << "missing '" << part << "' in\n"
                                                      << r.output;
  }
  expect_nothing_left("dry");
  // compute = bf16 adds the private bf16 copy of the block weights to the estimate.
  const CommandResult bf16 =
      run(0, file.string() + " --dry-run --compute=bf16 --model_load=broadcast", "dry_bf16");
  if (bf16.code == 0) {
    EXPECT_NE(bf16.output.find("  compute      bf16 weight GEMMs"), std::string::npos)
        << bf16.output;
    EXPECT_NE(bf16.output.find("broadcast to one rank per node"), std::string::npos) << bf16.output;
    EXPECT_NE(bf16.output.find(" + bf16 copy "), std::string::npos) << bf16.output;
  } else {  // a CPU without AVX512_BF16
    EXPECT_NE(bf16.output.find("compute: bf16 needs a CPU with AVX-512 BF16"), std::string::npos)
        << bf16.output;
  }
  // The plan does not depend on the rank count; the rank line does.
  const CommandResult two = run(2, file.string() + " --dry-run", "dry2");
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_NE(two.output.find("  ranks        2 ("), std::string::npos) << two.output;
  auto line_with = [](const std::string& text, const std::string& key) {
    for (const std::string& l : lines_of(text)) {
      if (l.rfind(key, 0) == 0) return l;
    }
    return std::string();
  };
  EXPECT_EQ(line_with(r.output, "  windows"), line_with(two.output, "  windows"));
  EXPECT_EQ(line_with(r.output, "  samples"), line_with(two.output, "  samples"));
  EXPECT_FALSE(line_with(r.output, "  windows").empty());
  expect_nothing_left("dry");
  // A dry run ignores an existing output (it writes nothing).
  write_text(dir_ / "out" / "dry.h5", "x");
  EXPECT_EQ(run(0, file.string() + " --dry-run", "dry3").code, 0);
  EXPECT_EQ(read_text(dir_ / "out" / "dry.h5"), "x");
  fs::remove(dir_ / "out" / "dry.h5");
}

TEST_F(RunCommand, GroupThatNeverOccursIsAClearError) {
  const fs::path file = job("empty_group", "", "");
  const CommandResult r = run(0, file.string() + " --contrast.group_b=zebra", "empty_group");
  EXPECT_EQ(r.code, 1) << r.output;
  const std::string line =
      the_error_line(r, "contrast.group_b: only 0 target(s) found in 6 documents (");
  EXPECT_NE(line.find("a test needs 2 or more"), std::string::npos) << line;
  expect_nothing_left("empty_group");
}

// Welch's t from samples, in plain double arithmetic (two-pass means and variances).
struct Welch {
  double mean_a, mean_b, t, df;
};
Welch welch(const std::vector<double>& a, const std::vector<double>& b) {
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  auto var = [](const std::vector<double>& v, double m) {
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return s / static_cast<double>(v.size() - 1);
  };
  const double ma = mean(a), mb = mean(b);
  const double qa = var(a, ma) / static_cast<double>(a.size());
  const double qb = var(b, mb) / static_cast<double>(b.size());
  const double df =
      (qa + qb) * (qa + qb) /
      (qa * qa / static_cast<double>(a.size() - 1) + qb * qb / static_cast<double>(b.size() - 1));
  return {ma, mb, (ma - mb) / std::sqrt(qa + qb), df};
}

TEST_F(RunCommand, ResultsFileLayoutAndIndependentWelch) {
  const fs::path file = job("layout", "save_samples = true");
  const CommandResult r = run(0, file.string(), "layout");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote "), std::string::npos) << r.output;
  const io::H5File f = io::H5File::open_read_only(dir_ / "out" / "layout.h5");

  // Root attributes.
  EXPECT_NE(f.string_attribute("/", "job").find("study = contrast"), std::string::npos);
  EXPECT_EQ(f.string_attribute("/", "job_file"), file.string());
  EXPECT_EQ(f.string_attribute("/", "study"), "contrast");
  EXPECT_EQ(f.string_attribute("/", "test"), "welch");
  EXPECT_EQ(f.string_attribute("/", "model"), fs::absolute(dir_ / "model").string());
  EXPECT_EQ(f.string_attribute("/", "model_type"), "gpt2");
  EXPECT_EQ(f.number_attribute("/", "n_ranks"), 1.0);
  EXPECT_GT(f.number_attribute("/", "wall_time"), 0.0);
  EXPECT_FALSE(f.string_attribute("/", "version").empty());
  EXPECT_FALSE(f.string_attribute("/", "created").empty());
  EXPECT_EQ(f.string_attribute("/", "tokenizer").rfind("GPT-2 byte-level BPE", 0), 0u);
  EXPECT_EQ(f.number_attribute("/", "adds_bos"), 0.0);  // GPT-2: no BOS
  EXPECT_EQ(f.number_attribute("/", "bos_token_id"), -1.0);
  EXPECT_EQ(f.string_attribute("/", "correction"), "bonferroni");
  EXPECT_EQ(f.number_attribute("/", "alpha"), 0.05);
  EXPECT_EQ(f.number_attribute("/", "family_size"), 128.0);
  EXPECT_DOUBLE_EQ(f.number_attribute("/", "threshold"), 0.05 / 128);
  for (const char* a : {"time_load", "time_plan", "time_forward", "time_reduce", "time_write"}) {
    EXPECT_TRUE(f.has_attribute("/", a)) << a;
  }
  const double n_windows = f.number_attribute("/", "n_windows");
  const double n_samples = f.number_attribute("/", "n_samples");
  EXPECT_EQ(n_windows, n_samples);  // contrast: one target per window
  // The forward pass stops at the target (index context_before = 8): 9 tokens per window.
  EXPECT_EQ(f.number_attribute("/", "tokens_processed"), 9 * n_windows);
  EXPECT_GE(f.number_attribute("/", "corpus_tokens"), n_windows);

  // Per-site datasets [n_layers, width] with dimension scales.
  const std::string g = "/mlp.hook_pre";
  EXPECT_EQ(f.number_attribute(g, "width"), 64.0);
  EXPECT_EQ(f.number_attribute(g, "n_layers"), 2.0);
  EXPECT_EQ(f.open_dataset(g + "/layer").read_i64(), (std::vector<int64_t>{0, 1}));
  const std::vector<int64_t> neurons = f.open_dataset(g + "/neuron").read_i64();
  ASSERT_EQ(neurons.size(), 64u);
  EXPECT_EQ(neurons[63], 63);
  const io::H5Dataset layer_scale = f.open_dataset(g + "/layer");
  const io::H5Dataset neuron_scale = f.open_dataset(g + "/neuron");
  EXPECT_GT(H5DSis_scale(layer_scale.id()), 0);
  EXPECT_GT(H5DSis_scale(neuron_scale.id()), 0);
  for (const char* name : {"t", "df", "p", "mean_a", "mean_b", "sd_a", "sd_b", "cohens_d",
                           "hedges_g", "flags", "p_adjusted", "significant"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(f.exists(g + "/" + name));
    const io::H5Dataset d = f.open_dataset(g + "/" + name);
    EXPECT_EQ(d.dims(), (std::vector<hsize_t>{2, 64}));
    EXPECT_GT(H5DSis_attached(d.id(), layer_scale.id(), 0), 0);
    EXPECT_GT(H5DSis_attached(d.id(), neuron_scale.id(), 1), 0);
  }
  // Group counts.
  const std::vector<int64_t> labels = f.open_dataset("/samples/label").read_i64();
  int64_t n_a = 0, n_b = 0;
  for (int64_t l : labels) (l == 0 ? n_a : n_b) += 1;
  EXPECT_EQ(f.number_attribute(g, "n_a"), static_cast<double>(n_a));
  EXPECT_EQ(f.number_attribute(g, "n_b"), static_cast<double>(n_b));
  EXPECT_GT(n_a, 10);
  EXPECT_GT(n_b, 10);
  EXPECT_TRUE(f.has_attribute(g, "n_significant"));

  // /contrast.
  EXPECT_EQ(f.read_strings("/contrast/word"), (std::vector<std::string>{"not", "can"}));
  EXPECT_EQ(f.open_dataset("/contrast/count").read_i64(), (std::vector<int64_t>{n_a, n_b}));
  EXPECT_EQ(f.open_dataset("/contrast/label").read_i64(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(f.number_attribute("/contrast", "context_before"), 8.0);
  EXPECT_EQ(f.number_attribute("/contrast", "context_after"), 2.0);
  // /run.
  const std::vector<double> rss = f.open_dataset("/run/peak_rss_bytes").read_f64();
  ASSERT_EQ(rss.size(), 1u);
  EXPECT_GT(rss[0], 1e6);

  // /samples.
  const io::H5Dataset acts = f.open_dataset("/samples/mlp.hook_pre");
  ASSERT_EQ(acts.dims(), (std::vector<hsize_t>{labels.size(), 2, 64}));
  EXPECT_EQ(static_cast<double>(labels.size()), n_samples);
  for (const char* name : {"label", "pair_id", "token_id", "window_id", "position"}) {
    EXPECT_EQ(f.open_dataset(std::string("/samples/") + name).dims(),
              (std::vector<hsize_t>{labels.size()}))
        << name;
  }
  const std::vector<int64_t> tokens = f.open_dataset("/samples/token_id").read_i64();
  const std::vector<int64_t> positions = f.open_dataset("/samples/position").read_i64();
  const std::vector<int64_t> windows = f.open_dataset("/samples/window_id").read_i64();
  const std::vector<int64_t> pairs = f.open_dataset("/samples/pair_id").read_i64();
  for (size_t i = 0; i < labels.size(); ++i) {
    // GPT-2 ids: " not" = 407, " can" = 460.
    ASSERT_EQ(tokens[i], labels[i] == 0 ? 407 : 460) << "sample " << i;
    ASSERT_EQ(positions[i], 8) << "sample " << i;
    ASSERT_EQ(windows[i], static_cast<int64_t>(i)) << "sample " << i;
    ASSERT_EQ(pairs[i], -1) << "sample " << i;
  }

  // Independent Welch t-tests from /samples for every neuron: t, df, means; sign: t > 0 when
  // group a's mean is higher.
  const std::vector<float> x = acts.read_f32();
  const std::vector<double> t = f.open_dataset(g + "/t").read_f64();
  const std::vector<double> df = f.open_dataset(g + "/df").read_f64();
  const std::vector<double> mean_a = f.open_dataset(g + "/mean_a").read_f64();
  const std::vector<double> mean_b = f.open_dataset(g + "/mean_b").read_f64();
  const std::vector<double> p = f.open_dataset(g + "/p").read_f64();
  const std::vector<double> p_adj = f.open_dataset(g + "/p_adjusted").read_f64();
  const std::vector<double> sig = f.open_dataset(g + "/significant").read_f64();
  int bad = 0, checked = 0;
  for (size_t k = 0; k < 128; ++k) {
    std::vector<double> a, b;
    for (size_t i = 0; i < labels.size(); ++i) {
      (labels[i] == 0 ? a : b).push_back(static_cast<double>(x[i * 128 + k]));
    }
    const Welch w = welch(a, b);
    const bool ok = close_rel(w.t, t[k], 1e-9) && close_rel(w.df, df[k], 1e-9) &&
                    close_rel(w.mean_a, mean_a[k], 1e-9) && close_rel(w.mean_b, mean_b[k], 1e-9) &&
                    ((t[k] > 0) == (mean_a[k] > mean_b[k]));
    if (!ok && ++bad <= 5) {
      ADD_FAILURE() << "neuron " << k << ": t " << t[k] << " vs " << w.t << ", df " << df[k]
                    << " vs " << w.df << ", mean_a " << mean_a[k] << " vs " << w.mean_a
                    << ", mean_b " << mean_b[k] << " vs " << w.mean_b;
    }
    ++checked;
    // Bonferroni over the family of 128 tests.
    EXPECT_DOUBLE_EQ(p_adj[k], std::min(1.0, p[k] * 128)) << k;
    EXPECT_EQ(sig[k], p_adj[k] <= 0.05 ? 1.0 : 0.0) << k;
  }
  EXPECT_EQ(bad, 0) << bad << " of " << checked << " neurons differ";
}

}  // namespace

namespace {

// Largest |a - b| / max(1, |b|) over a dataset of two results files.
double max_rel_difference(const io::H5File& a, const io::H5File& b, const std::string& path) {
  const std::vector<double> x = a.open_dataset(path).read_f64();
  const std::vector<double> y = b.open_dataset(path).read_f64();
  EXPECT_EQ(x.size(), y.size()) << path;
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]) / std::max(1.0, std::abs(y[i])));
  }
  return worst;
}

}  // namespace

TEST_F(RunCommand, BroadcastLoadGivesTheMmapResultsBitwise) {
  const CommandResult mm = run(2, job("load_mmap").string(), "load_mmap");
  ASSERT_EQ(mm.code, 0) << mm.output;
  const CommandResult bc =
      run(2, job("load_bcast", "model_load = broadcast").string(), "load_bcast");
  ASSERT_EQ(bc.code, 0) << bc.output;
  const io::H5File a = io::H5File::open_read_only(dir_ / "out" / "load_bcast.h5");
  const io::H5File b = io::H5File::open_read_only(dir_ / "out" / "load_mmap.h5");
  EXPECT_EQ(a.string_attribute("/", "model_load"), "broadcast");
  EXPECT_EQ(b.string_attribute("/", "model_load"), "mmap");
  for (const char* name : {"t", "p", "mean_a", "mean_b", "sd_a", "sd_b"}) {
    EXPECT_EQ(max_rel_difference(a, b, std::string("/mlp.hook_pre/") + name), 0.0) << name;
  }
}

TEST_F(RunCommand, Bf16ComputeIsCloseToFp32OrRefusedWithoutAvx512Bf16) {
  const fs::path file = job("bf16", "compute = bf16");
  const CommandResult r = run(0, file.string(), "bf16");
  if (!model::bf16_compute_supported()) {
    EXPECT_NE(r.code, 0);
    the_error_line(r, "compute: bf16 needs a CPU with AVX-512 BF16");
    expect_nothing_left("bf16");
    return;
  }
  ASSERT_EQ(r.code, 0) << r.output;
  const CommandResult ref = run(0, job("fp32").string(), "fp32");
  ASSERT_EQ(ref.code, 0) << ref.output;
  const io::H5File a = io::H5File::open_read_only(dir_ / "out" / "bf16.h5");
  const io::H5File b = io::H5File::open_read_only(dir_ / "out" / "fp32.h5");
  EXPECT_EQ(a.string_attribute("/", "compute"), "bf16");
  EXPECT_EQ(b.string_attribute("/", "compute"), "fp32");
  // Group means move by bf16 rounding only (8 significant bits on the GEMM inputs). Not bitwise:
  // the bf16 path must actually be taken.
  const double mean_diff = max_rel_difference(a, b, "/mlp.hook_pre/mean_a");
  EXPECT_GT(mean_diff, 0.0);
  EXPECT_LT(mean_diff, 0.05);
  // t moves by a small fraction of the largest |t|, and the strongest neuron stays the same.
  const std::vector<double> ta = a.open_dataset("/mlp.hook_pre/t").read_f64();
  const std::vector<double> tb = b.open_dataset("/mlp.hook_pre/t").read_f64();
  ASSERT_EQ(ta.size(), tb.size());
  double largest = 0, moved = 0;
  size_t top_a = 0, top_b = 0;
  for (size_t i = 0; i < tb.size(); ++i) {
    largest = std::max(largest, std::abs(tb[i]));
    moved = std::max(moved, std::abs(ta[i] - tb[i]));
    if (std::abs(ta[i]) > std::abs(ta[top_a])) top_a = i;
    if (std::abs(tb[i]) > std::abs(tb[top_b])) top_b = i;
  }
  EXPECT_LT(moved, 0.05 * largest) << "largest |t| " << largest;
  EXPECT_EQ(top_a, top_b);
}
