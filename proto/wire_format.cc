#include "proto/wire_format.h"

#include <string>

namespace tributary::proto {

uint8_t FirstByte(const std::vector<grpc::Slice>& slices) {
  for (const auto& s : slices) {
    if (s.size() > 0) return s.begin()[0];
  }
  return 0;
}

Result<ChunkPayload> ParseChunk(const std::vector<grpc::Slice>& slices) {
  std::size_t total = 0;
  for (const auto& s : slices) total += s.size();
  // Walk tag + varint (at most 1 + 10 bytes), possibly across slices.
  std::size_t si = 0, off = 0, consumed = 0;
  auto next = [&](uint8_t* b) {
    while (si < slices.size() && off >= slices[si].size()) {
      ++si;
      off = 0;
    }
    if (si >= slices.size()) return false;
    *b = slices[si].begin()[off++];
    ++consumed;
    return true;
  };
  uint8_t b = 0;
  if (!next(&b) || b != kChunkTag) return Status::InvalidArgument("message is not a chunk");
  uint64_t len = 0;
  for (int shift = 0;; shift += 7) {
    if (shift > 63 || !next(&b)) return Status::InvalidArgument("malformed chunk length");
    len |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (consumed + len != total) {
    return Status::InvalidArgument("chunk message of " + std::to_string(total) +
                                   " bytes declares a payload of " + std::to_string(len));
  }
  while (si < slices.size() && off >= slices[si].size() && len > 0) {
    ++si;
    off = 0;
  }
  return ChunkPayload{si, off, static_cast<std::size_t>(len)};
}

grpc::ByteBuffer ChunkMessage(const void* data, std::size_t length) {
  uint8_t prefix[11];
  std::size_t n = 0;
  prefix[n++] = kChunkTag;
  uint64_t v = length;
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    prefix[n++] = byte | (v ? 0x80 : 0);
  } while (v);
  grpc::Slice slices[2] = {
      grpc::Slice(prefix, n),
      grpc::Slice(const_cast<void*>(data), length, grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, length ? 2 : 1);
}

}  // namespace tributary::proto
