// neurolens run under faults (subprocesses under mpirun, oversubscribed):
//  - one rank killed (SIGKILL) mid-run: the whole job ends within seconds, non-zero, and no
//    file appears at the output path;
//  - SIGTERM to every rank: the run checkpoints, says how to resume and exits 143; resuming with
//    another rank count, a modified job, a truncated / corrupt checkpoint file or a corrupt
//    manifest is refused with an error naming the problem (and the file); resuming properly
//    gives the same results as an uninterrupted run;
//  - two jobs writing the same output at once: the second refuses; a stale lock file left by a
//    killed job does not block later runs.
// Timing: every wait is a bounded polling loop with a generous but finite timeout.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "io/hdf5.hpp"
#include "tests/runner/run_test_util.hpp"

namespace fs = std::filesystem;
using namespace neurolens;
using namespace neurolens::test;

namespace {

// Marker printed by rank 0 just before the batches start (after the stop handlers' setup
// point is reached on every rank within milliseconds: the plan is collective).
const char* kComputing = "neurolens: contrast study, ";

class RunFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fresh_dir("run_faults");
    // Big enough that a 2-3 rank run takes several seconds even on two idle cores (about
    // 1.5 M tokens through the forward pass), so the signals always arrive mid-run.
    write_tiny_model(dir_ / "model", 4, 64, 256, 128, 3);
    write_corpus(dir_ / "corpus", 24, 1000, 5);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static fs::path job(const std::string& name, const std::string& extra = "") {
    const fs::path file = dir_ / (name + ".ini");
    write_text(file, contrast_job(dir_ / "model", dir_ / "corpus", out(name),
                                  "checkpoint_every = 0\nbatch_size = 2\n" + extra, 100, 2));
    return file;
  }
  static fs::path out(const std::string& name) { return dir_ / (name + ".h5"); }
  static CommandResult run(int ranks, const std::string& args, const std::string& log) {
    return run_command(neurolens_command(ranks, "run " + args), dir_ / (log + ".log"), 180);
  }
  static void send(const std::map<int, pid_t>& pids, int sig) {
    for (const auto& [rank, pid] : pids) ::kill(pid, sig);
  }
  static fs::path dir_;
};
fs::path RunFaults::dir_;

TEST_F(RunFaults, KilledRankEndsTheWholeJobWithoutOutput) {
  const std::string name = "killed_" + std::to_string(::getpid());
  const fs::path file = job(name);
  Background b(neurolens_command(3, "run " + file.string()), dir_ / (name + ".log"));
  ASSERT_TRUE(b.wait_for_output(kComputing, 90)) << b.output();
  const std::map<int, pid_t> pids = wait_for_ranks(name, 3, 10);
  ASSERT_EQ(pids.size(), 3u) << b.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_FALSE(b.wait(0)) << "finished before the kill; make the job longer\n" << b.output();
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pids.at(1), SIGKILL), 0);
  const bool ended = b.wait(30);
  const double after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  ASSERT_TRUE(ended) << "job still running 30 s after a rank was killed\n" << b.output();
  std::printf("[ info ] job ended %.1f s after rank 1 was killed (exit %d)\n", after, b.code());
  EXPECT_LT(after, 10.0) << b.output();
  EXPECT_NE(b.code(), 0) << b.output();
  EXPECT_FALSE(fs::exists(out(name))) << "a file appeared at the output path";
  EXPECT_TRUE(files_starting_with(dir_, "." + name + ".h5.partial").empty());
  // No rank survives.
  std::map<int, pid_t> left;
  for (int i = 0; i < 100; ++i) {
    left = rank_pids(name);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(left.empty()) << left.size() << " rank(s) still running";
  send(left, SIGKILL);
}

TEST_F(RunFaults, StopAtCheckpointThenResumeEqualsUninterrupted) {
  // The uninterrupted reference (a different output, hence a different job hash).
  const fs::path ref_job = job("reference");
  const CommandResult ref = run(2, ref_job.string(), "reference");
  ASSERT_EQ(ref.code, 0) << ref.output;
  std::printf("[ info ] uninterrupted run: %.1f s\n", ref.seconds);

  // SIGTERM to every rank, as a batch system does at the end of a job's time.
  const std::string name = "stopped_" + std::to_string(::getpid());
  const fs::path file = job(name);
  const fs::path ckpt = dir_ / (name + ".h5.ckpt");
  {
    Background b(neurolens_command(2, "run " + file.string()), dir_ / (name + ".log"));
    ASSERT_TRUE(b.wait_for_output(kComputing, 90)) << b.output();
    const std::map<int, pid_t> pids = wait_for_ranks(name, 2, 10);
    ASSERT_EQ(pids.size(), 2u) << b.output();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_FALSE(b.wait(0)) << "finished before SIGTERM; make the job longer\n" << b.output();
    send(pids, SIGTERM);
    ASSERT_TRUE(b.wait(60)) << "no stop within 60 s of SIGTERM\n" << b.output();
    EXPECT_EQ(b.code(), 143) << b.output();
    EXPECT_NE(b.output().find("partial statistics saved; rerun the same command with --resume"),
              std::string::npos)
        << b.output();
  }
  EXPECT_FALSE(fs::exists(out(name)));
  EXPECT_TRUE(files_starting_with(dir_, "." + name + ".h5.partial").empty());
  ASSERT_TRUE(fs::exists(ckpt / "latest")) << "no checkpoint manifest";
  const std::vector<std::string> rank0 = files_starting_with(ckpt, "rank-0.gen-");
  const std::vector<std::string> rank1 = files_starting_with(ckpt, "rank-1.gen-");
  ASSERT_EQ(rank0.size(), 1u) << join(rank0);
  ASSERT_EQ(rank1.size(), 1u) << join(rank1);
  const fs::path saved = dir_ / (name + ".saved");
  fs::copy(ckpt, saved, fs::copy_options::recursive);
  auto restore = [&] {
    fs::remove_all(ckpt);
    fs::copy(saved, ckpt, fs::copy_options::recursive);
  };
  auto refused = [&](int ranks, const std::string& args, const std::vector<std::string>& parts) {
    const CommandResult r = run(ranks, file.string() + " --resume " + args, name + "_refused");
    EXPECT_EQ(r.code, 1) << r.output;
    for (const std::string& p : parts) {
      EXPECT_NE(r.output.find(p), std::string::npos) << "expected '" << p << "' in\n" << r.output;
    }
    EXPECT_NE(r.output.find("neurolens: error: "), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out(name)));
    EXPECT_TRUE(fs::exists(ckpt / "latest")) << "a refused resume removed the checkpoint";
  };

  // (c) Another rank count, a modified job.
  refused(1, "", {"the checkpoint was written by 2 ranks, this run has 1", "mpirun -n 2"});
  refused(3, "", {"written by 2 ranks, this run has 3"});
  refused(2, "--seed=9", {"the checkpoint belongs to a different job"});
  refused(2, "--contrast.context_after=3", {"belongs to a different job"});
  // (d) A truncated rank file, a corrupt one, a corrupt manifest.
  const fs::path f1 = ckpt / rank1[0];
  fs::resize_file(f1, fs::file_size(f1) - 8);
  refused(2, "", {f1.string(), "checkpoint file is truncated"});
  restore();
  const fs::path f0 = ckpt / rank0[0];
  {
    std::fstream io(f0, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(fs::file_size(f0) - 3));
    io.put('\x5a');
  }
  refused(2, "", {f0.string(), "corrupt (checksum mismatch)"});
  restore();
  write_text(f0, "not a checkpoint");
  refused(2, "", {f0.string(), "not a neurolens checkpoint file"});
  restore();
  write_text(ckpt / "latest", "garbage\n");
  refused(2, "", {(ckpt / "latest").string(), "the checkpoint manifest is corrupt"});
  restore();
  // A job that was never interrupted has nothing to resume.
  const CommandResult nothing = run(2, job("never_ran").string() + " --resume", "never_ran");
  EXPECT_EQ(nothing.code, 1) << nothing.output;
  EXPECT_NE(nothing.output.find("no checkpoint to resume from"), std::string::npos)
      << nothing.output;

  // (b) Resume to completion: the same results as the uninterrupted run.
  const CommandResult resumed = run(2, file.string() + " --resume", name + "_resumed");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("neurolens: resuming after batch "), std::string::npos)
      << resumed.output;
  EXPECT_FALSE(fs::exists(ckpt)) << "checkpoint left after a completed run";
  const io::H5File a = io::H5File::open_read_only(out("reference"));
  const io::H5File b = io::H5File::open_read_only(out(name));
  std::ostringstream report;
  size_t bad = 0;
  for (const std::string& d : a.list("/mlp.hook_pre")) {
    bad += compare_dataset(a, b, "/mlp.hook_pre/" + d, 1e-12, report);
  }
  for (const char* d : {"/contrast/count", "/contrast/label"}) {
    bad += compare_dataset(a, b, d, 0.0, report);
  }
  EXPECT_EQ(a.list("/mlp.hook_pre").size(), 14u);
  EXPECT_EQ(bad, 0u) << report.str();
  for (const char* attr : {"n_windows", "n_samples", "corpus_tokens", "threshold", "family_size"}) {
    EXPECT_EQ(a.number_attribute("/", attr), b.number_attribute("/", attr)) << attr;
  }
  for (const char* attr : {"n_a", "n_b", "n_significant"}) {
    EXPECT_EQ(a.number_attribute("/mlp.hook_pre", attr), b.number_attribute("/mlp.hook_pre", attr))
        << attr;
  }
  // The forward tokens of the whole job, not only of the resumed part.
  EXPECT_EQ(a.number_attribute("/", "tokens_processed"),
            b.number_attribute("/", "tokens_processed"))
      << "a resumed run reports only the tokens of its own batches";
  fs::remove_all(saved);
}

TEST_F(RunFaults, SameOutputTwoJobsAtOnce) {
  const std::string name = "shared_" + std::to_string(::getpid());
  const fs::path first = job(name);
  {
    Background b(neurolens_command(0, "run " + first.string()), dir_ / (name + ".log"));
    ASSERT_TRUE(b.wait_for_output(kComputing, 90)) << b.output();
    ASSERT_FALSE(b.wait(0)) << b.output();
    // A second, different job with the same output path.
    const fs::path second = dir_ / (name + "_second.ini");
    write_text(second, contrast_job(dir_ / "model", dir_ / "corpus", out(name), "max_tokens = 3000",
                                    20, 2));
    const CommandResult r = run(0, second.string(), name + "_second");
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("neurolens: error: " + out(name).string() +
                            ": another neurolens job is writing this output right now"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find(kComputing), std::string::npos) << r.output;
    ASSERT_FALSE(b.wait(0)) << "the first job ended early:\n" << b.output();
    // Killed with SIGKILL (no cleanup): a stale lock file may remain.
    ::kill(-b.pid(), SIGKILL);
    ASSERT_TRUE(b.wait(30));
  }
  EXPECT_FALSE(fs::exists(out(name)));
  // The stale lock of the killed job does not block the next one.
  const fs::path second = dir_ / (name + "_second.ini");
  const CommandResult r = run(0, second.string(), name + "_after");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out(name)));
  EXPECT_TRUE(files_starting_with(dir_, "." + name + ".h5").empty())
      << join(files_starting_with(dir_, "." + name + ".h5"));
}

}  // namespace
