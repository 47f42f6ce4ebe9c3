#include "runner/cli/job_file.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "io/error.hpp"
#include "io/text.hpp"
#include "runner/studies/registry.hpp"

namespace neurolens::runner {
namespace po = boost::program_options;

namespace {

// The top-level job keys, in the order docs/jobs.md and `neurolens run --help` list them; the
// study sections' keys follow, from the registry.
const KeySpec kSharedKeys[] = {
    {"study", "", "<registered studies> (required)"},
    {"model", "", "Hugging Face checkpoint directory (required)"},
    {"corpus", "", "text file, directory or glob; JSON Lines (.jsonl); Brown corpus files"},
    {"corpus_format", "auto", "auto | text | jsonl | brown"},
    {"output", "", "results file, .h5 (required)"},
    {"hooks", "mlp.hook_pre",
     "comma-separated layer-generic hook sites (default mlp.hook_pre; examples: "
     "mlp.hook_post; mlp.hook_pre, "
     "hook_resid_post, attn.hook_q, hidden_states, ...)"},
    {"layers", "all", "all | N | A-B | comma-separated list of those"},
    {"test", "", "welch | student | paired | logistic (default: the study's own)"},
    {"save_samples", "false", "also write the per-sample activations the tests used"},
    {"seed", "0", "seed of every random choice (sampling, group balancing)"},
    {"batch_size", "16", "sequences per forward pass"},
    {"alpha", "0.05", "family-wise error rate (Bonferroni) or false discovery rate (BH)"},
    {"correction", "bonferroni", "bonferroni | bh"},
    {"max_tokens", "0", "stop reading the corpus after this many tokens (0: all)"},
    {"checkpoint_every", "300", "seconds between saved partial statistics (0: never)"},
    {"checkpoint", "", "checkpoint file (default: <output>.ckpt)"},
    {"model_load", "mmap",
     "mmap (every rank maps the files) | broadcast (rank 0 reads them once, "
     "MPI_Bcast to one rank per node, node-shared memory)"},
    {"compute", "fp32", "fp32 | bf16 (weight GEMMs in bfloat16 on CPUs with AVX512_BF16)"},
};

// A job key with its full name ("seed", "contrast.group_a") and its spec.
struct FullKey {
  std::string name;
  const KeySpec* spec;
};

// Every job key: the top-level ones, then each registered study's section.
const std::vector<FullKey>& all_keys() {
  static const std::vector<FullKey> keys = [] {
    std::vector<FullKey> out;
    for (const KeySpec& k : kSharedKeys) out.push_back({k.name, &k});
    for (const StudySpec* study : registered_studies()) {
      for (const KeySpec& k : study->keys) out.push_back({study->name + "." + k.name, &k});
    }
    return out;
  }();
  return keys;
}

std::string key_help(const FullKey& k) {
  return k.name == "study" ? study_names() + " (required)" : k.spec->help;
}

po::options_description key_options() {
  po::options_description d("job keys (in the job file, or --key=value / --section.key=value)");
  for (const FullKey& k : all_keys()) {
    d.add_options()(k.name.c_str(), po::value<std::string>(), key_help(k).c_str());
  }
  return d;
}

po::options_description flag_options() {
  po::options_description d("run options");
  d.add_options()("dry-run", "print the plan (documents, windows, tokens, ranks, memory) and exit")(
      "resume", "continue from the checkpoint of an interrupted run")(
      "overwrite", "replace an existing output file")("help,h", "show this help");
  return d;
}

class Values {
 public:
  Values(std::map<std::string, std::string> values, std::string where)
      : values_(std::move(values)), where_(std::move(where)) {}

  const std::string& str(const std::string& key) const { return values_.at(key); }
  std::string context(const std::string& key) const {
    return where_.empty() ? key : where_ + ": " + key;
  }

  template <typename T>
  T number(const std::string& key, T min_value, T max_value) const {
    const std::string& s = str(key);
    T value{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || value < min_value || value > max_value) {
      std::ostringstream range;
      range << "a number from " << min_value << " to " << max_value;
      throw Error(context(key), "'" + s + "' is not valid", "give " + range.str());
    }
    return value;
  }

  bool boolean(const std::string& key) const {
    std::string s = str(key);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
    if (s == "false" || s == "no" || s == "off" || s == "0") return false;
    throw Error(context(key), "'" + str(key) + "' is not a boolean",
                "allowed values: true | false");
  }

  // A study key's value against its spec (KeyType, range, choices, extra check).
  void check(const std::string& key, const KeySpec& spec) const {
    switch (spec.type) {
      case KeyType::Integer:
        number<int64_t>(key, spec.min, spec.max);
        break;
      case KeyType::Boolean:
        boolean(key);
        break;
      case KeyType::Choice: {
        std::vector<std::pair<std::string, int>> allowed;
        for (const std::string& c : spec.choices) allowed.emplace_back(c, 0);
        choice<int>(key, allowed);
        break;
      }
      case KeyType::Text:
      case KeyType::Words:
        break;
    }
    if (spec.check) spec.check(str(key), context(key));
  }

  template <typename E>
  E choice(const std::string& key, const std::vector<std::pair<std::string, E>>& allowed) const {
    const std::string& s = str(key);
    std::string names;
    for (const auto& [name, value] : allowed) {
      if (s == name) return value;
      names += (names.empty() ? "" : " | ") + name;
    }
    throw Error(context(key), "'" + s + "' is not allowed", "allowed values: " + names);
  }

 private:
  std::map<std::string, std::string> values_;
  std::string where_;
};

}  // namespace

std::string job_keys_help() {
  std::ostringstream out;
  out << "usage: neurolens run JOB.ini [--key=value ...] [--dry-run] [--resume] [--overwrite]\n\n"
      << flag_options() << "\n"
      << key_options() << "\nstudies (study = NAME; keys in the [NAME] section):\n";
  for (const StudySpec* study : registered_studies()) {
    std::string tests = "none";
    if (!study->tests.empty()) {
      tests = test_name(study->default_test) + " (default)";
      for (TestKind t : study->tests) {
        if (t != study->default_test) tests += ", " + test_name(t);
      }
    }
    out << "  " << study->name
        << std::string(study->name.size() < 10 ? 10 - study->name.size() : 1, ' ') << study->summary
        << "; tests: " << tests << "\n";
  }
  out << "\nEvery key is documented in docs/jobs.md.\n";
  return out.str();
}

// Boost.Program_options' what() substitutes the offending text into its message template with
// a find-and-replace loop that never ends when that text itself contains the placeholder (a job
// line "%invalid_line%", an option "--%canonical_option%"; found by job_fuzz). So messages of
// errors that carry user text are built here from their parts; what() only for the others.
std::string program_options_error_text(const po::error& e) {
  auto syntax = [](po::invalid_syntax::kind_t kind) -> std::string {
    switch (kind) {
      case po::invalid_syntax::long_not_allowed:
        return "long options are not allowed";
      case po::invalid_syntax::long_adjacent_not_allowed:
      case po::invalid_syntax::short_adjacent_not_allowed:
        return "an adjacent value is not allowed";
      case po::invalid_syntax::empty_adjacent_parameter:
        return "the value is empty";
      case po::invalid_syntax::missing_parameter:
        return "the value is missing";
      case po::invalid_syntax::extra_parameter:
        return "an unexpected value is given";
      case po::invalid_syntax::unrecognized_line:
        return "syntax error";
    }
    return "syntax error";
  };
  if (const auto* f = dynamic_cast<const po::invalid_config_file_syntax*>(&e)) {
    return syntax(f->kind()) + " in line '" + f->tokens() + "'";
  }
  if (const auto* c = dynamic_cast<const po::invalid_syntax*>(&e)) {
    return syntax(c->kind()) + " for '" + c->get_option_name() + "'";
  }
  if (dynamic_cast<const po::validation_error*>(&e) != nullptr) {
    return "invalid value for '" +
           dynamic_cast<const po::error_with_option_name&>(e).get_option_name() + "'";
  }
  if (const auto* u = dynamic_cast<const po::unknown_option*>(&e)) {
    return "unknown option '" + u->get_option_name() + "'";
  }
  if (const auto* m = dynamic_cast<const po::multiple_occurrences*>(&e)) {
    return "option '" + m->get_option_name() + "' given more than once";
  }
  if (const auto* r = dynamic_cast<const po::required_option*>(&e)) {
    return "the option '" + r->get_option_name() + "' is required";
  }
  if (const auto* o = dynamic_cast<const po::error_with_option_name*>(&e)) {
    return "cannot use option '" + o->get_option_name() + "'";  // e.g. ambiguous
  }
  return e.what();
}

Job parse_job(const std::filesystem::path& file, std::span<const std::string> overrides) {
  const po::options_description keys = key_options();
  po::options_description all;
  all.add(flag_options()).add(keys);
  const std::string where = file.empty() ? std::string("job") : file.string();

  po::variables_map from_cli;
  try {
    const std::vector<std::string> words(overrides.begin(), overrides.end());
    po::store(po::command_line_parser(words).options(all).run(), from_cli);
  } catch (const po::unknown_option& e) {
    throw Error("command line: " + e.get_option_name(), "unknown job key or option",
                "run 'neurolens run --help' for every key (docs/jobs.md)");
  } catch (const po::error& e) {
    throw Error("command line", program_options_error_text(e), "run 'neurolens run --help'");
  }

  po::variables_map from_file;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw Error(file.string(), "cannot open the job file", "check the path");
    try {
      po::store(po::parse_config_file(in, keys, false), from_file);
    } catch (const po::unknown_option& e) {
      throw Error(file.string() + ": " + e.get_option_name(), "unknown job key",
                  "run 'neurolens run --help' for every key (docs/jobs.md)");
    } catch (const po::multiple_occurrences& e) {
      throw Error(file.string() + ": " + e.get_option_name(), "key given more than once",
                  "keep one line per key");
    } catch (const po::error& e) {
      throw Error(file.string(), program_options_error_text(e),
                  "check the job file's syntax (key = value, [section])");
    }
  }

  std::map<std::string, std::string> values;
  std::ostringstream text;
  std::string section;
  for (const FullKey& k : all_keys()) {
    std::string value = k.spec->default_value;
    if (from_cli.count(k.name)) {
      value = from_cli[k.name].as<std::string>();
    } else if (from_file.count(k.name)) {
      value = from_file[k.name].as<std::string>();
    } else if (k.name == "hooks") {
      // A study may have its own default sites (examples: mlp.hook_post, as Neuroscope).
      const StudySpec* study = find_study(trim(values["study"]));
      if (study != nullptr && !study->default_hooks.empty()) value = study->default_hooks;
    }
    value = trim(value);
    values[k.name] = value;
    const std::string& name = k.name;
    const size_t dot = name.find('.');
    const std::string key_section = dot == std::string::npos ? "" : name.substr(0, dot);
    if (key_section != section) {
      text << "\n[" << key_section << "]\n";
      section = key_section;
    }
    text << (dot == std::string::npos ? name : name.substr(dot + 1)) << " = " << value << "\n";
  }
  const Values v(values, where);

  Job job;
  job.file = file;
  job.text = text.str();
  job.dry_run = from_cli.count("dry-run") > 0;
  job.resume = from_cli.count("resume") > 0;
  job.overwrite = from_cli.count("overwrite") > 0;

  for (const char* required : {"study", "model", "output"}) {
    if (v.str(required).empty()) {
      throw Error(v.context(required), "missing required key",
                  std::string("add '") + required + " = ...' to the job file or pass --" +
                      required + "=...");
    }
  }
  std::vector<std::pair<std::string, const StudySpec*>> studies;
  for (const StudySpec* study : registered_studies()) studies.emplace_back(study->name, study);
  const StudySpec& spec = *v.choice<const StudySpec*>("study", studies);
  job.study = spec.name;
  job.model = v.str("model");
  job.corpus = v.str("corpus");
  job.corpus_format = v.choice<CorpusFormat>("corpus_format", {{"auto", CorpusFormat::Auto},
                                                               {"text", CorpusFormat::Text},
                                                               {"jsonl", CorpusFormat::JsonLines},
                                                               {"brown", CorpusFormat::Brown}});
  job.output = v.str("output");
  job.sites = split(v.str("hooks"), ',');
  if (job.sites.empty()) {
    throw Error(v.context("hooks"), "no hook site given", "e.g. hooks = mlp.hook_pre");
  }
  job.layers = v.str("layers");
  if (!v.str("test").empty()) {
    job.test_given = true;
    job.test = v.choice<TestKind>("test", {{"welch", TestKind::Welch},
                                           {"student", TestKind::Student},
                                           {"paired", TestKind::Paired},
                                           {"logistic", TestKind::Logistic}});
  } else {
    job.test = spec.default_test;
  }
  job.save_samples = v.boolean("save_samples");
  job.seed = v.number<uint64_t>("seed", 0, UINT64_MAX);
  job.batch_size = v.number<int>("batch_size", 1, 1 << 20);
  job.alpha = v.number<double>("alpha", 1e-300, 1.0);
  job.correction = v.choice<Correction>("correction", {{"bonferroni", Correction::Bonferroni},
                                                       {"bh", Correction::BenjaminiHochberg}});
  job.max_tokens = v.number<int64_t>("max_tokens", 0, INT64_MAX);
  job.checkpoint_every = v.number<double>("checkpoint_every", 0.0, 1e9);
  job.model_load = v.choice<ModelLoad>(
      "model_load", {{"mmap", ModelLoad::Mmap}, {"broadcast", ModelLoad::Broadcast}});
  job.compute = v.choice<Compute>("compute", {{"fp32", Compute::Fp32}, {"bf16", Compute::Bf16}});
  job.checkpoint = v.str("checkpoint").empty()
                       ? std::filesystem::path(job.output.string() + ".ckpt")
                       : std::filesystem::path(v.str("checkpoint"));

  // Every registered study's section is checked, not only the chosen study's: a job's keys are
  // valid or not whatever its study.
  std::map<std::string, std::string> study_values;
  for (const FullKey& k : all_keys()) {
    if (k.name.find('.') == std::string::npos) continue;
    v.check(k.name, *k.spec);
    study_values[k.name] = v.str(k.name);
  }
  job.options = StudyOptions(std::move(study_values));

  // Which tests the study allows.
  const auto allowed = [&] {
    std::string names;
    for (TestKind t : spec.tests) names += (names.empty() ? "" : " | ") + test_name(t);
    return names;
  };
  if (spec.tests.empty()) {
    if (job.test_given) {
      throw Error(v.context("test"), "a " + spec.name + " study runs no test",
                  "remove the test key");
    }
  } else if (std::find(spec.tests.begin(), spec.tests.end(), job.test) == spec.tests.end()) {
    throw Error(
        v.context("test"), "a " + spec.name + " study " + spec.refuses_test,
        std::string(spec.tests.size() == 1 ? "allowed value: " : "allowed values: ") + allowed());
  }
  if (spec.needs_corpus && job.corpus.empty()) {
    throw Error(v.context("corpus"), "missing required key",
                "add 'corpus = PATH' (text files, .jsonl or Brown corpus files)");
  }
  if (spec.check_job) spec.check_job(job, [&](const std::string& key) { return v.context(key); });
  return job;
}

}  // namespace neurolens::runner
