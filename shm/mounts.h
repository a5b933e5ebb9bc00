// Mounts: the file systems mounted in this process's mount namespace, as /proc/mounts lists
// them, for the backends that look for (or make) a mount of their own kind.
#pragma once

#include <string>
#include <vector>

namespace tributary::shm {

struct Mount {
  std::string source;
  std::string dir;
  std::string type;     // "tmpfs", "hugetlbfs", ...
  std::string options;  // comma-separated, as the kernel shows them
};

// In mount order: where two share a directory, the later one is the one seen there.
std::vector<Mount> ReadMounts();

}  // namespace tributary::shm
