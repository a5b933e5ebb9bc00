// X.509 helpers of the CLI, on OpenSSL's libcrypto: what `tributary certs` writes, and reading
// back the subject CN of a certificate (the identity a gateway under mutual TLS sees).
// Stateless; safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace tributary::cli {

struct CertificateSet {
  std::string out_dir;                          // written files' folder (required; mode 0700)
  // DNS names and IP addresses in server.pem's SAN (127.0.0.1 too); the first is its CN.
  std::vector<std::string> server_names{"localhost"};
  std::vector<std::string> ids;                 // one ID.pem / ID-key.pem each, CN = ID
  int days = 30;                                // validity of every certificate
};

// Writes ca.pem, ca-key.pem, server.pem, server-key.pem and one pair per id into out_dir (keys
// mode 0600). An existing ca.pem with ca-key.pem is reused, so more ids can be added later.
Status WriteCertificateSet(const CertificateSet& set);

// The subject CN of the PEM certificate in `path`; empty when it cannot be read or has none.
std::string CertificateCommonName(const std::string& path);

}  // namespace tributary::cli
