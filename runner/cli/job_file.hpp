// Job files — parsing `neurolens run` jobs into a Job (runner/engine/job.hpp).
// Owns: the schema of every job key (top level and per-study sections), parsing a job file in
// Boost.Program_options config-file syntax, command-line overrides (`--key=value`,
// `--section.key=value`), validation with errors that name the key and the allowed values, and
// the key help of `neurolens run --help`. docs/jobs.md documents every key.
// Example:
//   Job job = parse_job("job.ini", {"--seed=3", "--contrast.context_before=50"});
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "runner/engine/job.hpp"
#include "runner/results/sites.hpp"  // parse_layers

namespace boost::program_options {
class error;
}

namespace neurolens::runner {

// Parses `file` (may be empty) and then `overrides` (command-line words such as "--seed=3",
// "--contrast.group_a=not,never", "--dry-run"); overrides win. Throws neurolens::Error naming the
// key (and the file) for unknown keys, bad values and missing required keys.
Job parse_job(const std::filesystem::path& file, std::span<const std::string> overrides);

// The message of a Boost.Program_options error, built from its parts for the errors that carry
// user text: Boost's own what() loops forever when that text contains one of its placeholders
// (a job line "%invalid_line%", an option "--%canonical_option%"). Every command uses it.
std::string program_options_error_text(const boost::program_options::error& e);

// The help text listing every key (neurolens run --help).
std::string job_keys_help();

}  // namespace neurolens::runner
