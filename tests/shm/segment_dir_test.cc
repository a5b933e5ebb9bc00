// Where POSIX segments live: a directory of the node's choosing, the tmpfs with 2 MiB pages
// (shm/huge_tmpfs.h), and a directory that runs out of memory.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "shm/huge_tmpfs.h"
#include "shm/mounts.h"
#include "shm/segment.h"
#include "shm/slot_pool.h"

namespace tributary::shm {
namespace {

namespace fs = std::filesystem;

std::string UniqueName(const char* tag) {
  return "tributary-test-" + std::string(tag) + "-" + std::to_string(getpid());
}

// Each test puts its segments in a directory of its own and gives /dev/shm back at the end.
class SegmentDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = UniqueName(::testing::UnitTest::GetInstance()->current_test_info()->name());
    dir_ = "/dev/shm/" + name_ + "-dir";
    fs::create_directories(dir_);
  }
  void TearDown() override {
    SetPosixSegmentDir("/dev/shm");
    std::error_code ec;
    if (!mounted_.empty()) umount2(mounted_.c_str(), MNT_DETACH);
    fs::remove_all(dir_, ec);
  }
  std::string name_;
  std::string dir_;
  std::string mounted_;
};

TEST_F(SegmentDirTest, PoolsLiveInTheChosenDirectoryForEveryProcess) {
  SetPosixSegmentDir(dir_);
  EXPECT_EQ(PosixSegmentPath(name_), dir_ + "/" + name_);
  auto pool = SlotPool::Create({.name = name_, .slot_bytes = 1 << 16, .num_slots = 2});
  ASSERT_TRUE(pool) << pool.error();
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/" + name_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists("/dev/shm/" + name_));
  auto slot = (*pool)->Allocate();
  ASSERT_TRUE(slot);
  std::memcpy((*pool)->Bytes(slot->index).data(), "tributary", 9);
  const pid_t child = fork();
  if (child == 0) {  // another process of the node: opens the pool by name in the same directory
    auto other = SlotPool::Open(name_);
    _exit(other && std::memcmp((*other)->Bytes(slot->index).data(), "tributary", 9) == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  pool->reset();
  EXPECT_TRUE(SlotPool::Remove(name_).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/" + name_));
  EXPECT_EQ(SlotPool::Remove(name_).code(), StatusCode::kNotFound);
}

TEST_F(SegmentDirTest, NamesAreFileNames) {
  auto pool = SlotPool::Create({.name = "a/" + name_, .slot_bytes = 4096, .num_slots = 1});
  ASSERT_FALSE(pool);
  EXPECT_EQ(pool.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SlotPool::Remove("../" + name_).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SlotPool::Open("..").error().code(), StatusCode::kInvalidArgument);
}

// A pool larger than what its directory has left is refused at creation, instead of the
// process dying of SIGBUS when it first writes a page the tmpfs cannot give.
TEST_F(SegmentDirTest, FullDirectoryIsResourceExhausted) {
  if (mount("tributary-test", dir_.c_str(), "tmpfs", 0, "size=8m") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs (needs root): " << std::strerror(errno);
  }
  mounted_ = dir_;
  SetPosixSegmentDir(dir_);
  auto big = SlotPool::Create({.name = name_, .slot_bytes = 4 << 20, .num_slots = 3});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), StatusCode::kResourceExhausted) << big.error();
  EXPECT_FALSE(fs::exists(dir_ + "/" + name_)) << "a refused pool left its file";
  auto fits = SlotPool::Create({.name = name_, .slot_bytes = 1 << 20, .num_slots = 3});
  ASSERT_TRUE(fits) << fits.error();
  fits->reset();
  EXPECT_TRUE(SlotPool::Remove(name_).ok());
}

TEST_F(SegmentDirTest, HugeTmpfsBacksPoolsWith2MiBPages) {
  auto dir = PrepareHugeTmpfs();
  if (!dir) GTEST_SKIP() << "no tmpfs with huge pages here: " << dir.error();
  EXPECT_EQ(*dir, kHugeTmpfsDir);
  EXPECT_TRUE(IsHugeTmpfs(*dir));
  ASSERT_TRUE(PrepareHugeTmpfs());  // found, not mounted a second time
  int mounts = 0;
  for (const Mount& m : ReadMounts()) mounts += m.dir == *dir;
  EXPECT_EQ(mounts, 1);

  SetPosixSegmentDir(*dir);
  auto pool = SlotPool::Create({.name = name_, .slot_bytes = 8 << 20, .num_slots = 2});
  ASSERT_TRUE(pool) << pool.error();
  const std::string path = PosixSegmentPath(name_);
  // Mapped by page-middle-directory entries: 2 MiB at a time.
  EXPECT_GE(HugeMappedBytes(path), 8u << 20) << "the pool is not in 2 MiB pages";
  pool->reset();
  EXPECT_TRUE(SlotPool::Remove(name_).ok());
}

}  // namespace
}  // namespace tributary::shm
