// The subcommands of the neurolens binary. Each takes the arguments after its own name
// (args[0] is the subcommand name) and returns the process exit code; failures throw
// neurolens::Error, which main() prints as one line.
// Example:  neurolens tokenize --model DIR --text FILE
#pragma once

#include <string>
#include <vector>

namespace neurolens::runner {

using Args = std::vector<std::string>;

int run_synth_model(const Args& args);  // runner/cli/synth_model_command.cpp
int run_tokenize(const Args& args);     // runner/cli/tokenize_command.cpp
int run_capture(const Args& args);      // runner/cli/capture_command.cpp
int run_run(const Args& args);          // runner/cli/run_command.cpp
int run_report(const Args& args);       // runner/report/report_command.cpp
int run_inspect(const Args& args);      // runner/report/inspect_command.cpp
int run_site(const Args& args);         // runner/report/site_command.cpp
int run_export(const Args& args);       // runner/cli/export_command.cpp

}  // namespace neurolens::runner
