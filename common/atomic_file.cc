#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace tributary {

Status WriteFileAtomically(const std::string& path, std::span<const std::byte> bytes,
                           mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::FromErrno("creating " + tmp);
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      return Status::FromErrno("writing " + tmp, err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
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
