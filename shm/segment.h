// Segment: a named piece of memory that every process of a node can map, the storage under a
// SlotPool (header, tables and slots all live in one segment).
//
// Two backends behind the same calls, chosen per process:
//   - Boost.Interprocess POSIX shared memory (/dev/shm), the default;
//   - a DPDK memzone in hugepages, while the process is attached to the node's DPDK memory as
//     the EAL primary or a secondary (shm/dpdk_memory.h).
// The names and the semantics are the same: Remove() takes the name away at once, and the
// memory stays valid for the processes that have it open until they close it. A DPDK segment
// does not outlive the node's primary process; a POSIX one outlives every process until it
// is removed (which is what lets a restarted node take back its rounds).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"
#include "common/status.h"

namespace tributary::shm {

class Segment {
 public:
  // A new zero-filled segment of at least `bytes` bytes (mode 0600 for POSIX). `prefault`:
  // populate the page tables now. ALREADY_EXISTS when the name is taken.
  static Result<std::unique_ptr<Segment>> Create(const std::string& name, std::size_t bytes,
                                                 bool prefault);
  // Maps an existing segment. NOT_FOUND when there is none of that name.
  static Result<std::unique_ptr<Segment>> Open(const std::string& name, bool prefault);
  // Takes the name away. NOT_FOUND when absent.
  static Status Remove(const std::string& name);

  virtual ~Segment() = default;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // The whole segment; its start is aligned to 2 MiB (DPDK) or a page (POSIX).
  std::span<std::byte> bytes() const { return bytes_; }

 protected:
  explicit Segment(std::span<std::byte> bytes) : bytes_(bytes) {}

 private:
  std::span<std::byte> bytes_;
};

}  // namespace tributary::shm
