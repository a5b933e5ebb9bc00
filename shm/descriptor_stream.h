// Descriptor streams: 64-byte framing over a connected stream socket.
//
// Every frame is exactly kDescriptorSize bytes, so a reader never misparses a partial read
// and can drain everything queued with one recv() per wakeup. DescriptorReader owns no fd; it
// buffers the tail of a partial frame between reads. Not thread-safe: one reader per socket.
#pragma once

#include <cstddef>
#include <vector>

#include "common/status.h"
#include "shm/descriptor.h"

namespace tributary::shm {

// Writes one frame; retries short writes and EINTR. UNAVAILABLE when the peer is gone.
Status WriteDescriptor(int fd, const Descriptor& d);

class DescriptorReader {
 public:
  explicit DescriptorReader(int fd) : fd_(fd) {}

  // Reads what the socket has (blocking until at least one byte unless `nonblocking`) and
  // appends every complete frame to `out`. Frames that fail validation are counted in
  // rejected() and dropped. Returns UNAVAILABLE at end of stream, OK otherwise (also when a
  // non-blocking socket had nothing).
  Status Read(std::vector<Descriptor>* out, bool nonblocking = false);

  std::size_t rejected() const { return rejected_; }

 private:
  int fd_;
  std::size_t pending_ = 0;
  std::byte buf_[kDescriptorSize * 256];
  std::size_t rejected_ = 0;
};

}  // namespace tributary::shm
