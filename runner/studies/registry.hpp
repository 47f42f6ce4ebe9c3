// Study registry — everything the rest of the runner knows about a study, declared next to its
// code: the name (`study = <name>`), the `[<name>]` section's keys with defaults, help and
// checks, the tests it allows and its default test, whether it reads a corpus, and its factory.
// Owns: the list of registered studies, in one explicit place (registry.cpp) and in a fixed
// order: that order is the order of the sections in the effective job text (hashed by the
// resume state, written to the results file), in `neurolens run --help` and in docs/jobs.md.
// An explicit list rather than self-registering static objects: the order stays fixed, and a
// static library cannot drop a study whose object file nothing else references.
// Adding a study: docs/architecture.md, "Adding a study".
// Example (runner/studies/study_<name>.cpp):
//   const StudySpec& my_study_spec() {
//     static const StudySpec spec{.name = "mine", .summary = "...",
//         .keys = {{.name = "seq_len", .default_value = "256", .help = "tokens per sequence",
//                   .type = KeyType::Integer, .min = 1, .max = 1 << 20}},
//         .tests = {TestKind::Welch}, .make = [] { return std::make_unique<MyStudy>(); }};
//     return spec;
//   }
//   const StudySpec& spec = study_spec(job.study);  std::unique_ptr<Study> s = spec.make();
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runner/engine/job.hpp"

namespace neurolens::runner {

class Study;

// How a key's value is checked when the job is parsed (StudyOptions reads it back typed).
enum class KeyType { Text, Words, Integer, Boolean, Choice };

struct KeySpec {
  std::string name = {};           // "group_a" (in its study's section), "seed" (top level)
  std::string default_value = {};  // "" = no default
  std::string help = {};
  KeyType type = KeyType::Text;
  int64_t min = 0, max = 0;               // Integer: allowed range
  std::vector<std::string> choices = {};  // Choice: allowed values
  // Further checks of the value, throwing neurolens::Error on `where` ("job.ini: paired.pairs").
  std::function<void(const std::string& value, const std::string& where)> check = {};
};

// An Integer key in [min, max].
inline KeySpec integer_key(const char* name, const char* default_value, const char* help,
                           int64_t min, int64_t max) {
  return {.name = name,
          .default_value = default_value,
          .help = help,
          .type = KeyType::Integer,
          .min = min,
          .max = max};
}

// `where(key)` names a full key ("contrast.group_a") for errors, with the job file when there is
// one.
using KeyContext = std::function<std::string(const std::string& key)>;

struct StudySpec {
  std::string name = {};             // study = <name>; section [<name>]; results group /<name>
  std::string summary = {};          // one line for --help
  std::vector<KeySpec> keys = {};    // the [<name>] section, in help / job-text order
  std::vector<TestKind> tests = {};  // allowed; empty: runs no test (root attribute test = none)
  TestKind default_test = TestKind::Welch;
  std::string refuses_test = {};   // why other tests are refused: "a <name> study <refuses_test>"
  bool needs_corpus = true;        // `corpus` is required
  std::string default_hooks = {};  // the `hooks` default for this study ("": the shared one)
  // Checks of the whole job once every key is valid (e.g. non-empty word lists).
  std::function<void(const Job& job, const KeyContext& where)> check_job = {};
  std::function<std::unique_ptr<Study>()> make = {};
};

// Every registered study, in registry order.
const std::vector<const StudySpec*>& registered_studies();
// The study named `name`, or nullptr.
const StudySpec* find_study(const std::string& name);
// The study named `name`; throws neurolens::Error on `study` with the registered names.
const StudySpec& study_spec(const std::string& name);
// "contrast | paired | ..." in registry order.
std::string study_names();
// The root attribute `test` of a results file: the test's name, or "none" for a study without.
std::string test_attribute(const Job& job);

}  // namespace neurolens::runner
