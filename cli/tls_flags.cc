// The TLS flags shared by the commands that connect to a gateway (job, sim).
#include "cli/command.h"
#include "clients/cpp/client.h"

namespace tributary::cli {

void AddTlsFlags(CLI::App* cmd, client::ClientOptions* options) {
  cmd->add_option("--tls-ca", options->tls_ca_file,
                  "PEM CA that signed the gateway's certificate: connect over TLS")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-cert", options->tls_cert_file,
                  "PEM client certificate for mutual TLS (its CN is the caller's identity)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", options->tls_key_file, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
}

}  // namespace tributary::cli
