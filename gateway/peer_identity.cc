#include "gateway/peer_identity.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <spdlog/spdlog.h>

#include "gateway/client_credentials.h"

namespace tributary::gateway {

PeerIdentity PeerIdentity::Of(const grpc::ServerContextBase& ctx, bool mutual_tls) {
  PeerIdentity id;
  id.checked_ = mutual_tls;
  if (!mutual_tls) return id;
  const auto auth = ctx.auth_context();
  if (auth == nullptr) return id;
  const auto names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (!names.empty()) id.name_.assign(names.front().data(), names.front().size());
  return id;
}

Status PeerIdentity::Present() const {
  if (checked_ && name_.empty()) {
    return Status::Unauthenticated("the client certificate has no subject common name (CN), "
                                   "which names the caller under mutual TLS");
  }
  return Status::Ok();
}

Status PeerIdentity::AllowsClient(std::string_view client_id) const {
  if (!checked_) return Status::Ok();
  TRIBUTARY_RETURN_IF_ERROR(Present());
  if (client_id == name_) return Status::Ok();
  spdlog::warn("refused a call as client '{}' from the certificate of '{}'", client_id, name_);
  return Status::PermissionDenied("the client certificate names '" + name_ +
                                  "', which may not act as client '" + std::string(client_id) +
                                  "'");
}

Status PeerIdentity::AllowsOperator(const std::vector<std::string>& operators) const {
  if (!checked_) return Status::Ok();
  TRIBUTARY_RETURN_IF_ERROR(Present());
  if (std::find(operators.begin(), operators.end(), name_) != operators.end()) {
    return Status::Ok();
  }
  spdlog::warn("refused an operator call from the certificate of '{}'", name_);
  return Status::PermissionDenied("the client certificate names '" + name_ +
                                  "', which is not an operator (serve --operator-id)");
}

Status AdmitOperatorToken(std::string_view token, const AccessPolicy& policy,
                          std::string_view peer) {
  if (policy.operator_token.empty()) return Status::Ok();
  if (token.empty()) {
    return Status::Unauthenticated("operator calls need the operator token as "
                                   "`authorization: Bearer TOKEN` (serve --operator-token-file)");
  }
  if (!SecretsEqual(token, policy.operator_token)) {
    spdlog::warn("refused an operator call with a wrong operator token from {}", peer);
    return Status::Unauthenticated("the operator token is not valid");
  }
  return Status::Ok();
}

Status AdmitOperator(const grpc::ServerContextBase& ctx, const AccessPolicy& policy) {
  TRIBUTARY_RETURN_IF_ERROR(
      PeerIdentity::Of(ctx, policy.mutual_tls).AllowsOperator(policy.operators));
  return AdmitOperatorToken(BearerToken(ctx), policy, ctx.peer());
}

}  // namespace tributary::gateway
