// Placeholder until this subcommand lands; replaced by its implementation.
#include "io/error.hpp"
#include "runner/commands.hpp"

namespace neurolens::runner {
int run_synth_model(const Args& args) {
  throw Error(args.at(0), "not implemented yet");
}
}  // namespace neurolens::runner
