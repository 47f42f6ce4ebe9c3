// neurolens — neuron-level interpretability studies for GPT-2 / GPT-Neo on MPI clusters.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "runner/cli/commands.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(NEUROLENS_ASAN)
// Under AddressSanitizer (NEUROLENS_SANITIZE=ON) the binary runs without LeakSanitizer by
// default: Open MPI, PMIx and their plugins leak at MPI_Finalize inside modules they have
// already dlclose()d, which LSan reports as "<unknown module>" frames that no suppression can
// name. Address and undefined-behaviour checks stay on; leak checks run on every test
// executable that does not start MPI. ASAN_OPTIONS=detect_leaks=1 turns them back on.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0";
}
#endif

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const neurolens::runner::Args&);
};

const Command kCommands[] = {
    {"synth-model", "write a seeded random HF checkpoint (GPT-2 or GPT-Neo)",
     neurolens::runner::run_synth_model},
    {"tokenize", "print the GPT-2 BPE token ids of a text file", neurolens::runner::run_tokenize},
    {"capture", "run the forward pass and write hook-point activations to HDF5",
     neurolens::runner::run_capture},
    {"run", "run a study job file (under mpirun / srun for many ranks)",
     neurolens::runner::run_run},
    {"report", "write a self-contained HTML report (plots, tables, heatmaps) of a results file",
     neurolens::runner::run_report},
    {"inspect", "print a terminal summary of a results file (significant and top neurons)",
     neurolens::runner::run_inspect},
    {"site", "write a static site (file://) of an examples results file: every neuron's windows",
     neurolens::runner::run_site},
    {"export", "write an examples results file as OpenAI NeuronRecord JSON or a Neuronpedia export",
     neurolens::runner::run_export},
};

void print_usage() {
  std::printf("neurolens %s — neuron-level interpretability for GPT-2 / GPT-Neo\n\n",
              NEUROLENS_VERSION);
  std::printf("usage: neurolens <command> [options]   (neurolens <command> --help)\n\ncommands:\n");
  for (const auto& c : kCommands) std::printf("  %-12s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("neurolens %s\n", NEUROLENS_VERSION);
    return 0;
  }
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& c : kCommands) {
    if (args[0] != c.name) continue;
    try {
      return c.run(args);
    } catch (const neurolens::Error& e) {
      std::fprintf(stderr, "neurolens: error: %s\n", e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "neurolens: error: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(
      stderr, "neurolens: error: unknown command '%s' (fix: run 'neurolens --help' for the list)\n",
      argv[1]);
  return 2;
}
