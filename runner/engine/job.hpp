// Job — one `neurolens run` job: what to study, on which model, corpus, hook sites and layers,
// with which statistics, written where.
// Owns: the parsed job every layer of a run reads (engine, studies, results). Parsing it (the
// key schema, job files, command-line overrides, validation) is runner/cli/job_file.hpp's.
// docs/jobs.md documents every key.
// Example (job.ini):
//   study = contrast
//   model = /data/gpt2-large
//   corpus = /data/pkd/*.txt
//   hooks = mlp.hook_pre
//   layers = all
//   output = negation.h5
//   [contrast]
//   group_a = not, never, cannot
//   group_b = can, will, may
// Job job = parse_job("job.ini", {"--seed=3", "--contrast.context_before=50"});  //
// cli/job_file.hpp
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace neurolens::runner {

enum class TestKind { Welch, Student, Paired, Logistic };
enum class CorpusFormat { Auto, Text, JsonLines, Brown };
enum class Correction { Bonferroni, BenjaminiHochberg };
enum class ModelLoad { Mmap, Broadcast };
enum class Compute { Fp32, Bf16 };

// The values of the study sections' keys, by full key ("contrast.group_a" -> "not, never, ..."):
// every registered study's keys (not only the chosen study's), each already checked against its
// KeySpec (runner/studies/registry.hpp) when the job was parsed. A study reads its own keys,
// typed, into its own options struct (runner/studies/study_<name>.cpp).
class StudyOptions {
 public:
  StudyOptions() = default;
  explicit StudyOptions(std::map<std::string, std::string> values) : values_(std::move(values)) {}
  // Throws neurolens::Error when `key` is not a registered study key.
  const std::string& text(const std::string& key) const;
  int integer(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::vector<std::string> words(const std::string& key) const;  // comma-separated, trimmed
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

struct Job {
  std::filesystem::path file;  // the job file ("" when given only on the command line)
  std::string text;            // the effective job: every key = value, after overrides

  std::string study;  // a registered study name (runner/studies/registry.hpp)
  std::filesystem::path model;
  std::string corpus;  // file, directory or glob
  CorpusFormat corpus_format = CorpusFormat::Auto;
  std::filesystem::path output;
  std::vector<std::string> sites;  // layer-generic hook sites: mlp.hook_pre, hook_resid_post...
  std::string layers = "all";      // "all", "3", "0-5", "0,2,4"
  TestKind test = TestKind::Welch;
  bool test_given = false;
  bool save_samples = false;
  uint64_t seed = 0;
  int batch_size = 16;  // sequences per forward pass
  double alpha = 0.05;
  Correction correction = Correction::Bonferroni;
  int64_t max_tokens = 0;            // 0: the whole corpus
  double checkpoint_every = 300;     // seconds between saved partial statistics (0: never)
  std::filesystem::path checkpoint;  // default: output + ".ckpt"
  ModelLoad model_load = ModelLoad::Mmap;
  Compute compute = Compute::Fp32;

  bool overwrite = false;
  bool resume = false;
  bool dry_run = false;

  StudyOptions options;  // the [<study>] sections' keys
};

std::string test_name(TestKind kind);

}  // namespace neurolens::runner
