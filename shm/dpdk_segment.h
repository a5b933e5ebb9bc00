// The DPDK memzone backend of Segment (see segment.h), used while this process is attached to
// the node's DPDK memory (dpdk_memory.h). Internal to shm/.
//
// A pool's slots are the objects of an rte_mempool laid over its memzone (one object per
// update, DPDK's ring-based multi-producer handler, no per-lcore cache so that any thread of any
// process may take and give); the mempool is freed with the zone.
//
// A memzone is freed, not unmapped: its pages go back to the EAL's heap for every process at
// once. So the zone carries a small table of the processes that have it open, and Remove()
// only marks it; whichever process closes it last (or Remove() itself, when no live process
// has it open) frees it. A process that died is skipped, as in SlotPool's holder table.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "shm/segment.h"

namespace tributary::shm {

Result<std::unique_ptr<Segment>> CreateDpdkSegment(const std::string& name, std::size_t bytes);
Result<std::unique_ptr<Segment>> OpenDpdkSegment(const std::string& name);
Status RemoveDpdkSegment(const std::string& name);
std::size_t DpdkSlotFootprint(std::size_t slot_bytes);

}  // namespace tributary::shm
