// Descriptor: the C++ face of the 64-byte frame defined in descriptor_format.h.
//
// Provides construction with magic and version filled in, validation of frames read from a
// socket, and the shard arithmetic both ends of a descriptor must agree on. Stateless and
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"
#include "shm/descriptor_format.h"

namespace tributary::shm {

using Descriptor = ::tributary_descriptor;
inline constexpr std::size_t kDescriptorSize = TRIBUTARY_DESCRIPTOR_SIZE;

enum class DescriptorKind : uint8_t {
  kUpdate = TRIBUTARY_DESC_UPDATE,
  kFinish = TRIBUTARY_DESC_FINISH,
  kDone = TRIBUTARY_DESC_DONE,
  kHello = TRIBUTARY_DESC_HELLO,
  kFailed = TRIBUTARY_DESC_FAILED,
  kJobEnded = TRIBUTARY_DESC_JOB_ENDED,
  kFlush = TRIBUTARY_DESC_FLUSH,
};

// A zeroed descriptor of `kind` with magic and version set.
Descriptor MakeDescriptor(DescriptorKind kind);

inline DescriptorKind KindOf(const Descriptor& d) { return static_cast<DescriptorKind>(d.kind); }

// Checks a frame received from another process: size, magic, version and a known kind.
Status ValidateFrame(std::span<const std::byte> frame);

// The half-open element range [begin, end) of `shard` when `elements` are split into
// `num_shards` contiguous shards. Boundaries fall on 64-byte multiples of float32 (16
// elements) so that no two shards share a cache line. REQUIRES: shard < num_shards.
struct ShardRange {
  std::size_t begin;
  std::size_t end;
  std::size_t size() const { return end - begin; }
};
ShardRange ShardOf(std::size_t elements, uint32_t num_shards, uint32_t shard);

// The lane of shard `shard` of tree node `node` (see descriptor_format.h), and back.
inline uint32_t LaneOf(uint32_t node, uint32_t num_shards, uint32_t shard) {
  return node * num_shards + shard;
}
inline uint32_t ShardIndexOf(const Descriptor& d) {
  return d.num_shards ? d.shard % d.num_shards : 0;
}
inline uint32_t NodeOf(const Descriptor& d) { return d.num_shards ? d.shard / d.num_shards : 0; }
// Lanes a descriptor can name: nodes x shards of one round must stay below this.
inline constexpr uint32_t kMaxLanes = 1u << 16;

}  // namespace tributary::shm
