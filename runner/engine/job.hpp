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
#include <string>
#include <vector>

namespace neurolens::runner {

enum class StudyKind { Contrast, Paired, Sampling, Length, Logistic };
enum class TestKind { Welch, Student, Paired, Logistic };
enum class CorpusFormat { Auto, Text, JsonLines, Brown };
enum class Correction { Bonferroni, BenjaminiHochberg };
enum class ModelLoad { Mmap, Broadcast };
enum class Compute { Fp32, Bf16 };

struct ContrastOptions {
  std::vector<std::string> group_a;  // words; default: negations
  std::vector<std::string> group_b;  // words; default: affirmations
  int context_before = 90;
  int context_after = 10;
};

struct PairedOptions {
  std::vector<std::pair<std::string, std::string>> pairs;  // (noun, verb)
  std::string mode = "pairs";                              // pairs | corpus
  std::string template_text;  // sentence frame for pairs mode; "{}" is the word
  std::string heatmap_text;   // file: per-token activations of the top neurons
  int context_before = 32;    // corpus mode: tokens of preceding context per word
};

struct SamplingOptions {
  int batch_sequences = 32;
  int seq_len = 256;
  int repetitions = 1000;
  int top_tokens = 10;     // per dimension, the most frequent winning tokens
  int top_contexts = 5;    // per dimension, the highest-activating contexts
  int context_tokens = 8;  // tokens of text either side of a context
};

struct LengthOptions {
  int sequences = 16;
  int seq_len = 512;
  bool count_leading_space = false;
  int bins = 64;
  bool pack = false;  // one token stream across documents (the original), not chunks per document
};

struct LogisticStudyOptions {
  int sequences = 8;
  int seq_len = 256;
  int max_per_group = 220;
  int top_neurons = 10;      // selected on batch 1, scored out of sample on batch 2
  std::string heatmap_text;  // file
};

struct Job {
  std::filesystem::path file;  // the job file ("" when given only on the command line)
  std::string text;            // the effective job: every key = value, after overrides

  StudyKind study = StudyKind::Contrast;
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

  ContrastOptions contrast;
  PairedOptions paired;
  SamplingOptions sampling;
  LengthOptions length;
  LogisticStudyOptions logistic;
};

std::string study_name(StudyKind kind);
std::string test_name(TestKind kind);

}  // namespace neurolens::runner
