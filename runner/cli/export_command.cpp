// neurolens export RESULTS.h5 --format openai|neuronpedia --out DIR
// An examples results file (study = examples) in the layout of another tool: OpenAI's
// automated-interpretability NeuronRecord JSON (DIR/<site>/<layer>/<neuron>.json) or
// Neuronpedia's export (DIR/<model>/<layer>-<source set>/{features,activations}/batch-N.jsonl.gz).
// Written atomically: DIR appears only when complete. docs/examples.md, "Exports".
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "io/error.hpp"
#include "io/text.hpp"
#include "runner/cli/commands.hpp"
#include "runner/cli/job_file.hpp"
#include "runner/report/examples_export.hpp"

namespace neurolens::runner {
namespace po = boost::program_options;

int run_export(const Args& args) {
  std::string input, format, out;
  ExportOptions o;
  po::options_description desc(
      "neurolens export: an examples results file (study = examples) in another tool's layout\n"
      "usage: neurolens export RESULTS.h5 --format openai|neuronpedia --out DIR [options]\n"
      "  openai:      DIR/<site>/<layer>/<neuron>.json, OpenAI automated-interpretability\n"
      "               NeuronRecord JSON (load_neuron(layer, neuron, dataset_path=DIR/<site>))\n"
      "  neuronpedia: DIR/<model>/<layer>-<source set>/features/batch-N.jsonl.gz and\n"
      "               activations/batch-N.jsonl.gz, Neuronpedia export rows\n"
      "(docs/examples.md, \"Exports\")\noptions");
  desc.add_options()("help,h", "print this help")("format", po::value(&format),
                                                  "openai or neuronpedia (required)")(
      "out,o", po::value(&out), "directory to write (required; must not exist unless --overwrite)")(
      "overwrite", po::bool_switch(&o.overwrite), "replace an earlier export at --out")(
      "model-id", po::value(&o.model_id),
      "neuronpedia: modelId (default: the last component of the file's model path)")(
      "source-set", po::value(&o.source_set),
      "neuronpedia: source set name (default: neurolens-<site>, e.g. neurolens-mlp-hook-post)")(
      "creator-id", po::value(&o.creator_id)->default_value(o.creator_id),
      "neuronpedia: creatorId of every row")("batch-size",
                                             po::value(&o.batch_size)->default_value(o.batch_size),
                                             "neuronpedia: features per batch-N.jsonl.gz")(
      "input", po::value(&input), "the results file (positional)");
  po::positional_options_description positional;
  positional.add("input", 1);
  po::variables_map vm;
  try {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    po::store(po::command_line_parser(rest).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error("export", program_options_error_text(e), "run 'neurolens export --help'");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (input.empty()) {
    throw Error("export", "no results file given",
                "neurolens export RESULTS.h5 --format openai --out DIR");
  }
  if (format.empty()) {
    throw Error("export: --format", "missing", "pass --format openai or --format neuronpedia");
  }
  o.format = parse_export_format(format);
  if (out.empty()) throw Error("export: --out", "missing", "pass --out DIR (a new directory)");
  const auto start = std::chrono::steady_clock::now();
  const ExportSummary s = export_examples(input, out, o);
  std::fprintf(stderr, "neurolens: wrote %s (%s: %lld neurons, %lld files, %lld records, %.2f s)\n",
               out.c_str(), format.c_str(), static_cast<long long>(s.neurons),
               static_cast<long long>(s.files), static_cast<long long>(s.records),
               seconds_since(start));
  return 0;
}

}  // namespace neurolens::runner
