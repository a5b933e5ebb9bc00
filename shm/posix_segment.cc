// The POSIX shared-memory Segment backend, and the dispatch between it and the DPDK backend.
//
// A POSIX segment is a file of a tmpfs directory, mapped shared: /dev/shm (where shm_open puts
// its objects) unless the node chose a tmpfs of its own (shm/huge_tmpfs.h). A file rather than
// shm_open, so that the directory can be one whose pages are 2 MiB.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "shm/dpdk_memory.h"
#include "shm/dpdk_segment.h"
#include "shm/segment.h"

namespace tributary::shm {
namespace {

std::string& SegmentDir() {
  static std::string dir = "/dev/shm";
  return dir;
}

class PosixSegment final : public Segment {
 public:
  explicit PosixSegment(std::span<std::byte> mapping) : Segment(mapping) {}
  ~PosixSegment() override { munmap(bytes().data(), bytes().size()); }

  // Back to back; the pool's table is the free list.
  Result<std::unique_ptr<SlotObjects>> LaySlots(std::size_t first, std::size_t slot_bytes,
                                                std::span<uint64_t> offsets) override {
    for (std::size_t i = 0; i < offsets.size(); ++i) offsets[i] = first + i * slot_bytes;
    return std::unique_ptr<SlotObjects>();
  }
  Result<std::unique_ptr<SlotObjects>> OpenSlots() override {
    return std::unique_ptr<SlotObjects>();
  }
  // A hole punched in the tmpfs file.
  Status Discard(std::span<std::byte> range) override {
    if (range.empty()) return Status::Ok();
    if (madvise(range.data(), range.size(), MADV_REMOVE) != 0) {
      return Status::FromErrno("discarding " + std::to_string(range.size()) + " bytes of a pool");
    }
    return Status::Ok();
  }
};

// Closes a descriptor on every path out.
struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) close(fd);
  }
};

Status CheckName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return Status::InvalidArgument("shared memory segment name '" + name + "' is not a file name");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Segment>> MapPosixSegment(const std::string& name, bool create,
                                                 std::size_t create_bytes, bool prefault) {
  TRIBUTARY_RETURN_IF_ERROR(CheckName(name));
  const std::string path = PosixSegmentPath(name);
  const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT | O_EXCL : 0);
  FileCloser file{open(path.c_str(), flags, 0600)};
  if (file.fd < 0) return Status::FromErrno("shared memory segment " + path);
  if (create) {
    auto fail = [&](const std::string& what) {
      Status s = Status::FromErrno(what + " " + path);
      unlink(path.c_str());
      return s;
    };
    if (ftruncate(file.fd, static_cast<off_t>(create_bytes)) != 0) return fail("sizing");
    // Reserving the pages now answers a full directory here, as RESOURCE_EXHAUSTED, where
    // writing into a hole of a full tmpfs would kill the process with SIGBUS.
    if (prefault && fallocate(file.fd, 0, 0, static_cast<off_t>(create_bytes)) != 0) {
      return fail("reserving " + std::to_string(create_bytes >> 20) + " MiB for");
    }
  }
  struct stat st {};
  if (fstat(file.fd, &st) != 0) return Status::FromErrno("shared memory segment " + path);
  if (st.st_size <= 0) {
    return Status::FailedPrecondition("shared memory segment " + path + " is empty");
  }
  const std::size_t size = static_cast<std::size_t>(st.st_size);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | (prefault ? MAP_POPULATE : 0),
                 file.fd, 0);
  if (p == MAP_FAILED) return Status::FromErrno("mmap " + path);
  return std::unique_ptr<Segment>(
      new PosixSegment(std::span<std::byte>(static_cast<std::byte*>(p), size)));
}

}  // namespace

void SetPosixSegmentDir(std::string dir) { SegmentDir() = std::move(dir); }

const std::string& PosixSegmentDir() { return SegmentDir(); }

std::string PosixSegmentPath(const std::string& name) { return SegmentDir() + "/" + name; }

std::size_t Segment::SlotFootprint(std::size_t slot_bytes) {
  if (DpdkMemory::Attached()) return DpdkSlotFootprint(slot_bytes);
  return slot_bytes;
}

Result<std::unique_ptr<Segment>> Segment::Create(const std::string& name, std::size_t bytes,
                                                 bool prefault) {
  if (DpdkMemory::Attached()) return CreateDpdkSegment(name, bytes);
  return MapPosixSegment(name, /*create=*/true, bytes, prefault);
}

Result<std::unique_ptr<Segment>> Segment::Open(const std::string& name, bool prefault) {
  if (DpdkMemory::Attached()) return OpenDpdkSegment(name);
  return MapPosixSegment(name, /*create=*/false, 0, prefault);
}

Status Segment::Remove(const std::string& name) {
  if (DpdkMemory::Attached()) return RemoveDpdkSegment(name);
  TRIBUTARY_RETURN_IF_ERROR(CheckName(name));
  if (unlink(PosixSegmentPath(name).c_str()) != 0) {
    if (errno == ENOENT) return Status::NotFound("no shared memory segment " + name);
    return Status::FromErrno("removing shared memory segment " + PosixSegmentPath(name));
  }
  return Status::Ok();
}

}  // namespace tributary::shm
