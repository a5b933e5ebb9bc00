// Fuzz target: the descriptor decoder. Arbitrary bytes arrive on an aggregator's socket;
// DescriptorReader must keep only frames that pass ValidateFrame, never crash, and account
// for every complete frame it drops.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "shm/descriptor.h"
#include "shm/descriptor_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using tributary::shm::Descriptor;
  const auto bytes = std::as_bytes(std::span(data, size));
  // The frame check alone, on the input's first 64 bytes.
  if (size >= sizeof(Descriptor)) (void)tributary::shm::ValidateFrame(bytes.first(sizeof(Descriptor)));

  // The stream reader, on everything.
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return 0;
  std::size_t sent = 0;
  while (sent < size) {
    ssize_t n = write(fds[0], data + sent, size - sent);
    if (n <= 0) break;
    sent += std::size_t(n);
  }
  close(fds[0]);
  tributary::shm::DescriptorReader reader(fds[1]);
  std::vector<Descriptor> frames;
  while (reader.Read(&frames, /*nonblocking=*/true).ok()) {
  }
  close(fds[1]);
  for (const Descriptor& d : frames) {
    const auto frame = std::as_bytes(std::span(&d, 1));
    if (!tributary::shm::ValidateFrame(frame).ok()) std::abort();  // an invalid frame got through
  }
  if (frames.size() + reader.rejected() != sent / sizeof(Descriptor)) std::abort();
  return 0;
}
