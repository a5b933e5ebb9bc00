#include "shm/descriptor.h"

#include <cstring>
#include <string>

namespace tributary::shm {

Descriptor MakeDescriptor(DescriptorKind kind) {
  Descriptor d;
  std::memset(&d, 0, sizeof d);
  d.magic = TRIBUTARY_DESCRIPTOR_MAGIC;
  d.version = TRIBUTARY_DESCRIPTOR_VERSION;
  d.kind = static_cast<uint8_t>(kind);
  return d;
}

Status ValidateFrame(std::span<const std::byte> frame) {
  if (frame.size() != kDescriptorSize) {
    return Status::InvalidArgument("descriptor frame of " + std::to_string(frame.size()) +
                                   " bytes, expected " + std::to_string(kDescriptorSize));
  }
  Descriptor d;
  std::memcpy(&d, frame.data(), sizeof d);
  if (d.magic != TRIBUTARY_DESCRIPTOR_MAGIC) {
    return Status::InvalidArgument("descriptor magic " + std::to_string(d.magic) + " is wrong");
  }
  if (d.version != TRIBUTARY_DESCRIPTOR_VERSION) {
    return Status::FailedPrecondition("descriptor version " + std::to_string(d.version) +
                                      " is not supported (this build speaks " +
                                      std::to_string(TRIBUTARY_DESCRIPTOR_VERSION) + ")");
  }
  if (d.kind < TRIBUTARY_DESC_UPDATE || d.kind > TRIBUTARY_DESC_FLUSH) {
    return Status::InvalidArgument("descriptor kind " + std::to_string(d.kind) + " is unknown");
  }
  return Status::Ok();
}

ShardRange ShardOf(std::size_t elements, uint32_t num_shards, uint32_t shard) {
  constexpr std::size_t kAlign = 16;  // float32 elements per cache line
  const std::size_t lines = (elements + kAlign - 1) / kAlign;
  const std::size_t per = lines / num_shards;
  const std::size_t extra = lines % num_shards;
  const std::size_t first = shard * per + (shard < extra ? shard : extra);
  const std::size_t count = per + (shard < extra ? 1 : 0);
  std::size_t begin = first * kAlign;
  std::size_t end = (first + count) * kAlign;
  if (begin > elements) begin = elements;
  if (end > elements) end = elements;
  return {begin, end};
}

}  // namespace tributary::shm
