// ReceiveLowWater: a TCP socket's receive low-water mark (SO_RCVLOWAT), set only where it
// cannot stall the connection.
//
// With a mark of N bytes the kernel wakes a reader (and epoll reports the socket readable) once
// N bytes are queued rather than as each segment lands, so a bulk transfer is read in pieces
// of N with a fraction of the wakeups. Two ways it can stall, both avoided here:
//   - The kernel never wakes for less than the mark, so a mark above the bytes still to come
//     waits forever: callers pass what is still expected and the mark follows it down.
//   - Linux clamps the receive window to the mark when the receive buffer must grow to hold it
//     (tcp_set_rcvlowat), and a window no larger than the mark may never hold the mark's bytes
//     at once (it is advertised in whole segments). The mark is therefore set only once
//     autotuning has grown the buffer to four times the mark; until then it stays at 1.
// Not thread-safe; one per socket.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>

namespace tributary {

class ReceiveLowWater {
 public:
  // `max_bytes`: the mark asked for while more than that is still to come.
  ReceiveLowWater(int fd, std::size_t max_bytes) : fd_(fd), max_(static_cast<int>(max_bytes)) {}

  // `expected`: bytes the reader still expects on the socket before it would block for
  // anything else (0 or 1: wake on every byte, for frames and idle connections).
  void Expect(std::size_t expected) {
    int want = static_cast<int>(std::clamp<std::size_t>(expected, 1, max_));
    if (want == current_) return;
    if (want > current_) {
      int buffer = 0;
      socklen_t len = sizeof(buffer);
      if (getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, &len) != 0 || buffer / 4 < want) {
        want = 1;
        if (want == current_) return;
      }
    }
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == 0) current_ = want;
  }

 private:
  int fd_;
  int max_;
  int current_ = 1;
};

}  // namespace tributary
