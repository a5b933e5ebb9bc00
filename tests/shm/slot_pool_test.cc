#include "shm/slot_pool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "shm/segment.h"

namespace tributary::shm {
namespace {

std::string UniqueName(const char* tag) {
  return "tributary-test-" + std::string(tag) + "-" + std::to_string(getpid());
}

class SlotPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = UniqueName(::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto pool = SlotPool::Create(
        {.name = name_, .slot_bytes = 10000, .num_slots = 4, .metadata = "{\"rule\":\"fedavg\"}"});
    ASSERT_TRUE(pool.has_value()) << pool.error();
    pool_ = std::move(pool).value();
  }
  void TearDown() override {
    pool_.reset();
    (void)SlotPool::Remove(name_);
  }
  std::string name_;
  std::unique_ptr<SlotPool> pool_;
};

TEST_F(SlotPoolTest, SlotsArePageRoundedAndDistinct) {
  EXPECT_EQ(pool_->slot_bytes(), 12288u);
  EXPECT_EQ(pool_->num_slots(), 4u);
  EXPECT_EQ(pool_->FreeSlots(), 4u);
  auto a = pool_->Allocate();
  auto b = pool_->Allocate();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->index, b->index);
  EXPECT_EQ(pool_->Bytes(b->index).data() - pool_->Bytes(a->index).data(),
            static_cast<std::ptrdiff_t>(12288) * (long(b->index) - long(a->index)));
}

// The size a pool is planned at is the size it takes: its segment, tables and slots, whose
// file holds that many bytes.
TEST_F(SlotPoolTest, SegmentBytesIsWhatThePoolMaps) {
  const std::size_t planned = SlotPool::SegmentBytes(10000, 4);
  EXPECT_EQ(planned, pool_->Mapping().size());
  EXPECT_GT(planned, 4u * 12288);  // the header and tables come on top of the slots
  struct stat st {};
  ASSERT_EQ(stat(PosixSegmentPath(name_).c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), planned);
  EXPECT_GE(static_cast<std::size_t>(st.st_blocks) * 512, planned);  // reserved, not a hole
  EXPECT_LT(planned, SlotPool::SegmentBytes(10000, 5));
}

TEST_F(SlotPoolTest, RefcountFreesAtZero) {
  auto h = pool_->Allocate();
  ASSERT_TRUE(h);
  EXPECT_EQ(pool_->RefCount(h->index), 1u);
  ASSERT_TRUE(pool_->Acquire(*h).ok());
  EXPECT_EQ(pool_->RefCount(h->index), 2u);
  EXPECT_EQ(pool_->FreeSlots(), 3u);
  ASSERT_TRUE(pool_->Release(*h).ok());
  EXPECT_EQ(pool_->FreeSlots(), 3u);
  ASSERT_TRUE(pool_->Release(*h).ok());
  EXPECT_EQ(pool_->FreeSlots(), 4u);
  // A released slot cannot be released again nor acquired by its stale handle.
  EXPECT_EQ(pool_->Release(*h).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(pool_->Acquire(*h).code(), StatusCode::kFailedPrecondition);
}

TEST_F(SlotPoolTest, StaleGenerationIsRefused) {
  auto first = pool_->Allocate();
  ASSERT_TRUE(first);
  ASSERT_TRUE(pool_->Release(*first).ok());
  // Cycle through all slots so that `first`'s index is reused.
  std::vector<SlotHandle> all;
  for (int i = 0; i < 4; ++i) all.push_back(*pool_->Allocate());
  EXPECT_EQ(pool_->Acquire(*first).code(), StatusCode::kFailedPrecondition);
  for (auto h : all) ASSERT_TRUE(pool_->Release(h).ok());
}

TEST_F(SlotPoolTest, FullPoolIsResourceExhausted) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pool_->Allocate());
  auto r = pool_->Allocate();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.error().message().find("full"), std::string::npos);
}

TEST_F(SlotPoolTest, DataIsSharedBetweenMappings) {
  auto other = SlotPool::Open(name_);
  ASSERT_TRUE(other) << other.error();
  auto h = pool_->Allocate();
  ASSERT_TRUE(h);
  std::memcpy(pool_->Bytes(h->index).data(), "tributary", 9);
  EXPECT_EQ(std::memcmp((*other)->Bytes(h->index).data(), "tributary", 9), 0);
  EXPECT_EQ((*other)->metadata(), "{\"rule\":\"fedavg\"}");
  // Same process: references are counted in one holder row.
  ASSERT_TRUE((*other)->Acquire(*h).ok());
  EXPECT_EQ(pool_->HeldByMe(h->index), 2u);
}

TEST_F(SlotPoolTest, OpenRejectsForeignSegments) {
  auto missing = SlotPool::Open(name_ + "-absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
}

// A child process takes references and is killed with SIGKILL; Reclaim gives its slots back
// without touching the parent's own references.
TEST_F(SlotPoolTest, SlotsOfKilledProcessAreReclaimed) {
  auto mine = pool_->Allocate();
  ASSERT_TRUE(mine);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto pool = SlotPool::Open(name_);
    if (!pool) _exit(2);
    for (int i = 0; i < 2; ++i) {
      if (!(*pool)->Allocate()) _exit(3);
    }
    if (!(*pool)->Acquire(*mine).ok()) _exit(4);
    char c = 'r';
    if (write(ready[1], &c, 1) != 1) _exit(5);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  EXPECT_EQ(pool_->FreeSlots(), 1u);
  EXPECT_EQ(pool_->RefCount(mine->index), 2u);
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(pool_->Reclaim(child), 3u);
  EXPECT_EQ(pool_->FreeSlots(), 3u);
  EXPECT_EQ(pool_->RefCount(mine->index), 1u);
  EXPECT_EQ(pool_->Reclaim(child), 0u);
}

TEST_F(SlotPoolTest, ReclaimDeadFindsExitedHolders) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto pool = SlotPool::Open(name_);
    if (!pool || !(*pool)->Allocate()) _exit(2);
    // Leave without closing: the reference stays with the dead pid.
    std::quick_exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(pool_->FreeSlots(), 3u);
  EXPECT_EQ(pool_->ReclaimDead(), 1u);
  EXPECT_EQ(pool_->FreeSlots(), 4u);
}

// The memory of free slots goes back to the system; slots still referenced keep their bytes.
TEST(SlotPoolDiscardTest, FreeSlotsGiveTheirMemoryBackAndHeldOnesKeepTheirBytes) {
  const std::string name = UniqueName("discard");
  constexpr std::size_t kSlot = 4 << 20;
  auto pool = SlotPool::Create({.name = name, .slot_bytes = kSlot, .num_slots = 4});
  ASSERT_TRUE(pool) << pool.error();
  auto held = (*pool)->Allocate();
  ASSERT_TRUE(held);
  std::memset((*pool)->Bytes(held->index).data(), 7, kSlot);
  auto allocated = [&] {
    struct stat st {};
    EXPECT_EQ(stat(PosixSegmentPath(name).c_str(), &st), 0);
    return static_cast<std::size_t>(st.st_blocks) * 512;
  };
  const std::size_t before = allocated();
  EXPECT_GE(before, 4 * kSlot);  // pre-faulted: every slot's pages are there
  auto discarded = (*pool)->DiscardFreeSlots();
  ASSERT_TRUE(discarded) << discarded.error();
  EXPECT_EQ(*discarded, 3 * kSlot);
  EXPECT_LE(allocated(), before - 3 * kSlot);
  const auto bytes = (*pool)->Bytes(held->index);
  EXPECT_TRUE(
      std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{7}; }));
  pool->reset();
  (void)SlotPool::Remove(name);
}

}  // namespace
}  // namespace tributary::shm
