#include "shm/mounts.h"

#include <fstream>
#include <sstream>

namespace tributary::shm {

std::vector<Mount> ReadMounts() {
  std::vector<Mount> mounts;
  std::ifstream in("/proc/mounts");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    Mount m;
    if (fields >> m.source >> m.dir >> m.type >> m.options) mounts.push_back(std::move(m));
  }
  return mounts;
}

}  // namespace tributary::shm
