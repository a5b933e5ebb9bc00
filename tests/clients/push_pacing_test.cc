// PushPacing: a lone push leaves its socket's unsent bytes to the kernel; while two to
// kMostPaced stream, each socket is held to kCrowdedUnsentBytes; a push left alone again, or
// among more than kMostPaced, goes back to the kernel's default.
#include "clients/cpp/push_pacing.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "ebpf/loopback_pair.h"

namespace tributary::client {
namespace {

int UnsentLimit(int fd) {
  int value = -1;
  socklen_t len = sizeof(value);
  EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &value, &len), 0);
  return value;
}

TEST(PushPacingTest, CrowdedPushesHoldTheirUnsentBytesAndALonePushDoesNot) {
  auto a = ebpf::LoopbackPair::Connect();
  auto b = ebpf::LoopbackPair::Connect();
  ASSERT_TRUE(a && b);
  const int fa = a->connected(), fb = b->connected();
  ASSERT_EQ(PushPacing::Streaming(), 0);

  PushPacing first(fa);
  first.BeforePiece();
  EXPECT_EQ(UnsentLimit(fa), 0) << "a lone push keeps the kernel's default";

  auto second = std::make_unique<PushPacing>(fb);
  EXPECT_EQ(PushPacing::Streaming(), 2);
  second->BeforePiece();
  first.BeforePiece();
  EXPECT_EQ(UnsentLimit(fa), PushPacing::kCrowdedUnsentBytes);
  EXPECT_EQ(UnsentLimit(fb), PushPacing::kCrowdedUnsentBytes);

  second.reset();
  EXPECT_EQ(PushPacing::Streaming(), 1);
  first.BeforePiece();
  EXPECT_EQ(UnsentLimit(fa), 0) << "alone again: back to the kernel's default";
}

TEST(PushPacingTest, ASocketLimitedByAnEarlierPushIsFreedWhenItsNextPushIsAlone) {
  auto a = ebpf::LoopbackPair::Connect();
  auto b = ebpf::LoopbackPair::Connect();
  ASSERT_TRUE(a && b);
  {
    PushPacing crowded(a->connected());
    PushPacing other(b->connected());
    crowded.BeforePiece();
    ASSERT_EQ(UnsentLimit(a->connected()), PushPacing::kCrowdedUnsentBytes);
  }
  PushPacing alone(a->connected());  // the kept connection's next push
  alone.BeforePiece();
  EXPECT_EQ(UnsentLimit(a->connected()), 0);
}

TEST(PushPacingTest, BeyondTheMostPacedPushesNoneIsHeld) {
  auto a = ebpf::LoopbackPair::Connect();
  ASSERT_TRUE(a);
  PushPacing first(a->connected());
  std::vector<std::unique_ptr<PushPacing>> others;
  for (int i = 1; i < PushPacing::kMostPaced; ++i) {
    others.push_back(std::make_unique<PushPacing>(a->accepted()));
  }
  first.BeforePiece();
  EXPECT_EQ(UnsentLimit(a->connected()), PushPacing::kCrowdedUnsentBytes);
  others.push_back(std::make_unique<PushPacing>(a->accepted()));  // one more than the most
  first.BeforePiece();
  EXPECT_EQ(UnsentLimit(a->connected()), 0);
}

}  // namespace
}  // namespace tributary::client
