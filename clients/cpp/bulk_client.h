// BulkClient: the SDK's side of the bulk protocol (proto/bulk.h): an update's bytes go over a
// plain TCP connection to a node that receives them straight into shared memory, and a model's
// bytes come back the same way, received straight into the caller's vector.
//
// Connections are kept between requests (at most four idle ones per node) and used by one
// request at a time. A kept connection the node has closed in the meantime (its idle timeout)
// is noticed before any payload moves, and the request goes over a fresh one. Each 256 KiB of
// a payload is hashed just before it is sent (the checksum follows the last piece), and each
// 256 KiB of a model just after it is received. While several pushes of the process stream at
// once, each socket holds little unsent (push_pacing.h). Thread-safe.
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

class BulkClient {
 public:
  // `timeout`: the longest one send or receive may block (and connect: at most 3 s).
  explicit BulkClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  // Pushes `payload` as the update `header` describes to the node's bulk port `host`:`port`,
  // presenting `token` (empty: none). The node's answer, or UNAVAILABLE when the connection
  // broke in the middle; nullopt when no connection could be made at all (the caller then
  // pushes over gRPC instead).
  std::optional<Result<v1::PushReply>> Push(const std::string& host, uint16_t port,
                                            const v1::UpdateHeader& header, std::string_view token,
                                            std::span<const std::byte> payload);
  // Pulls the model `request` names from the node's bulk port into `out` (resized to it), and
  // checks it against its checksum: its version, why there is none, or UNAVAILABLE when the
  // connection broke in the middle; nullopt when no connection could be made.
  std::optional<Result<uint32_t>> Pull(const std::string& host, uint16_t port,
                                       const v1::PullRequest& request, std::string_view token,
                                       std::vector<float>* out);

 private:
  struct Idle {
    UniqueFd fd;
    std::chrono::steady_clock::time_point since;
  };
  // A connection that sent `hello`, with the node's answer to it (an Answer's reply, or why it
  // refused); nullopt when no connection could be made.
  struct Opened {
    std::string endpoint;
    UniqueFd fd;
    Result<std::string> answer;
  };
  std::optional<Opened> Open(const std::string& host, uint16_t port, const std::string& hello);
  // Keeps the connection for the next request unless the exchange ended with `outcome` that may
  // have left it out of step.
  void Done(Opened& opened, const Status& outcome);
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
