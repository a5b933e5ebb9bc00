// LoopbackPair: a connected loopback TCP connection whose two ends belong to this process.
//
// The BPF router sends through one (its sendmsg runs the sk_msg program; the other end collects
// what the program passes), and tests and benchmarks use pairs as stand-ins for an aggregator's
// connection. Both fds are close-on-exec and are closed by the destructor unless released.
// Movable, not copyable; not thread-safe.
#pragma once

#include "common/result.h"

namespace tributary::ebpf {

class LoopbackPair {
 public:
  // Connects 127.0.0.1:<ephemeral> to itself; with `nodelay`, TCP_NODELAY on both ends.
  static Result<LoopbackPair> Connect(bool nodelay = true);

  LoopbackPair(LoopbackPair&& other) noexcept;
  LoopbackPair& operator=(LoopbackPair&& other) noexcept;
  LoopbackPair(const LoopbackPair&) = delete;
  LoopbackPair& operator=(const LoopbackPair&) = delete;
  ~LoopbackPair();

  int connected() const { return connected_; }  // the end that called connect()
  int accepted() const { return accepted_; }    // the end accept() returned
  // Hands an end over to the caller, who closes it.
  int ReleaseConnected();
  int ReleaseAccepted();

 private:
  LoopbackPair(int connected, int accepted) : connected_(connected), accepted_(accepted) {}
  int connected_ = -1;
  int accepted_ = -1;
};

}  // namespace tributary::ebpf
