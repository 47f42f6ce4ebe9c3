// Fuzz target: job files (runner/cli/job_file.cpp, parse_job). The input is split at "\n@@\n": the
// first part is the job file, each further line of the second part is a command-line override
// (--key=value). parse_layers gets the third part as a layer spec.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/error.hpp"
#include "runner/cli/job_file.hpp"
#include "runner/studies/registry.hpp"
#include "tests/fuzz/fuzz_util.hpp"

NEUROLENS_FUZZ_TARGET(job) {
  using namespace neurolens;
  const auto parts = fuzz::split(fuzz::as_view(data, size), "\n@@\n", 3);
  const auto path = fuzz::scratch_dir() / "job.ini";
  fuzz::write_file(path, parts[0]);
  std::vector<std::string> overrides;
  std::string_view rest = parts[1];
  while (!rest.empty() && overrides.size() < 16) {
    const std::size_t nl = rest.find('\n');
    overrides.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  try {
    const runner::Job job = runner::parse_job(path, overrides);
    (void)runner::test_attribute(job);
    (void)runner::test_name(job.test);
  } catch (const Error&) {
  }
  try {
    const std::vector<int> layers = runner::parse_layers(std::string(parts[2]), 48, "layers");
    for (int l : layers) {
      if (l < 0 || l >= 48) __builtin_trap();
    }
  } catch (const Error&) {
  }
  return 0;
}
