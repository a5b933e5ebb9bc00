// ReceiveLowWater: a socket with a mark is readable only once that many bytes are queued; the
// mark follows the bytes still expected down; and it is not set while the receive buffer is
// too small to hold it four times over (where Linux would clamp the window to it).
#include "common/receive_low_water.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <vector>

#include "ebpf/loopback_pair.h"

namespace tributary {
namespace {

bool Readable(int fd) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  return poll(&p, 1, 100) == 1 && (p.revents & POLLIN);
}

void Send(int fd, std::size_t n) {
  std::vector<char> bytes(n, 'x');
  ASSERT_EQ(send(fd, bytes.data(), n, 0), static_cast<ssize_t>(n));
}

void Drain(int fd, std::size_t n) {
  std::vector<char> bytes(n);
  ASSERT_EQ(recv(fd, bytes.data(), n, MSG_WAITALL), static_cast<ssize_t>(n));
}

TEST(ReceiveLowWaterTest, ReadableOnlyOnceTheMarkIsQueuedAndTheMarkFollowsWhatIsLeft) {
  auto pair = ebpf::LoopbackPair::Connect();
  ASSERT_TRUE(pair) << pair.error();
  ReceiveLowWater mark(pair->accepted(), 4096);
  mark.Expect(10000);  // more than the most: the mark is 4096
  Send(pair->connected(), 3000);
  EXPECT_FALSE(Readable(pair->accepted()));
  Send(pair->connected(), 1096);
  EXPECT_TRUE(Readable(pair->accepted()));
  Drain(pair->accepted(), 4096);

  mark.Expect(500);  // the last 500 bytes of what is expected
  Send(pair->connected(), 499);
  EXPECT_FALSE(Readable(pair->accepted()));
  Send(pair->connected(), 1);
  EXPECT_TRUE(Readable(pair->accepted()));
  Drain(pair->accepted(), 500);

  mark.Expect(1);  // frames: every byte wakes
  Send(pair->connected(), 1);
  EXPECT_TRUE(Readable(pair->accepted()));
}

TEST(ReceiveLowWaterTest, StaysAtOneWhileTheBufferCannotHoldTheMarkFourTimes) {
  auto pair = ebpf::LoopbackPair::Connect();
  ASSERT_TRUE(pair) << pair.error();
  int buffer = 0;
  socklen_t len = sizeof(buffer);
  ASSERT_EQ(getsockopt(pair->accepted(), SOL_SOCKET, SO_RCVBUF, &buffer, &len), 0);
  const std::size_t too_large = static_cast<std::size_t>(buffer) / 4 + 1;
  ReceiveLowWater mark(pair->accepted(), too_large);
  mark.Expect(too_large);
  Send(pair->connected(), 1);
  EXPECT_TRUE(Readable(pair->accepted()));
}

}  // namespace
}  // namespace tributary
