#include "shm/descriptor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace tributary::shm {
namespace {

TEST(DescriptorTest, RoundTripsThroughBytes) {
  Descriptor d = MakeDescriptor(DescriptorKind::kUpdate);
  d.job = 0x0102030405060708ull;
  d.round = 7;
  d.shard = 3;
  d.num_shards = 8;
  d.slot = 42;
  d.slot_generation = 9;
  d.target_slot = 5;
  d.bytes = 44800000;
  d.weight = 123.5;
  d.client = 77;
  d.sequence = 1000;
  std::byte frame[kDescriptorSize];
  std::memcpy(frame, &d, sizeof d);
  ASSERT_TRUE(ValidateFrame(frame).ok());
  Descriptor back;
  std::memcpy(&back, frame, sizeof back);
  EXPECT_EQ(std::memcmp(&back, &d, sizeof d), 0);
  EXPECT_EQ(KindOf(back), DescriptorKind::kUpdate);
  // Field offsets are part of the wire format shared with the BPF program.
  EXPECT_EQ(offsetof(Descriptor, job), 8u);
  EXPECT_EQ(offsetof(Descriptor, round), 16u);
  EXPECT_EQ(offsetof(Descriptor, sequence), 56u);
}

TEST(DescriptorTest, RejectsWrongVersionMagicKindAndSize) {
  Descriptor d = MakeDescriptor(DescriptorKind::kDone);
  std::byte frame[kDescriptorSize];
  d.version = TRIBUTARY_DESCRIPTOR_VERSION + 1;
  std::memcpy(frame, &d, sizeof d);
  EXPECT_EQ(ValidateFrame(frame).code(), StatusCode::kFailedPrecondition);
  d = MakeDescriptor(DescriptorKind::kDone);
  d.magic = 0x1234;
  std::memcpy(frame, &d, sizeof d);
  EXPECT_EQ(ValidateFrame(frame).code(), StatusCode::kInvalidArgument);
  d = MakeDescriptor(DescriptorKind::kDone);
  d.kind = 99;
  std::memcpy(frame, &d, sizeof d);
  EXPECT_EQ(ValidateFrame(frame).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateFrame(std::span<const std::byte>(frame, 63)).code(),
            StatusCode::kInvalidArgument);
}

TEST(DescriptorTest, ShardsTileTheModelOnCacheLines) {
  for (std::size_t n : {1ul, 15ul, 16ul, 17ul, 1000ul, 1000003ul}) {
    for (uint32_t shards : {1u, 2u, 3u, 7u, 64u}) {
      std::size_t next = 0;
      for (uint32_t s = 0; s < shards; ++s) {
        ShardRange r = ShardOf(n, shards, s);
        EXPECT_EQ(r.begin, next) << n << "/" << shards << "/" << s;
        EXPECT_LE(r.begin, r.end);
        if (r.end < n) {
          EXPECT_EQ(r.end % 16, 0u);
        }
        next = r.end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

}  // namespace
}  // namespace tributary::shm
