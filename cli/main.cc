// `tributary`: the command-line entry point. Subcommands live one per file in cli/.
#include <CLI/CLI.hpp>

#include "cli/command.h"

int main(int argc, char** argv) {
  CLI::App app{"Tributary: serverless aggregation for federated learning"};
  app.require_subcommand(1);
  tributary::cli::AddAggregateCommand(app);
  tributary::cli::AddCodeCommand(app);
  tributary::cli::AddCertsCommand(app);
#ifdef TRIBUTARY_HAVE_PLATFORM
  tributary::cli::AddServeCommand(app);
  tributary::cli::AddJobCommand(app);
  tributary::cli::AddSimCommand(app);
  tributary::cli::AddAggregatorWorkerCommand(app);
#endif
  CLI11_PARSE(app, argc, argv);
  return 0;
}
