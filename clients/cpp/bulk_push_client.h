// BulkPushClient: the SDK's side of the bulk push protocol (proto/bulk_push.h), which sends an
// update's bytes over a plain TCP connection to a node that receives them straight into shared
// memory.
//
// Connections are kept between pushes (at most four idle ones per node) and used by one push at
// a time. A kept connection the node has closed in the meantime (its idle timeout) is noticed
// before any payload goes out, and the push goes over a fresh one. Each chunk of the payload is
// hashed just before it is sent, and the checksum follows the last chunk. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "tributary/v1/client.pb.h"

namespace tributary::client {

class BulkPushClient {
 public:
  // `timeout`: the longest one send or receive may block (and connect: at most 3 s).
  explicit BulkPushClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  // Pushes `payload` as the update `header` describes to the node's bulk port `host`:`port`,
  // presenting `token` (empty: none). The node's answer, or UNAVAILABLE when the connection
  // broke in the middle; nullopt when no connection could be made at all (the caller then
  // pushes over gRPC instead).
  std::optional<Result<v1::PushReply>> Push(const std::string& host, uint16_t port,
                                            const v1::UpdateHeader& header, std::string_view token,
                                            std::span<const std::byte> payload);

 private:
  struct Idle {
    UniqueFd fd;
    std::chrono::steady_clock::time_point since;
  };
  Result<UniqueFd> Connect(const std::string& host, uint16_t port) const;
  // A kept connection to `endpoint`, or none.
  UniqueFd TakeIdle(const std::string& endpoint);
  void KeepIdle(const std::string& endpoint, UniqueFd fd);

  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
};

// The host of a gRPC target ("HOST:PORT", "[V6]:PORT", "dns:///HOST:PORT"); empty when it
// names none that a socket can reach directly.
std::string TargetHost(std::string_view target);

}  // namespace tributary::client
