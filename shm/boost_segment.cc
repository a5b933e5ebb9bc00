// The POSIX shared-memory Segment backend (Boost.Interprocess), and the dispatch between it and
// the DPDK backend.
#include <sys/mman.h>

#include <boost/interprocess/shared_memory_object.hpp>

#include "shm/dpdk_memory.h"
#include "shm/dpdk_segment.h"
#include "shm/segment.h"

namespace tributary::shm {
namespace {
namespace bip = boost::interprocess;

class BoostSegment final : public Segment {
 public:
  explicit BoostSegment(std::span<std::byte> mapping) : Segment(mapping) {}
  ~BoostSegment() override { munmap(bytes().data(), bytes().size()); }

  // Back to back; the pool's table is the free list.
  Result<std::unique_ptr<SlotObjects>> LaySlots(std::size_t first, std::size_t slot_bytes,
                                                std::span<uint64_t> offsets) override {
    for (std::size_t i = 0; i < offsets.size(); ++i) offsets[i] = first + i * slot_bytes;
    return std::unique_ptr<SlotObjects>();
  }
  Result<std::unique_ptr<SlotObjects>> OpenSlots() override {
    return std::unique_ptr<SlotObjects>();
  }
};

Result<std::unique_ptr<Segment>> MapBoostSegment(const std::string& name, bool create,
                                                 std::size_t create_bytes, bool prefault) {
  try {
    std::unique_ptr<bip::shared_memory_object> shm;
    if (create) {
      bip::permissions perm(0600);
      shm = std::make_unique<bip::shared_memory_object>(bip::create_only, name.c_str(),
                                                        bip::read_write, perm);
      shm->truncate(static_cast<bip::offset_t>(create_bytes));
    } else {
      shm = std::make_unique<bip::shared_memory_object>(bip::open_only, name.c_str(),
                                                        bip::read_write);
    }
    bip::offset_t size = 0;
    if (!shm->get_size(size) || size <= 0) {
      return Status::FailedPrecondition("shared memory segment " + name + " is empty");
    }
    const int flags = MAP_SHARED | (prefault ? MAP_POPULATE : 0);
    void* p = mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, flags,
                   shm->get_mapping_handle().handle, 0);
    if (p == MAP_FAILED) return Status::FromErrno("mmap " + name);
    return std::unique_ptr<Segment>(new BoostSegment(
        std::span<std::byte>(static_cast<std::byte*>(p), static_cast<std::size_t>(size))));
  } catch (const bip::interprocess_exception& e) {
    StatusCode code = StatusCode::kInternal;
    if (e.get_error_code() == bip::not_found_error) code = StatusCode::kNotFound;
    if (e.get_error_code() == bip::already_exists_error) code = StatusCode::kAlreadyExists;
    if (e.get_error_code() == bip::out_of_space_error) code = StatusCode::kResourceExhausted;
    return Status(code, "shared memory segment " + name + ": " + e.what());
  }
}

}  // namespace

std::size_t Segment::SlotFootprint(std::size_t slot_bytes) {
  if (DpdkMemory::Attached()) return DpdkSlotFootprint(slot_bytes);
  return slot_bytes;
}

Result<std::unique_ptr<Segment>> Segment::Create(const std::string& name, std::size_t bytes,
                                                 bool prefault) {
  if (DpdkMemory::Attached()) return CreateDpdkSegment(name, bytes);
  return MapBoostSegment(name, /*create=*/true, bytes, prefault);
}

Result<std::unique_ptr<Segment>> Segment::Open(const std::string& name, bool prefault) {
  if (DpdkMemory::Attached()) return OpenDpdkSegment(name);
  return MapBoostSegment(name, /*create=*/false, 0, prefault);
}

Status Segment::Remove(const std::string& name) {
  if (DpdkMemory::Attached()) return RemoveDpdkSegment(name);
  if (!bip::shared_memory_object::remove(name.c_str())) {
    return Status::NotFound("no shared memory segment " + name);
  }
  return Status::Ok();
}

}  // namespace tributary::shm
