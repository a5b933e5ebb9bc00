#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace tributary {
namespace {

constexpr std::size_t kDirectBlock = 4096;         // covers 512-byte and 4 KiB sectors
constexpr std::size_t kDirectMinBytes = 1u << 20;  // smaller files go through the cache

// Writes all of [p, p + n) at the file's offset; false with errno set on failure.
bool WriteAll(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Writes `bytes` with O_DIRECT into the empty file `fd` (opened with it): whole blocks straight
// from the caller's memory, the last partial block through an aligned bounce block, then the
// length cut back to the exact size. False with errno set on failure.
bool WriteDirect(int fd, std::span<const std::byte> bytes) {
  const std::size_t whole = bytes.size() / kDirectBlock * kDirectBlock;
  if (!WriteAll(fd, bytes.data(), whole)) return false;
  const std::size_t tail = bytes.size() - whole;
  if (tail == 0) return true;
  std::unique_ptr<std::byte, decltype(&std::free)> block(
      static_cast<std::byte*>(std::aligned_alloc(kDirectBlock, kDirectBlock)), &std::free);
  if (!block) {
    errno = ENOMEM;
    return false;
  }
  std::memset(block.get(), 0, kDirectBlock);
  std::memcpy(block.get(), bytes.data() + whole, tail);
  return WriteAll(fd, block.get(), kDirectBlock) &&
         ftruncate(fd, static_cast<off_t>(bytes.size())) == 0;
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::span<const std::byte> bytes, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const bool aligned = reinterpret_cast<uintptr_t>(bytes.data()) % kDirectBlock == 0;
  const bool try_direct = bytes.size() >= kDirectMinBytes && aligned;
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  int fd = try_direct ? open(tmp.c_str(), flags | O_DIRECT, mode) : -1;
  bool written = fd >= 0 && WriteDirect(fd, bytes);
  if (!written && (fd < 0 || errno == EINVAL)) {  // O_DIRECT not supported here
    if (fd >= 0) close(fd);
    fd = open(tmp.c_str(), flags, mode);
    if (fd < 0) return Status::FromErrno("creating " + tmp);
    written = WriteAll(fd, bytes.data(), bytes.size());
  }
  if (!written) {
    const int err = errno;
    close(fd);
    return Status::FromErrno("writing " + tmp, err);
  }
  if (fsync(fd) != 0) {
    const int err = errno;
    close(fd);
    return Status::FromErrno("syncing " + tmp, err);
  }
  close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("renaming " + tmp);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dir_fd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Status::FromErrno("opening " + dir);
  const int synced = fsync(dir_fd);
  const int err = errno;
  close(dir_fd);
  return synced == 0 ? Status::Ok() : Status::FromErrno("syncing " + dir, err);
}

}  // namespace tributary
