#include "cli/command.h"
namespace tributary::cli {
void AddAggregateCommand(CLI::App& app) {}
}  // namespace tributary::cli
