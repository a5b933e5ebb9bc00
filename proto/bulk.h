// The bulk protocol: pushes and pulls over a plain TCP connection, whose bytes go between the
// socket and the model's shared-memory slot with no other copy.
//
// A gRPC push costs the node two copies of every byte (the kernel's into gRPC's receive
// buffers, then the gateway's into the slot) and HTTP/2 framing on top, and a gRPC pull costs
// the client two (out of gRPC's buffers, then into its vector); over a plain socket the
// kernel's copy is the only one on either side. A node offers this path on the TCP port its
// JoinReply names (`bulk_port`, 0: none), on the host of its gRPC address, and only when that
// address is plaintext: the bulk connection is not encrypted. The checks are those of
// ClientService.Push and ClientService.Pull, with the same status codes and messages.
//
// One connection carries any number of pushes and pulls, one after the other. Integers are
// little-endian.
//
//   client -> node  Hello   u32 kMagic, u32 header_len, u32 token_len, u32 kind (HelloKind),
//                           header_len bytes: a serialized UpdateHeader (push; its checksum
//                           fields are ignored) or PullRequest (pull), token_len bytes: the
//                           access token that gRPC calls carry as `authorization: Bearer`
//                           (none: 0 bytes)
//   node -> client  Answer  u32 code (a gRPC status code), u32 message_len, u32 reply_len,
//                           u32 0, message_len bytes of error message, reply_len bytes of reply
//   Push: after an OK Answer (no message, no reply) to its Hello the push is open:
//   client -> node          header.total_bytes bytes of payload, then its u64 XXH3-64 (seed 0)
//   node -> client  Answer  OK with a serialized PushReply, or why the update was refused
//   Pull: the Answer comes once the model is published (PullRequest.wait), or at once:
//   node -> client  Answer  OK with a serialized ModelHeader, or why there is no model
//   node -> client          after an OK Answer: ModelHeader.total_bytes bytes of the model,
//                           whose XXH3-64 is ModelHeader.checksum, or, where the header sets
//                           checksum_in_trailer, follows them as a u64
//   After a refused Hello nothing follows; the connection takes the next Hello.
//
// A node closes a connection whose Hello is malformed, that sends while its pull is answered,
// or that stalls in the middle of a Hello or a payload for longer than its idle timeout; a push
// cut off that way is aborted, as is a gRPC push whose stream breaks. A pull waiting for its
// model is not idle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tributary::proto::bulk {

inline constexpr uint32_t kMagic = 0x31504254;   // "TBP1"
inline constexpr std::size_t kPrefixBytes = 16;  // of a Hello and of an Answer
inline constexpr uint32_t kMaxHeaderBytes = 4u << 10;
inline constexpr uint32_t kMaxTokenBytes = 4u << 10;
inline constexpr uint32_t kMaxMessageBytes = 64u << 10;  // an Answer's message, and its reply

enum class HelloKind : uint32_t { kPush = 0, kPull = 1 };

struct HelloPrefix {
  uint32_t header_len = 0;
  uint32_t token_len = 0;
  HelloKind kind = HelloKind::kPush;
};

struct AnswerPrefix {
  StatusCode code = StatusCode::kOk;
  uint32_t message_len = 0;
  uint32_t reply_len = 0;
};

// A checksum on the wire (after a push's payload, and after a pull's model where its header
// sets checksum_in_trailer): the XXH3-64 as a u64.
inline constexpr std::size_t kChecksumBytes = 8;
inline void EncodeChecksum(uint64_t checksum, uint8_t* p) {
  for (std::size_t i = 0; i < kChecksumBytes; ++i) p[i] = static_cast<uint8_t>(checksum >> (8 * i));
}
inline uint64_t DecodeChecksum(const uint8_t* p) {
  uint64_t checksum = 0;
  for (std::size_t i = kChecksumBytes; i-- > 0;) checksum = checksum << 8 | p[i];
  return checksum;
}

// A whole Hello: prefix, serialized header (UpdateHeader or PullRequest), token.
std::string EncodeHello(HelloKind kind, std::string_view header, std::string_view token);
// Reads the kPrefixBytes at `p`: INVALID_ARGUMENT on a wrong magic, an unknown kind or lengths
// over the limits.
Result<HelloPrefix> DecodeHelloPrefix(const uint8_t* p);

// A whole Answer: `status` (its message cut to kMaxMessageBytes) and, when OK, `reply`.
std::string EncodeAnswer(const Status& status, std::string_view reply = {});
// Reads the kPrefixBytes at `p`: DATA_LOSS on an unknown code or lengths over the limits.
Result<AnswerPrefix> DecodeAnswerPrefix(const uint8_t* p);

}  // namespace tributary::proto::bulk
