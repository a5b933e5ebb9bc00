#include "gateway/client_credentials.h"

#include <grpcpp/server_context.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <fstream>
#include <iterator>
#include <span>

#include "common/atomic_file.h"

namespace tributary::gateway {
namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::string_view kBearer = "Bearer ";

std::string Hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace

Result<ClientCredentials> ClientCredentials::LoadOrCreate(const std::string& key_file) {
  std::string key;
  if (!key_file.empty()) {
    std::ifstream in(key_file, std::ios::binary);
    if (in) {
      key.assign(std::istreambuf_iterator<char>(in), {});
      if (key.size() != kKeyBytes) {
        return Status::InvalidArgument("token key file " + key_file + " holds " +
                                       std::to_string(key.size()) + " bytes, not " +
                                       std::to_string(kKeyBytes));
      }
      return ClientCredentials(std::move(key));
    }
  }
  key.resize(kKeyBytes);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) != 1) {
    return Status::Internal("no randomness for the token key");
  }
  if (!key_file.empty()) {
    TRIBUTARY_RETURN_IF_ERROR(WriteFileAtomically(key_file, std::as_bytes(std::span(key))));
  }
  return ClientCredentials(std::move(key));
}

std::string ClientCredentials::Issue(uint64_t job, std::string_view client_id) const {
  // The job id as 8 fixed bytes, then the client id: no two (job, client) pairs share a message.
  std::string message(8, '\0');
  for (int i = 0; i < 8; ++i) message[i] = static_cast<char>(job >> (8 * i));
  message.append(client_id);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &n);
  return Hex(mac.data(), n);
}

Status ClientCredentials::Verify(uint64_t job, std::string_view client_id,
                                 std::string_view token) const {
  const std::string job_name = "job " + std::to_string(job);
  if (token.empty()) {
    return Status::Unauthenticated(job_name + " is restricted: send the access token its Join "
                                   "returned as `authorization: Bearer TOKEN`");
  }
  if (!SecretsEqual(token, Issue(job, client_id))) {
    return Status::Unauthenticated("the access token is not valid for client '" +
                                   std::string(client_id) + "' of " + job_name);
  }
  return Status::Ok();
}

bool SecretsEqual(std::string_view a, std::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

std::string_view BearerToken(const grpc::ServerContextBase& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return {};
  std::string_view value(it->second.data(), it->second.size());
  if (!value.starts_with(kBearer)) return {};
  return value.substr(kBearer.size());
}

}  // namespace tributary::gateway
