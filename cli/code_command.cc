#include "cli/command.h"
namespace tributary::cli {
void AddCodeCommand(CLI::App& app) {}
}  // namespace tributary::cli
