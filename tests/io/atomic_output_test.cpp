#include "io/atomic_output.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "io/error.hpp"

namespace fs = std::filesystem;
using neurolens::Error;
using neurolens::io::AtomicOutput;

namespace {
fs::path fresh_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("neurolens_atomic_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
size_t entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}
}  // namespace

TEST(AtomicOutput, TargetAppearsOnlyOnCommit) {
  const fs::path dir = fresh_dir("commit");
  const fs::path target = dir / "r.h5";
  {
    AtomicOutput out(target, false);
    std::ofstream(out.temp_path()) << "data";
    EXPECT_FALSE(fs::exists(target));
    EXPECT_EQ(out.temp_path().parent_path(), dir);
    out.commit();
  }
  EXPECT_TRUE(fs::exists(target));
  EXPECT_EQ(entries(dir), 1u) << "no temporary or lock file is left behind";
}

TEST(AtomicOutput, UnwindLeavesNothing) {
  const fs::path dir = fresh_dir("unwind");
  try {
    AtomicOutput out(dir / "r.h5", false);
    std::ofstream(out.temp_path()) << "half";
    throw std::runtime_error("compute failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(entries(dir), 0u);
}

TEST(AtomicOutput, RefusesExistingTargetWithoutOverwrite) {
  const fs::path dir = fresh_dir("exists");
  std::ofstream(dir / "r.h5") << "old";
  try {
    AtomicOutput out(dir / "r.h5", false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  AtomicOutput again(dir / "r.h5", true);
  std::ofstream(again.temp_path()) << "new";
  again.commit();
  std::ifstream in(dir / "r.h5");
  std::string content;
  in >> content;
  EXPECT_EQ(content, "new");
}

TEST(AtomicOutput, MissingOrReadOnlyDirectoryFailsBeforeAnyWork) {
  EXPECT_THROW(AtomicOutput(fs::path("/nonexistent-neurolens/out.h5"), false), Error);
  const fs::path dir = fresh_dir("readonly");
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() != 0) {  // root ignores directory permissions
    EXPECT_THROW(AtomicOutput(dir / "r.h5", false), Error);
  }
  fs::permissions(dir, fs::perms::owner_all);
}

TEST(AtomicOutput, SecondWriterOfTheSameTargetRefuses) {
  const fs::path dir = fresh_dir("lock");
  AtomicOutput first(dir / "r.h5", false);
  try {
    AtomicOutput second(dir / "r.h5", false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another neurolens job"), std::string::npos) << e.what();
  }
}

TEST(AtomicOutput, LockHolderRemovesTemporariesOfAKilledRun) {
  const fs::path dir = fresh_dir("stale");
  // A temporary left by an earlier run that was killed before it could clean up.
  std::ofstream(dir / ".r.h5.partial-deadbeef") << "half";
  std::ofstream(dir / ".other.h5.partial-deadbeef") << "not ours";
  {
    AtomicOutput out(dir / "r.h5", false);
    EXPECT_FALSE(fs::exists(dir / ".r.h5.partial-deadbeef"));
    EXPECT_TRUE(fs::exists(dir / ".other.h5.partial-deadbeef")) << "another target's file is kept";
  }
}
