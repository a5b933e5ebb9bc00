// The subcommands of the `tributary` binary. Each Add*Command registers one subcommand (with
// its options and a callback) on the application. A callback that fails prints the reason to
// stderr and throws CLI::RuntimeError(exit_code), which main() turns into the exit status.
#pragma once

#include <CLI/CLI.hpp>

#ifdef TRIBUTARY_HAVE_PLATFORM
namespace tributary::client {
struct ClientOptions;
}
#endif

namespace tributary::cli {

void AddAggregateCommand(CLI::App& app);  // offline robust aggregation of a .npy file
void AddCodeCommand(CLI::App& app);       // gradient-coding matrices and decoding vectors
void AddCertsCommand(CLI::App& app);      // a CA, server and client certificates for tests

#ifdef TRIBUTARY_HAVE_PLATFORM
void AddServeCommand(CLI::App& app);            // the embedded single-node platform
void AddJobCommand(CLI::App& app);              // operator: job create|get|list|cancel|watch
void AddSimCommand(CLI::App& app);              // simulated clients that verify each round
void AddAggregatorWorkerCommand(CLI::App& app);  // internal: one aggregator function process

// --tls-ca, --tls-cert and --tls-key of a command that connects to a gateway, stored into the
// TLS fields of `options`, which must outlive the parse.
void AddTlsFlags(CLI::App* cmd, client::ClientOptions* options);
#endif

}  // namespace tributary::cli
