#include "shm/huge_tmpfs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "shm/mounts.h"

namespace tributary::shm {
namespace {

// The kernel's policy for tmpfs huge pages: "deny" turns them off on every mount.
bool KernelDeniesShmemHugePages() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  std::string policy((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return policy.empty() || policy.find("[deny]") != std::string::npos;
}

}  // namespace

bool IsHugeTmpfs(const std::string& dir) {
  bool huge = false;
  for (const Mount& m : ReadMounts()) {  // the last mount on `dir` is the one seen there
    if (m.dir != dir) continue;
    huge = m.type == "tmpfs" && (m.options.find("huge=always") != std::string::npos ||
                                 m.options.find("huge=within_size") != std::string::npos);
  }
  return huge;
}

std::size_t HugeMappedBytes(const std::string& path, pid_t pid) {
  std::ifstream smaps(pid == 0 ? "/proc/self/smaps" : "/proc/" + std::to_string(pid) + "/smaps");
  std::size_t kb = 0;
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    const std::string first = line.substr(0, line.find(' '));
    if (first.find('-') != std::string::npos && !first.ends_with(":")) {  // a mapping's header
      inside = line.ends_with(" " + path);
    } else if (inside && first == "ShmemPmdMapped:") {
      kb += std::stoul(line.substr(first.size()));
    }
  }
  return kb << 10;
}

Result<std::string> PrepareHugeTmpfs() {
  if (KernelDeniesShmemHugePages()) {
    return Status::Unavailable(
        "the kernel gives tmpfs no huge pages "
        "(/sys/kernel/mm/transparent_hugepage/shmem_enabled is deny, or absent)");
  }
  const std::string dir = kHugeTmpfsDir;
  if (IsHugeTmpfs(dir)) return dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::FromErrno("creating " + dir, ec.value());
  const std::string lock_path = dir + ".lock";
  const int lock = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return Status::FromErrno("opening " + lock_path);
  Status s = Status::Ok();
  if (flock(lock, LOCK_EX) != 0) {
    s = Status::FromErrno("locking " + lock_path);
  } else if (!IsHugeTmpfs(dir) && mount("tributary-shm", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                                        "huge=within_size,mode=1777,size=50%") != 0) {
    s = Status::FromErrno("mounting a tmpfs with huge pages on " + dir);
  }
  close(lock);  // and with it the lock
  TRIBUTARY_RETURN_IF_ERROR(s);
  return dir;
}

}  // namespace tributary::shm
