#include "common/atomic_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

namespace tributary {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A disk-backed directory where there is one (/var/tmp), since /tmp may be tmpfs.
    const fs::path base = fs::exists("/var/tmp") ? fs::path("/var/tmp") : fs::temp_directory_path();
    dir_ = base / ("tributary-atomic-file-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<std::byte> Read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
    std::vector<std::byte> bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    return bytes;
  }
  // Pages of `path` in the page cache.
  static std::size_t CachedPages(const fs::path& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const std::size_t size = fs::file_size(path);
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    const std::size_t page = sysconf(_SC_PAGESIZE);
    std::vector<unsigned char> resident((size + page - 1) / page);
    mincore(map, size, resident.data());
    munmap(map, size);
    std::size_t n = 0;
    for (unsigned char r : resident) n += r & 1;
    return n;
  }
  // Whether files in `dir_` can be written with O_DIRECT (not on tmpfs before Linux 6.6).
  bool DirectSupported() const {
    const fs::path probe = dir_ / "probe";
    const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
    bool written = false;
    if (fd >= 0) {
      void* block = std::aligned_alloc(4096, 4096);
      std::memset(block, 0, 4096);
      written = write(fd, block, 4096) == 4096;
      std::free(block);
      close(fd);
    }
    fs::remove(probe);
    return written;
  }

  static std::vector<std::byte> Pattern(std::byte* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = std::byte(i * 7 + i / 4096);
    return {out, out + n};
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, SmallFileIsReplacedWhole) {
  const fs::path path = dir_ / "small";
  std::vector<std::byte> first(100, std::byte{1}), second(37, std::byte{2});
  ASSERT_TRUE(WriteFileAtomically(path, first).ok());
  ASSERT_TRUE(WriteFileAtomically(path, second).ok());
  EXPECT_EQ(Read(path), second);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST_F(AtomicFileTest, LargeAlignedBufferIsWrittenWithItsExactLength) {
  constexpr std::size_t kBytes = (3u << 20) + 123;  // whole blocks and a partial last one
  std::unique_ptr<std::byte, decltype(&std::free)> buffer(
      static_cast<std::byte*>(std::aligned_alloc(4096, kBytes + 4096 - kBytes % 4096)), &std::free);
  const auto want = Pattern(buffer.get(), kBytes);
  const fs::path path = dir_ / "model.bin";
  ASSERT_TRUE(WriteFileAtomically(path, {buffer.get(), kBytes}).ok());
  ASSERT_EQ(fs::file_size(path), kBytes);
  EXPECT_EQ(Read(path), want);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST_F(AtomicFileTest, LargeAlignedBufferBypassesThePageCache) {
  if (!DirectSupported()) GTEST_SKIP() << dir_ << " does not take O_DIRECT writes";
  constexpr std::size_t kBytes = (2u << 20) + 4000;
  std::unique_ptr<std::byte, decltype(&std::free)> buffer(
      static_cast<std::byte*>(std::aligned_alloc(4096, kBytes + 4096 - kBytes % 4096)), &std::free);
  Pattern(buffer.get(), kBytes);
  const fs::path path = dir_ / "direct.bin";
  ASSERT_TRUE(WriteFileAtomically(path, {buffer.get(), kBytes}).ok());
  EXPECT_EQ(CachedPages(path), 0u) << "written through the page cache";
}

TEST_F(AtomicFileTest, LargeUnalignedBufferIsWrittenThroughTheCache) {
  constexpr std::size_t kBytes = (2u << 20) + 5;
  std::vector<std::byte> storage(kBytes + 1);
  const auto want = Pattern(storage.data() + 1, kBytes);  // off any block boundary
  const fs::path path = dir_ / "unaligned.bin";
  ASSERT_TRUE(WriteFileAtomically(path, {storage.data() + 1, kBytes}).ok());
  EXPECT_EQ(Read(path), want);
}

}  // namespace
}  // namespace tributary
