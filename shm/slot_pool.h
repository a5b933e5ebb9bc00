// SlotPool: a named shared-memory segment of fixed-size, reference-counted slots.
//
// One pool per job on a node. The gateway writes each client update once into a slot; the
// aggregator processes read it in place; the control plane keeps the slots of a round and of
// the published models alive by holding references. Only slot indices (in 64-byte
// descriptors) move between processes, never payloads.
//
// Ownership: every process that opens the pool registers a holder row, and every reference it
// takes is counted in its row as well as in the slot's total. When a process dies, Reclaim(pid)
// (or ReclaimDead()) drops exactly the references it held, so its slots return to the pool.
// Slots carry a generation that changes on each allocation, so a stale descriptor cannot
// acquire a slot that was freed and reused.
//
// Free slots: with DPDK the slots are the objects of an rte_mempool laid over the pool's
// memzone, and a slot is taken from and given back to it (segment.h); with POSIX shared memory
// the table is scanned. Either way the table decides, under the lock.
//
// Memory is pre-faulted on creation and on every open (MAP_POPULATE): a page fault costs more
// than copying the page, and the data path must not take faults at steady state. The segment
// is POSIX shared memory, or a DPDK memzone in hugepages where the process attached to the
// node's DPDK memory (segment.h, dpdk_memory.h); the pool works the same on either.
//
// Thread safety: all methods may be called concurrently from any thread of any process; the
// metadata is guarded by a robust process-shared mutex that survives the death of its holder.
// Writing into and reading from slot bytes is the callers' business (a slot is written by its
// allocator before its index is published, and only read afterwards).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/status.h"
#include "shm/segment.h"

namespace tributary::shm {

struct PoolOptions {
  std::string name;              // shm object name without '/', unique per node (required)
  std::size_t slot_bytes = 0;    // usable bytes per slot, rounded up to 4 KiB (required, > 0)
  uint32_t num_slots = 0;        // slots in the pool (required, > 0)
  uint32_t max_holders = 64;     // processes that may have the pool open at once
  bool prefault = true;          // populate every page at creation
  bool replace_existing = true;  // remove a stale segment of the same name first
  std::string metadata;          // opaque text readers get back (job spec), at most 4 KiB
};

struct SlotHandle {
  uint32_t index = 0;
  uint32_t generation = 0;
};

class SlotPool {
 public:
  // Creates and maps a new segment (mode 0600). The segment outlives this object until
  // Remove(name) is called; the creator is expected to call Remove at shutdown.
  static Result<std::unique_ptr<SlotPool>> Create(const PoolOptions& options);
  // Maps an existing segment created by another process (or this one).
  static Result<std::unique_ptr<SlotPool>> Open(std::string_view name, bool prefault = true);
  // Unlinks the segment's name; mappings stay valid until unmapped. NOT_FOUND when absent.
  static Status Remove(std::string_view name);
  // The bytes of shared memory a pool of `num_slots` slots of `slot_bytes` takes (with the
  // default max_holders), all of them reserved at creation: its header and tables, padded to a
  // 2 MiB boundary, then the slots. What its Mapping() spans.
  static std::size_t SegmentBytes(std::size_t slot_bytes, uint32_t num_slots);

  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;
  // Unmaps. References this process still holds are dropped when its last SlotPool object
  // for the segment goes away, exactly as if it had died; unless KeepReferencesOnClose().
  ~SlotPool();

  // From now on, unmapping leaves this process's references in the segment, as a crash would:
  // a later process that opens it may take the slots over (Acquire with their generations)
  // before ReclaimDead() drops what the gone process held. For a segment kept for the next
  // start of its creator.
  void KeepReferencesOnClose() { keep_references_ = true; }

  // Takes a free slot with one reference held by this process. RESOURCE_EXHAUSTED when every
  // slot is in use: the caller must apply backpressure, not wait.
  Result<SlotHandle> Allocate();
  // Adds a reference to a live slot. FAILED_PRECONDITION when the slot is free or was reused
  // since `handle` was made (generation mismatch).
  Status Acquire(SlotHandle handle);
  // Drops one reference this process holds; the slot is free when none is left.
  Status Release(SlotHandle handle);

  // Gives the memory of every free slot back to the system (where the backend can: POSIX), for
  // a pool that will not take updates again; a slot allocated later reads as zeros. Returns the
  // bytes given back.
  Result<std::size_t> DiscardFreeSlots();

  // Drops every reference held by process `pid`; returns the number of references dropped.
  uint32_t Reclaim(pid_t pid);
  // Reclaim() for every registered process that no longer exists.
  uint32_t ReclaimDead();

  std::span<std::byte> Bytes(uint32_t index) const;
  std::span<float> Floats(uint32_t index) const;
  // The whole mapping: header, tables and every slot (to page-lock it for a device, say).
  std::span<const std::byte> Mapping() const;

  const std::string& name() const { return name_; }
  // The metadata given at creation.
  std::string_view metadata() const;
  std::size_t slot_bytes() const;
  uint32_t num_slots() const;
  uint32_t FreeSlots() const;
  uint32_t RefCount(uint32_t index) const;
  // References held by this process on `index`.
  uint32_t HeldByMe(uint32_t index) const;

 private:
  struct Header;
  struct Layout;
  class Lock;
  static Layout LayoutOf(const PoolOptions& options);
  SlotPool(std::string name, std::unique_ptr<Segment> segment,
           std::unique_ptr<SlotObjects> objects);
  Status RegisterHolder();
  void UnregisterHolder();
  uint32_t* RowCounts(uint32_t row) const;
  uint32_t DropRowLocked(uint32_t row);
  // The free list: the backend's where it keeps one (objects_), else a scan of the table.
  Result<uint32_t> TakeFreeLocked();
  void FreedLocked(uint32_t index);

  std::string name_;
  std::unique_ptr<Segment> segment_;
  std::unique_ptr<SlotObjects> objects_;  // null: the table is the free list
  Header* header_;
  uint32_t my_row_ = 0;
  bool keep_references_ = false;
};

}  // namespace tributary::shm
