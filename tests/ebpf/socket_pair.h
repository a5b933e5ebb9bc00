// A connected loopback pair for router tests: `near` is the end a router attaches (as the node
// runtime attaches the socket it accepted from an aggregator), `far` the aggregator's own end,
// which the test reads.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "ebpf/loopback_pair.h"
#include "shm/descriptor.h"

namespace tributary::testing {

struct SocketPair {
  ebpf::LoopbackPair pair = std::move(ebpf::LoopbackPair::Connect().value());
  const int near = pair.accepted();
  const int far = pair.connected();

  // Every 64-byte frame that arrives at `far` within `ms` of quiet.
  std::vector<shm::Descriptor> Drain(int ms = 200) const { return DrainFd(far, ms); }

  static std::vector<shm::Descriptor> DrainFd(int fd, int ms) {
    std::vector<char> bytes;
    pollfd p{fd, POLLIN, 0};
    char buf[4096];
    while (poll(&p, 1, ms) > 0) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      bytes.insert(bytes.end(), buf, buf + n);
    }
    std::vector<shm::Descriptor> out(bytes.size() / sizeof(shm::Descriptor));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(shm::Descriptor));
    return out;
  }
};

}  // namespace tributary::testing
