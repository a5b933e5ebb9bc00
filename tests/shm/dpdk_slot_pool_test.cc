// SlotPool on DPDK memory: the slots are the objects of an rte_mempool laid over the pool's
// memzone, one object per slot, and the pool takes and gives them as its table decides.
//   - every slot is exactly one of the mempool's objects, and they do not overlap;
//   - the mempool's free count follows allocation and release, down to RESOURCE_EXHAUSTED;
//   - the references of a process that died go back to the mempool on ReclaimDead;
//   - processes killed while allocating and releasing (inside the pool's lock, and maybe inside
//     a mempool operation) leave the mempool whole: every slot can be taken once, no more.
// The process attaches to DPDK as the EAL primary (once per process, hence an executable of
// its own). Needs root and a build with DPDK; skipped otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "shm/dpdk_memory.h"
#include "shm/slot_pool.h"

#ifdef TRIBUTARY_HAVE_DPDK
#include <rte_mempool.h>
#endif

namespace tributary::shm {
namespace {

#ifdef TRIBUTARY_HAVE_DPDK
// The mempool whose objects include `address`, or null.
rte_mempool* MempoolHolding(const void* address) {
  struct Search {
    const void* address;
    rte_mempool* found;
  } search{address, nullptr};
  rte_mempool_walk(
      [](rte_mempool* mp, void* opaque) {
        auto* s = static_cast<Search*>(opaque);
        rte_mempool_obj_iter(
            mp,
            [](rte_mempool* pool, void* o, void* object, unsigned) {
              auto* in = static_cast<Search*>(o);
              if (object == in->address) in->found = pool;
            },
            s);
      },
      &search);
  return search.found;
}

std::set<const void*> ObjectsOf(rte_mempool* mp) {
  std::set<const void*> objects;
  rte_mempool_obj_iter(
      mp,
      [](rte_mempool*, void* out, void* object, unsigned) {
        static_cast<std::set<const void*>*>(out)->insert(object);
      },
      &objects);
  return objects;
}
#endif

class DpdkSlotPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!DpdkMemory::Built() || geteuid() != 0) return;
    auto memory = DpdkMemory::Attach({.file_prefix = "slot-pool-test-" + std::to_string(getpid()),
                                      .primary = true,
                                      .memory_bytes = 64u << 20});
    if (memory)
      memory_ = std::move(memory).value();
    else
      attach_error_ = memory.error().ToString();
  }
  static void TearDownTestSuite() { memory_.reset(); }

  void SetUp() override {
    if (!DpdkMemory::Built()) GTEST_SKIP() << "this build has no DPDK backend";
    if (geteuid() != 0) GTEST_SKIP() << "the DPDK backend needs root (hugepages, the EAL)";
    if (!memory_) GTEST_SKIP() << "no DPDK memory here: " << attach_error_;
    name_ = "dpdk-pool-" + std::to_string(getpid());
    auto pool = SlotPool::Create({.name = name_, .slot_bytes = (1u << 20) + 5, .num_slots = 6});
    ASSERT_TRUE(pool) << pool.error();
    pool_ = std::move(pool).value();
  }
  void TearDown() override {
    pool_.reset();
    if (memory_) (void)SlotPool::Remove(name_);
  }

  static inline std::unique_ptr<DpdkMemory> memory_;
  static inline std::string attach_error_;
  std::string name_;
  std::unique_ptr<SlotPool> pool_;
};

#ifdef TRIBUTARY_HAVE_DPDK
TEST_F(DpdkSlotPoolTest, EverySlotIsOneObjectOfTheMempool) {
  rte_mempool* mp = MempoolHolding(pool_->Bytes(0).data());
  ASSERT_NE(mp, nullptr) << "slot 0 is no mempool object";
  EXPECT_EQ(mp->size, pool_->num_slots());
  EXPECT_GE(mp->elt_size, pool_->slot_bytes());
  EXPECT_EQ(SlotPool::SegmentBytes((1u << 20) + 5, 6), pool_->Mapping().size());
  std::set<const void*> slots;
  for (uint32_t i = 0; i < pool_->num_slots(); ++i) slots.insert(pool_->Bytes(i).data());
  EXPECT_EQ(slots, ObjectsOf(mp));

  // Written whole, no slot runs into another.
  for (uint32_t i = 0; i < pool_->num_slots(); ++i) {
    std::memset(pool_->Bytes(i).data(), int(i + 1), pool_->slot_bytes());
  }
  for (uint32_t i = 0; i < pool_->num_slots(); ++i) {
    auto bytes = pool_->Bytes(i);
    EXPECT_TRUE(
        std::all_of(bytes.begin(), bytes.end(), [&](std::byte b) { return b == std::byte(i + 1); }))
        << "slot " << i;
  }
}

TEST_F(DpdkSlotPoolTest, AllocationTakesFromTheMempoolAndReleaseGivesBack) {
  rte_mempool* mp = MempoolHolding(pool_->Bytes(0).data());
  ASSERT_NE(mp, nullptr);
  EXPECT_EQ(rte_mempool_avail_count(mp), 6u);
  std::vector<SlotHandle> held;
  for (int i = 0; i < 6; ++i) {
    auto slot = pool_->Allocate();
    ASSERT_TRUE(slot) << slot.error();
    held.push_back(*slot);
    EXPECT_EQ(rte_mempool_avail_count(mp), 5u - i);
    EXPECT_EQ(pool_->FreeSlots(), 5u - i);
  }
  auto full = pool_->Allocate();
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), StatusCode::kResourceExhausted);

  // A slot with a second reference goes back only with its last one.
  ASSERT_TRUE(pool_->Acquire(held[2]).ok());
  ASSERT_TRUE(pool_->Release(held[2]).ok());
  EXPECT_EQ(rte_mempool_avail_count(mp), 0u);
  ASSERT_TRUE(pool_->Release(held[2]).ok());
  EXPECT_EQ(rte_mempool_avail_count(mp), 1u);
  auto again = pool_->Allocate();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->index, held[2].index) << "the only free object";
  EXPECT_NE(again->generation, held[2].generation);
  held[2] = *again;

  for (const SlotHandle& h : held) ASSERT_TRUE(pool_->Release(h).ok());
  EXPECT_EQ(rte_mempool_avail_count(mp), 6u);
  EXPECT_EQ(pool_->FreeSlots(), 6u);
}

TEST_F(DpdkSlotPoolTest, ADeadProcessSlotsGoBackToTheMempool) {
  rte_mempool* mp = MempoolHolding(pool_->Bytes(0).data());
  ASSERT_NE(mp, nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Opens the pool as a process of its own, takes three slots and dies holding them.
    auto pool = SlotPool::Open(name_);
    if (!pool) _exit(2);
    for (int i = 0; i < 3; ++i) {
      if (!(*pool)->Allocate()) _exit(3);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(rte_mempool_avail_count(mp), 3u);
  EXPECT_EQ(pool_->FreeSlots(), 3u);
  EXPECT_EQ(pool_->ReclaimDead(), 3u);
  EXPECT_EQ(rte_mempool_avail_count(mp), 6u);
  EXPECT_EQ(pool_->FreeSlots(), 6u);
}

TEST_F(DpdkSlotPoolTest, KillsMidAllocationLeaveTheMempoolWhole) {
  rte_mempool* mp = MempoolHolding(pool_->Bytes(0).data());
  ASSERT_NE(mp, nullptr);
  std::mt19937 random(7);
  for (int round = 0; round < 20; ++round) {
    // The child is killed only once it opened the pool: the EAL's own locks (taken by the
    // lookups in Open) are not robust.
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto pool = SlotPool::Open(name_);
      if (!pool || write(ready[1], "r", 1) != 1) _exit(2);
      for (;;) {
        auto a = (*pool)->Allocate();
        auto b = (*pool)->Allocate();
        if (a) (void)(*pool)->Release(*a);
        if (b) (void)(*pool)->Release(*b);
      }
    }
    char byte = 0;
    close(ready[1]);
    const bool opened = read(ready[0], &byte, 1) == 1;
    close(ready[0]);
    if (opened) std::this_thread::sleep_for(std::chrono::microseconds(random() % 2000));
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(opened && WIFSIGNALED(status)) << "the child stopped by itself: " << status;
    (void)pool_->ReclaimDead();
    ASSERT_EQ(pool_->FreeSlots(), 6u) << "after kill " << round;
    ASSERT_EQ(rte_mempool_avail_count(mp), 6u) << "after kill " << round;
    std::set<uint32_t> taken;
    std::vector<SlotHandle> held;
    for (int i = 0; i < 6; ++i) {
      auto slot = pool_->Allocate();
      ASSERT_TRUE(slot) << slot.error();
      taken.insert(slot->index);
      held.push_back(*slot);
    }
    EXPECT_EQ(taken.size(), 6u) << "a slot was handed out twice";
    EXPECT_FALSE(pool_->Allocate());
    for (const SlotHandle& h : held) ASSERT_TRUE(pool_->Release(h).ok());
  }
}
#endif

}  // namespace
}  // namespace tributary::shm
