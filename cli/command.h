// The subcommands of the `tributary` binary. Each Add*Command registers one subcommand (with
// its options and a callback) on the application. A callback that fails prints the reason to
// stderr and throws CLI::RuntimeError(exit_code), which main() turns into the exit status.
#pragma once

#include <CLI/CLI.hpp>

namespace tributary::cli {

void AddAggregateCommand(CLI::App& app);  // offline robust aggregation of a .npy file
void AddCodeCommand(CLI::App& app);       // gradient-coding matrices and decoding vectors

#ifdef TRIBUTARY_HAVE_PLATFORM
void AddServeCommand(CLI::App& app);            // the embedded single-node platform
void AddJobCommand(CLI::App& app);              // operator: job create|get|list|cancel|watch
void AddSimCommand(CLI::App& app);              // simulated clients that verify each round
void AddAggregatorWorkerCommand(CLI::App& app);  // internal: one aggregator function process
#endif

}  // namespace tributary::cli
