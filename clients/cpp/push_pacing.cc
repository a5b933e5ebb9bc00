#include "clients/cpp/push_pacing.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>

namespace tributary::client {
namespace {

std::atomic<int> g_streaming{0};

}  // namespace

PushPacing::PushPacing(int fd) : fd_(fd) { g_streaming.fetch_add(1); }

PushPacing::~PushPacing() { g_streaming.fetch_sub(1); }

void PushPacing::BeforePiece() {
  const int streaming = Streaming();
  const bool crowded = streaming > 1 && streaming <= kMostPaced;
  if (limited_ == crowded) return;
  const int unsent = crowded ? kCrowdedUnsentBytes : 0;  // 0: the kernel's default
  // A hint: a socket that refuses it is sent as it was, which is still correct.
  (void)setsockopt(fd_, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent, sizeof(unsent));
  limited_ = crowded;
}

int PushPacing::Streaming() { return g_streaming.load(std::memory_order_relaxed); }

}  // namespace tributary::client
