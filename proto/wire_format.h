// Raw protobuf framing of update and model chunks, so payloads move between gRPC byte buffers
// and shared memory without being parsed into (and copied by) protobuf messages.
//
// PushMessage and PullMessage put a chunk in field 2 (`bytes chunk = 2`), so a chunk message is
// the tag byte 0x12, a varint length, and the raw bytes. These helpers read that prefix across
// slice boundaries and write it for outgoing chunks. Stateless and thread-safe.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/result.h"

namespace tributary::proto {

inline constexpr uint8_t kHeaderTag = 0x0A;  // field 1, length-delimited
inline constexpr uint8_t kChunkTag = 0x12;   // field 2, length-delimited
inline constexpr uint8_t kTrailerTag = 0x1A;  // field 3, length-delimited (a trailer)

// Where a chunk's payload starts inside a message's slices.
struct ChunkPayload {
  std::size_t slice = 0;   // first slice holding payload bytes
  std::size_t offset = 0;  // offset of the payload in that slice
  std::size_t length = 0;  // payload bytes
};

// Reads the first byte of a message (its tag), or 0 for an empty message.
uint8_t FirstByte(const std::vector<grpc::Slice>& slices);
// Parses "0x12 varint(len)" at the start of `slices` and checks that exactly `len` bytes
// follow. INVALID_ARGUMENT on any other shape.
Result<ChunkPayload> ParseChunk(const std::vector<grpc::Slice>& slices);
// A chunk message whose payload is `data` itself (not copied): `data` must stay valid until
// gRPC is done with the buffer.
grpc::ByteBuffer ChunkMessage(const void* data, std::size_t length);

}  // namespace tributary::proto
