// neurolens run on 1, 2, 3 and 4 ranks (mpirun, oversubscribed): the same contrast job gives the
// same samples (bitwise: every window is computed in the same global batch) and the same
// statistics (within 1e-9 relative: only the order of the moment merges differs), and the
// results file written collectively by K ranks through MPI-IO holds every rank's neuron slice.
// (tests/io/hdf5_mpi_test.cpp checks the collective hyperslab writes of io/hdf5 themselves.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;
using namespace neurolens::test;

namespace {

TEST(RunRanks, SameResultsOnOneToFourRanks) {
  const fs::path dir = fresh_dir("run_ranks");
  write_tiny_model(dir / "model");
  write_corpus(dir / "corpus", 9, 30);
  const std::vector<std::string> sites = {"mlp.hook_pre", "hook_resid_post"};
  std::vector<fs::path> outputs;
  for (int ranks = 1; ranks <= 4; ++ranks) {
    const fs::path out = dir / ("ranks" + std::to_string(ranks) + ".h5");
    const fs::path job = dir / ("ranks" + std::to_string(ranks) + ".ini");
    // batch_size 3: batches do not line up with the rank blocks.
    write_text(job, contrast_job(dir / "model", dir / "corpus", out,
                                 "save_samples = true\nhooks = mlp.hook_pre, hook_resid_post\n"
                                 "batch_size = 3\ncorrection = bh"));
    const CommandResult r = run_command(neurolens_command(ranks, "run " + job.string()),
                                        dir / ("ranks" + std::to_string(ranks) + ".log"), 120);
    ASSERT_EQ(r.code, 0) << ranks << " ranks:\n" << r.output;
    std::printf("[ info ] %d rank(s): %.1f s\n", ranks, r.seconds);
    outputs.push_back(out);
  }
  const io::H5File one = io::H5File::open_read_only(outputs[0]);
  const double n_samples = one.number_attribute("/", "n_samples");
  ASSERT_GT(n_samples, 40.0);
  for (int ranks = 1; ranks <= 4; ++ranks) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    const io::H5File f = io::H5File::open_read_only(outputs[static_cast<size_t>(ranks - 1)]);
    EXPECT_EQ(f.number_attribute("/", "n_ranks"), static_cast<double>(ranks));
    EXPECT_EQ(f.open_dataset("/run/peak_rss_bytes").dims(),
              (std::vector<hsize_t>{static_cast<hsize_t>(ranks)}));
    for (const char* a : {"n_samples", "n_windows", "corpus_tokens", "tokens_processed",
                          "family_size", "threshold"}) {
      EXPECT_EQ(f.number_attribute("/", a), one.number_attribute("/", a)) << a;
    }
    std::ostringstream report;
    size_t bad = 0;
    // The plan and the activations: bitwise.
    for (const char* d : {"label", "token_id", "window_id", "position", "pair_id"}) {
      bad += compare_dataset(one, f, std::string("/samples/") + d, 0.0, report);
    }
    bad += compare_dataset(one, f, "/contrast/count", 0.0, report);
    for (const std::string& site : sites) {
      bad += compare_dataset(one, f, "/samples/" + site, 0.0, report);
      for (const char* n : {"n_a", "n_b", "n_significant"}) {
        EXPECT_EQ(f.number_attribute("/" + site, n), one.number_attribute("/" + site, n))
            << site << n;
      }
      // Statistics: within 1e-9 relative; flags and decisions exactly.
      for (const char* d : {"t", "df", "p", "p_adjusted", "mean_a", "mean_b", "sd_a", "sd_b",
                            "cohens_d", "hedges_g"}) {
        bad += compare_dataset(one, f, "/" + site + "/" + d, 1e-9, report);
      }
      for (const char* d : {"flags", "significant", "layer", "neuron"}) {
        bad += compare_dataset(one, f, "/" + site + "/" + d, 0.0, report);
      }
      // Every rank's neuron slice is present: no element of a per-neuron dataset was left at
      // the fill value 0 (a missing slice would read as zeros).
      const std::vector<double> mean_a = f.open_dataset("/" + site + "/mean_a").read_f64();
      const std::vector<double> sd_b = f.open_dataset("/" + site + "/sd_b").read_f64();
      size_t zeros = 0;
      for (size_t k = 0; k < mean_a.size(); ++k) zeros += (mean_a[k] == 0.0 || sd_b[k] == 0.0);
      EXPECT_EQ(zeros, 0u) << site << ": neurons at the fill value";
    }
    EXPECT_EQ(bad, 0u) << report.str();
  }
  fs::remove_all(dir);
}

}  // namespace
