// The bulk push protocol: a push over a plain TCP connection, whose payload the node receives
// straight into the update's shared-memory slot.
//
// A push over gRPC costs the node two copies of every byte (the kernel's into gRPC's receive
// buffers, then the gateway's into the slot) and HTTP/2 framing on top; over a plain socket the
// kernel's copy is the only one, and it lands in the slot. A node offers this path on the TCP
// port its JoinReply names (`bulk_push_port`, 0: none), on the host of its gRPC address, and
// only when that address is plaintext: the bulk connection is not encrypted. The checks are
// those of ClientService.Push, with the same status codes and messages.
//
// One connection carries any number of pushes, one after the other. Integers are
// little-endian.
//
//   client -> node  Hello   u32 kMagic, u32 header_len, u32 token_len, u32 0,
//                           header_len bytes: a serialized UpdateHeader (its checksum fields
//                           are ignored), token_len bytes: the access token that gRPC calls
//                           carry as `authorization: Bearer` (none: 0 bytes)
//   node -> client  Answer  u32 code (a gRPC status code), u32 message_len, u32 reply_len,
//                           u32 0, message_len bytes of error message, reply_len bytes of reply
//   After an OK Answer (no message, no reply) to its Hello the push is open:
//   client -> node          header.total_bytes bytes of payload, then its u64 XXH3-64 (seed 0)
//   node -> client  Answer  OK with a serialized PushReply, or why the update was refused
//   After a refused Hello nothing follows; the connection takes the next Hello.
//
// A node closes a connection whose Hello is malformed, or that stalls in the middle of a Hello
// or a payload for longer than its idle timeout; a push cut off that way is aborted, as is a
// gRPC push whose stream breaks.
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

struct HelloPrefix {
  uint32_t header_len = 0;
  uint32_t token_len = 0;
};

struct AnswerPrefix {
  StatusCode code = StatusCode::kOk;
  uint32_t message_len = 0;
  uint32_t reply_len = 0;
};

// A whole Hello: prefix, serialized header, token.
std::string EncodeHello(std::string_view header, std::string_view token);
// Reads the kPrefixBytes at `p`: INVALID_ARGUMENT on a wrong magic or lengths over the limits.
Result<HelloPrefix> DecodeHelloPrefix(const uint8_t* p);

// A whole Answer: `status` (its message cut to kMaxMessageBytes) and, when OK, `reply`.
std::string EncodeAnswer(const Status& status, std::string_view reply = {});
// Reads the kPrefixBytes at `p`: DATA_LOSS on an unknown code or lengths over the limits.
Result<AnswerPrefix> DecodeAnswerPrefix(const uint8_t* p);

}  // namespace tributary::proto::bulk
