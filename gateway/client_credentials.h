// ClientCredentials: the access tokens that bind a client id to a job, and the comparison of
// secrets.
//
// A token is HMAC-SHA256(node key, job id, client id) in hex: the node issues it when a client
// joins a restricted job (see JobAccess in job.proto) and recomputes it to check each call, so
// it keeps no per-client state and a token cannot be stretched to another client or job. The
// key is 32 random bytes; with a key file it survives restarts of the node (tokens stay
// valid), without one it lives as long as the process. Secrets are compared in constant time
// and never logged. A ClientCredentials is immutable: share it across threads freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace grpc {
class ServerContextBase;
}

namespace tributary::gateway {

class ClientCredentials {
 public:
  // The key in `key_file` (32 bytes), created there (mode 0600, written atomically) when the
  // file does not exist; an empty path: a fresh key held in memory only.
  static Result<ClientCredentials> LoadOrCreate(const std::string& key_file);

  // The access token of `client_id` in `job`.
  std::string Issue(uint64_t job, std::string_view client_id) const;
  // OK when `token` is the access token of `client_id` in `job`; UNAUTHENTICATED otherwise
  // (no token, or one issued for another client or job, or forged).
  Status Verify(uint64_t job, std::string_view client_id, std::string_view token) const;

 private:
  explicit ClientCredentials(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// Whether two secrets are equal, in time independent of where they differ and of their lengths
// (compares their SHA-256 digests in constant time).
bool SecretsEqual(std::string_view a, std::string_view b);

// The token of a call's `authorization: Bearer TOKEN` metadata; empty when there is none.
std::string_view BearerToken(const grpc::ServerContextBase& ctx);

}  // namespace tributary::gateway
