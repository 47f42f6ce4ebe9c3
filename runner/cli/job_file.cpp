#include "runner/cli/job_file.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "io/error.hpp"
#include "io/text.hpp"

namespace neurolens::runner {
namespace po = boost::program_options;

namespace {

struct KeySpec {
  const char* name;
  const char* default_value;  // "" = no default
  const char* help;
};

// Every job key, in the order docs/jobs.md and `neurolens run --help` list them.
const KeySpec kKeys[] = {
    {"study", "", "contrast | paired | sampling | length | logistic (required)"},
    {"model", "", "Hugging Face checkpoint directory (required)"},
    {"corpus", "", "text file, directory or glob; JSON Lines (.jsonl); Brown corpus files"},
    {"corpus_format", "auto", "auto | text | jsonl | brown"},
    {"output", "", "results file, .h5 (required)"},
    {"hooks", "mlp.hook_pre",
     "comma-separated layer-generic hook sites (mlp.hook_pre, "
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
    {"contrast.group_a",
     "not, never, cannot, can't, don't, won't, wasn't, isn't, didn't, "
     "doesn't, couldn't, wouldn't, shouldn't, no, nothing, nobody",
     "group a words (negations)"},
    {"contrast.group_b",
     "can, could, may, will, would, should, must, might, shall, do, does, "
     "did, is, was, always, yes",
     "group b words (affirmations)"},
    {"contrast.context_before", "90", "tokens before the target in every window"},
    {"contrast.context_after", "10", "tokens after the target in every window"},
    {"paired.pairs", "", "noun:verb pairs, comma-separated (e.g. 'dog:run, idea:think')"},
    {"paired.mode", "pairs", "pairs | corpus (nouns and verbs in context from Brown tags)"},
    {"paired.template", "The {}", "sentence frame for pairs mode; {} is the word"},
    {"paired.heatmap_text", "", "text file painted with the top neurons' activations"},
    {"paired.context_before", "32", "corpus mode: tokens of preceding context per word"},
    {"sampling.batch_sequences", "32", "sequences per random batch"},
    {"sampling.seq_len", "256", "tokens per sequence"},
    {"sampling.repetitions", "1000", "random batches"},
    {"sampling.top_tokens", "10", "most frequent winning tokens kept per dimension"},
    {"sampling.top_contexts", "5", "highest-activating contexts kept per dimension"},
    {"sampling.context_tokens", "8", "tokens of text either side of a context"},
    {"length.sequences", "16", "sequences"},
    {"length.seq_len", "512", "tokens per sequence"},
    {"length.count_leading_space", "false", "count a token's leading space in its length"},
    {"length.bins", "64", "histogram bins"},
    {"length.pack", "false",
     "cut sequences from the documents concatenated into one token stream "
     "(the original) instead of from each document"},
    {"logistic.sequences", "8", "sequences per batch (batch 1 fits, batch 2 tests)"},
    {"logistic.seq_len", "256", "tokens per sequence"},
    {"logistic.max_per_group", "220", "proper nouns and other tokens per batch, at most"},
    {"logistic.top_neurons", "10", "neurons selected on batch 1 and scored on batch 2"},
    {"logistic.heatmap_text", "", "text file painted with the top neuron's activations"},
};

po::options_description key_options() {
  po::options_description d("job keys (in the job file, or --key=value / --section.key=value)");
  for (const KeySpec& k : kKeys) {
    d.add_options()(k.name, po::value<std::string>(), k.help);
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
      << key_options() << "\nEvery key is documented in docs/jobs.md.\n";
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
  for (const KeySpec& k : kKeys) {
    std::string value = k.default_value;
    if (from_cli.count(k.name)) {
      value = from_cli[k.name].as<std::string>();
    } else if (from_file.count(k.name)) {
      value = from_file[k.name].as<std::string>();
    }
    value = trim(value);
    values[k.name] = value;
    const std::string name = k.name;
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
  job.study = v.choice<StudyKind>("study", {{"contrast", StudyKind::Contrast},
                                            {"paired", StudyKind::Paired},
                                            {"sampling", StudyKind::Sampling},
                                            {"length", StudyKind::Length},
                                            {"logistic", StudyKind::Logistic}});
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
    switch (job.study) {
      case StudyKind::Paired:
        job.test = TestKind::Paired;
        break;
      case StudyKind::Logistic:
        job.test = TestKind::Logistic;
        break;
      default:
        job.test = TestKind::Welch;
        break;
    }
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

  job.contrast.group_a = split(v.str("contrast.group_a"), ',');
  job.contrast.group_b = split(v.str("contrast.group_b"), ',');
  job.contrast.context_before = v.number<int>("contrast.context_before", 0, 1 << 20);
  job.contrast.context_after = v.number<int>("contrast.context_after", 0, 1 << 20);

  for (const std::string& pair : split(v.str("paired.pairs"), ',')) {
    const size_t colon = pair.find(':');
    if (colon == std::string::npos || trim(pair.substr(0, colon)).empty() ||
        trim(pair.substr(colon + 1)).empty()) {
      throw Error(v.context("paired.pairs"), "'" + pair + "' is not a noun:verb pair",
                  "write pairs as 'noun:verb, noun:verb'");
    }
    job.paired.pairs.emplace_back(trim(pair.substr(0, colon)), trim(pair.substr(colon + 1)));
  }
  job.paired.mode =
      v.choice<std::string>("paired.mode", {{"pairs", "pairs"}, {"corpus", "corpus"}});
  job.paired.template_text = v.str("paired.template");
  if (job.paired.template_text.find("{}") == std::string::npos) {
    throw Error(v.context("paired.template"), "has no {} placeholder for the word",
                "e.g. template = The {}");
  }
  job.paired.heatmap_text = v.str("paired.heatmap_text");
  job.paired.context_before = v.number<int>("paired.context_before", 0, 1 << 20);

  job.sampling.batch_sequences = v.number<int>("sampling.batch_sequences", 1, 1 << 20);
  job.sampling.seq_len = v.number<int>("sampling.seq_len", 1, 1 << 20);
  job.sampling.repetitions = v.number<int>("sampling.repetitions", 1, 1 << 30);
  job.sampling.top_tokens = v.number<int>("sampling.top_tokens", 1, 1 << 20);
  job.sampling.top_contexts = v.number<int>("sampling.top_contexts", 0, 1 << 10);
  job.sampling.context_tokens = v.number<int>("sampling.context_tokens", 0, 1 << 10);

  job.length.sequences = v.number<int>("length.sequences", 1, 1 << 20);
  job.length.seq_len = v.number<int>("length.seq_len", 1, 1 << 20);
  job.length.count_leading_space = v.boolean("length.count_leading_space");
  job.length.bins = v.number<int>("length.bins", 1, 1 << 16);
  job.length.pack = v.boolean("length.pack");

  job.logistic.sequences = v.number<int>("logistic.sequences", 1, 1 << 20);
  job.logistic.seq_len = v.number<int>("logistic.seq_len", 1, 1 << 20);
  job.logistic.max_per_group = v.number<int>("logistic.max_per_group", 1, 1 << 30);
  job.logistic.top_neurons = v.number<int>("logistic.top_neurons", 1, 1 << 20);
  job.logistic.heatmap_text = v.str("logistic.heatmap_text");

  // Which tests a study allows.
  const bool two_group = job.study == StudyKind::Contrast || job.study == StudyKind::Length;
  if (two_group && job.test == TestKind::Paired) {
    throw Error(v.context("test"), "a " + study_name(job.study) + " study has no pairs",
                "allowed values: welch | student | logistic");
  }
  if (job.study == StudyKind::Paired && job.test != TestKind::Paired) {
    throw Error(v.context("test"), "a paired study tests per-pair differences",
                "allowed value: paired");
  }
  if (job.study == StudyKind::Logistic && job.test != TestKind::Logistic) {
    throw Error(v.context("test"), "a logistic study fits a logistic regression",
                "allowed value: logistic");
  }
  if (job.study == StudyKind::Sampling && job.test_given) {
    throw Error(v.context("test"), "a sampling study runs no test", "remove the test key");
  }
  if (job.study != StudyKind::Paired && job.corpus.empty()) {
    throw Error(v.context("corpus"), "missing required key",
                "add 'corpus = PATH' (text files, .jsonl or Brown corpus files)");
  }
  if (job.study == StudyKind::Contrast &&
      (job.contrast.group_a.empty() || job.contrast.group_b.empty())) {
    throw Error(v.context(job.contrast.group_a.empty() ? "contrast.group_a" : "contrast.group_b"),
                "empty word list", "give comma-separated words");
  }
  return job;
}

}  // namespace neurolens::runner
