#include "shm/descriptor_stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tributary::shm {

Status WriteDescriptor(int fd, const Descriptor& d) {
  const char* p = reinterpret_cast<const char*>(&d);
  std::size_t left = sizeof d;
  while (left > 0) {
    ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("sending descriptor");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

Status DescriptorReader::Read(std::vector<Descriptor>* out, bool nonblocking) {
  ssize_t n;
  do {
    n = recv(fd_, buf_ + pending_, sizeof buf_ - pending_, nonblocking ? MSG_DONTWAIT : 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::Ok();
    return Status::FromErrno("reading descriptors");
  }
  if (n == 0) return Status::Unavailable("descriptor stream closed by peer");
  std::size_t have = pending_ + static_cast<std::size_t>(n);
  std::size_t off = 0;
  for (; have - off >= kDescriptorSize; off += kDescriptorSize) {
    std::span<const std::byte> frame(buf_ + off, kDescriptorSize);
    if (!ValidateFrame(frame).ok()) {
      ++rejected_;
      continue;
    }
    Descriptor d;
    std::memcpy(&d, frame.data(), sizeof d);
    out->push_back(d);
  }
  pending_ = have - off;
  if (pending_ > 0) std::memmove(buf_, buf_ + off, pending_);
  return Status::Ok();
}

}  // namespace tributary::shm
