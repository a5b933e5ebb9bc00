#include "ebpf/loopback_pair.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace tributary::ebpf {

Result<LoopbackPair> LoopbackPair::Connect(bool nodelay) {
  const int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) return Status::FromErrno("loopback socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(ls, 1) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    Status s = Status::FromErrno("loopback listener");
    close(ls);
    return s;
  }
  const int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    Status s = Status::FromErrno("loopback connect");
    if (c >= 0) close(c);
    close(ls);
    return s;
  }
  const int p = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
  Status accept_status = p < 0 ? Status::FromErrno("loopback accept") : Status::Ok();
  close(ls);
  if (!accept_status.ok()) {
    close(c);
    return accept_status;
  }
  if (nodelay) {
    const int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(p, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return LoopbackPair(c, p);
}

LoopbackPair::LoopbackPair(LoopbackPair&& other) noexcept
    : connected_(std::exchange(other.connected_, -1)),
      accepted_(std::exchange(other.accepted_, -1)) {}

LoopbackPair& LoopbackPair::operator=(LoopbackPair&& other) noexcept {
  if (this != &other) {
    this->~LoopbackPair();
    connected_ = std::exchange(other.connected_, -1);
    accepted_ = std::exchange(other.accepted_, -1);
  }
  return *this;
}

LoopbackPair::~LoopbackPair() {
  if (connected_ >= 0) close(connected_);
  if (accepted_ >= 0) close(accepted_);
}

int LoopbackPair::ReleaseConnected() { return std::exchange(connected_, -1); }
int LoopbackPair::ReleaseAccepted() { return std::exchange(accepted_, -1); }

}  // namespace tributary::ebpf
