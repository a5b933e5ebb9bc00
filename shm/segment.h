// Segment: a named piece of memory that every process of a node can map, the storage under a
// SlotPool (header, tables and slots all live in one segment).
//
// Two backends behind the same calls, chosen per process:
//   - POSIX shared memory, the default: a file of /dev/shm, or of the tmpfs with 2 MiB pages
//     that the node chose (shm/huge_tmpfs.h);
//   - a DPDK memzone in hugepages, while the process is attached to the node's DPDK memory as
//     the EAL primary or a secondary (shm/dpdk_memory.h).
// The names and the semantics are the same: Remove() takes the name away at once, and the
// memory stays valid for the processes that have it open until they close it. A DPDK segment
// does not outlive the node's primary process; a POSIX one outlives every process until it
// is removed (which is what lets a restarted node take back its rounds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/result.h"
#include "common/status.h"

namespace tributary::shm {

// The free list a backend keeps of a pool's slots itself, where it has one: with DPDK the slots
// are the objects of an rte_mempool laid over the pool's memzone. The pool's table stays the
// authority on references, generations and holders; the pool takes a slot from here when it
// allocates one and gives it back when its last reference goes, always under the pool's lock,
// so the two never disagree while every process lives.
class SlotObjects {
 public:
  virtual ~SlotObjects() = default;
  // A free slot's index, or nothing when every slot is taken.
  virtual std::optional<uint32_t> Take() = 0;
  virtual void Give(uint32_t index) = 0;
  // After a process died inside the pool's lock (maybe inside Take or Give): from now on the
  // free slots are exactly `free`.
  virtual void Reset(std::span<const uint32_t> free) = 0;
};

// Where this process's POSIX segments live: "/dev/shm" (where shm_open puts its objects) unless
// set. Every process of a node sets the same directory before it makes or opens a segment.
void SetPosixSegmentDir(std::string dir);
const std::string& PosixSegmentDir();
// The file of the POSIX segment `name`.
std::string PosixSegmentPath(const std::string& name);

class Segment {
 public:
  // A new zero-filled segment of at least `bytes` bytes (mode 0600 for POSIX). `prefault`:
  // reserve its memory and populate the page tables now (RESOURCE_EXHAUSTED when the memory is
  // not there). ALREADY_EXISTS when the name is taken; a name is a file name (no '/').
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

  // The bytes one slot of `slot_bytes` usable bytes takes in this process's backend (a mempool
  // object carries a header).
  static std::size_t SlotFootprint(std::size_t slot_bytes);
  // Lays offsets.size() slots of `slot_bytes` usable bytes over this segment from byte `first`
  // on (SlotFootprint() each), and writes each slot's offset from the segment's start, in
  // index order. Returns the backend's own free list of them, every slot free, or null where
  // the backend keeps none (POSIX: the pool's table is the free list). Once, by the creator.
  virtual Result<std::unique_ptr<SlotObjects>> LaySlots(std::size_t first, std::size_t slot_bytes,
                                                        std::span<uint64_t> offsets) = 0;
  // The free list LaySlots made, in a process that opened the segment; null where none.
  virtual Result<std::unique_ptr<SlotObjects>> OpenSlots() = 0;

  // Gives the memory under `range` (page-aligned, inside bytes()) back to the system, for every
  // process that maps it; it reads as zeros afterwards. Where a backend cannot (DPDK keeps its
  // hugepages), the memory stays as it is.
  virtual Status Discard(std::span<std::byte> range) {
    (void)range;
    return Status::Ok();
  }

 protected:
  explicit Segment(std::span<std::byte> bytes) : bytes_(bytes) {}

 private:
  std::span<std::byte> bytes_;
};

}  // namespace tributary::shm
