// PeerIdentity: who is calling, as a verified client certificate proves it (mutual TLS).
//
// Under mTLS (serve --tls-client-ca) every call comes with a certificate the node's client CA
// signed, and the identity of the caller is that certificate's subject common name (CN); SANs
// are not consulted. A client may act only as the client id its identity names: Join, Pull,
// Push and Tasks carrying another client_id are refused with PERMISSION_DENIED. The operator
// service admits only identities listed as operators (serve --operator-id). Without mTLS
// (plaintext, or TLS without client certificates) there is no identity and nothing is checked.
// A PeerIdentity is a value; copy it into reactors freely.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace grpc {
class ServerContextBase;
}

namespace tributary::gateway {

// What the services check about their callers; the node fills it from serve's TLS flags.
struct AccessPolicy {
  bool mutual_tls = false;                        // client certificates required (default: no)
  std::vector<std::string> operators{"operator"};  // identities the operator service admits
  // Set: every operator call must also carry `authorization: Bearer operator_token`.
  std::string operator_token;
};

class PeerIdentity {
 public:
  // The identity of the caller of `ctx`. `mutual_tls`: the server requires and verifies client
  // certificates, so every call must carry an identity.
  static PeerIdentity Of(const grpc::ServerContextBase& ctx, bool mutual_tls);

  // OK when the caller may act as `client_id`.
  Status AllowsClient(std::string_view client_id) const;
  // OK when the caller is one of `operators`.
  Status AllowsOperator(const std::vector<std::string>& operators) const;

  // The certificate's subject CN; empty without mTLS (or when the certificate has none).
  const std::string& name() const { return name_; }

 private:
  Status Present() const;

  bool checked_ = false;
  std::string name_;
};

// OK when the caller of `ctx` may act as an operator under `policy`: its certificate identity
// is an operator (under mutual TLS) and it carries the operator token (when the node has one).
Status AdmitOperator(const grpc::ServerContextBase& ctx, const AccessPolicy& policy);
// The operator-token half of AdmitOperator, for callers that come without a gRPC context (a
// bulk connection): OK when the node has no operator token or `token` is it. `peer`
// names the caller in the log.
Status AdmitOperatorToken(std::string_view token, const AccessPolicy& policy,
                          std::string_view peer);

}  // namespace tributary::gateway
