// Examples exports — an examples results file (docs/examples.md) written in the layouts other
// interpretability tools read: OpenAI's automated-interpretability NeuronRecord JSON and
// Neuronpedia's export (features / activations batch-N.jsonl.gz). docs/examples.md "Exports".
// Owns: the JSON of one neuron in either format (field names, nesting, NaN handling), the
// directory layouts, and writing the whole export atomically (a hidden temporary directory
// beside the target, renamed when complete; nothing at the target on failure).
// Example:
//   ExportOptions o;  o.format = ExportFormat::OpenAI;
//   ExportSummary s = export_examples("examples.h5", "out/openai", o);   // s.files written
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runner/results/examples_reader.hpp"

namespace neurolens::runner {

enum class ExportFormat { OpenAI, Neuronpedia };

// "openai" / "neuronpedia"; throws neurolens::Error naming --format otherwise.
ExportFormat parse_export_format(const std::string& name);

struct ExportOptions {
  ExportFormat format = ExportFormat::OpenAI;
  bool overwrite = false;  // replace an existing export directory
  // Neuronpedia only:
  std::string model_id;    // default: the last path component of the file's `model` attribute
  std::string source_set;  // default: "neurolens-" + the site with '.' and '_' as '-'
  std::string creator_id = "neurolens";  // creatorId of every row
  int64_t batch_size = 128;              // features per batch-N.jsonl.gz
};

struct ExportSummary {
  int64_t neurons = 0, files = 0, records = 0;  // records: activation records / rows
};

// One neuron as OpenAI's NeuronRecord (their FastDataclass JSON, `dataclass_name` included).
nlohmann::ordered_json openai_neuron_record(const ExamplesFile& file, const NeuronExamples& neuron);

// Neuronpedia's ids of a neuron's source: "<layer>-<source set>".
std::string neuronpedia_source_id(const ExamplesSite& site, int64_t layer,
                                  const ExportOptions& options);
// One neuron as a Neuronpedia feature row, and its activation rows (top-k, then the quantile
// buckets from the highest).
nlohmann::ordered_json neuronpedia_feature(const ExamplesFile& file, const ExamplesSite& site,
                                           const NeuronExamples& neuron,
                                           const ExportOptions& options,
                                           const std::string& created_at);
std::vector<nlohmann::ordered_json> neuronpedia_activations(const ExamplesFile& file,
                                                            const ExamplesSite& site,
                                                            const NeuronExamples& neuron,
                                                            const ExportOptions& options,
                                                            const std::string& created_at);

// Reads `input` and writes the export to the directory `out` (created; its parent must exist).
// Throws neurolens::Error (one line, naming the file or option) before writing anything when
// `input` is not an examples results file or `out` exists without options.overwrite.
ExportSummary export_examples(const std::filesystem::path& input, const std::filesystem::path& out,
                              const ExportOptions& options);

}  // namespace neurolens::runner
