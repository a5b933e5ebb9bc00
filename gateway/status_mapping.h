// Maps tributary::Status onto grpc::Status (and back) at the network edge: the codes are the canonical
// gRPC codes, so the mapping is one to one and the message travels unchanged.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace tributary::gateway {

inline grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

inline Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  return Status(static_cast<StatusCode>(s.error_code()), s.error_message());
}

}  // namespace tributary::gateway
