// A connected loopback TCP pair for router tests: `near` is the end a router attaches (as the
// node runtime attaches the socket it accepted from an aggregator), `far` the end the
// "aggregator" reads.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "shm/descriptor.h"

namespace tributary::testing {

struct SocketPair {
  int near = -1, far = -1;
  SocketPair() {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(ls, 1);
    getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
    far = socket(AF_INET, SOCK_STREAM, 0);
    connect(far, reinterpret_cast<sockaddr*>(&a), sizeof a);
    near = accept(ls, nullptr, nullptr);
    close(ls);
  }
  ~SocketPair() {
    if (near >= 0) close(near);
    if (far >= 0) close(far);
  }
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
