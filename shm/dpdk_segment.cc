#include "shm/dpdk_segment.h"

#ifdef TRIBUTARY_HAVE_DPDK

#include <pthread.h>
#include <rte_errno.h>
#include <rte_memzone.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include "shm/robust_mutex.h"

namespace tributary::shm {
namespace {

constexpr uint64_t kZoneMagic = 0x454e4f5a54425254ull;  // "TRBTZONE"
constexpr std::size_t kZoneAlign = 2u << 20;
constexpr int kMaxAttached = 256;

struct Attachment {
  int32_t pid;     // 0: free entry
  uint32_t opens;  // Segment objects of this process
};

// At the end of the zone, after the caller's bytes.
struct alignas(64) ZoneTail {
  uint64_t magic;
  uint64_t user_bytes;
  uint32_t unlinked;  // Remove() was called: no new Open; freed once nobody has it open
  uint32_t freeing;   // a process has claimed the free
  pthread_mutex_t mutex;
  Attachment attached[kMaxAttached];
};

std::size_t RoundUp(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }

// Memzone names are limited to RTE_MEMZONE_NAMESIZE - 1 characters; longer names are hashed
// (FNV-1a), the same in every process.
std::string ZoneName(const std::string& name) {
  if (name.size() < RTE_MEMZONE_NAMESIZE) return name;
  uint64_t h = 1469598103934665603ull;
  for (const char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  char hashed[RTE_MEMZONE_NAMESIZE];
  std::snprintf(hashed, sizeof hashed, "trb-%016llx", static_cast<unsigned long long>(h));
  return hashed;
}

bool Alive(int32_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

ZoneTail* TailOf(const rte_memzone* zone) {
  return reinterpret_cast<ZoneTail*>(static_cast<char*>(zone->addr) + zone->len - sizeof(ZoneTail));
}

// Holds the zone's robust mutex; the table stays consistent when a holder died inside.
class ZoneLock {
 public:
  explicit ZoneLock(ZoneTail* t) : t_(t) {
    if (pthread_mutex_lock(&t_->mutex) == EOWNERDEAD) pthread_mutex_consistent(&t_->mutex);
  }
  ~ZoneLock() { pthread_mutex_unlock(&t_->mutex); }

 private:
  ZoneTail* t_;
};

// Under the lock.
Status AttachLocked(ZoneTail* t, const std::string& name) {
  const int32_t me = getpid();
  Attachment* free_entry = nullptr;
  for (Attachment& a : t->attached) {
    if (a.pid == me) {
      ++a.opens;
      return Status::Ok();
    }
    if (!free_entry && (a.pid == 0 || !Alive(a.pid))) free_entry = &a;
  }
  if (!free_entry) {
    return Status::ResourceExhausted("memzone " + name + " is open in " +
                                     std::to_string(kMaxAttached) + " processes already");
  }
  *free_entry = {.pid = me, .opens = 1};
  return Status::Ok();
}

// Under the lock: whether the caller must free the zone now (and it has claimed that).
bool ClaimFreeLocked(ZoneTail* t) {
  if (!t->unlinked || t->freeing) return false;
  for (const Attachment& a : t->attached) {
    if (a.pid != 0 && Alive(a.pid)) return false;
  }
  t->freeing = 1;
  return true;
}

class DpdkSegment final : public Segment {
 public:
  DpdkSegment(const rte_memzone* zone, ZoneTail* tail)
      : Segment({static_cast<std::byte*>(zone->addr), tail->user_bytes}),
        zone_(zone),
        tail_(tail) {}

  ~DpdkSegment() override {
    bool free_now = false;
    {
      ZoneLock lock(tail_);
      for (Attachment& a : tail_->attached) {
        if (a.pid == getpid() && --a.opens == 0) a = {};
      }
      free_now = ClaimFreeLocked(tail_);
    }
    if (free_now) rte_memzone_free(zone_);
  }

 private:
  const rte_memzone* zone_;
  ZoneTail* tail_;
};

// The open, not yet removed zone `name`.
Result<const rte_memzone*> Lookup(const std::string& name) {
  const rte_memzone* zone = rte_memzone_lookup(ZoneName(name).c_str());
  if (!zone || zone->len < sizeof(ZoneTail) || TailOf(zone)->magic != kZoneMagic) {
    return Status::NotFound("no DPDK memzone " + name);
  }
  return zone;
}

}  // namespace

Result<std::unique_ptr<Segment>> CreateDpdkSegment(const std::string& name, std::size_t bytes) {
  const std::string zone_name = ZoneName(name);
  const std::size_t user_bytes = RoundUp(bytes, 64);
  const std::size_t total = user_bytes + sizeof(ZoneTail);
  const rte_memzone* zone =
      rte_memzone_reserve_aligned(zone_name.c_str(), total, SOCKET_ID_ANY, 0, kZoneAlign);
  if (!zone) {
    const int err = rte_errno;
    if (err == EEXIST) {
      return Status::AlreadyExists("DPDK memzone " + name + " exists (or is still open)");
    }
    if (err == ENOMEM || err == ENOSPC) {
      return Status::ResourceExhausted("no hugepage memory left for a " +
                                       std::to_string(total >> 20) + " MiB DPDK memzone " + name +
                                       " (serve --dpdk-memory-mb sets the node's share)");
    }
    return Status::Internal("DPDK memzone " + name + ": " + rte_strerror(err));
  }
  std::memset(zone->addr, 0, zone->len);  // zero-filled, and every page touched now
  auto* tail = new (TailOf(zone)) ZoneTail{};
  tail->user_bytes = user_bytes;
  InitRobustMutex(&tail->mutex);
  tail->attached[0] = {.pid = static_cast<int32_t>(getpid()), .opens = 1};
  __atomic_store_n(&tail->magic, kZoneMagic, __ATOMIC_RELEASE);
  return std::unique_ptr<Segment>(new DpdkSegment(zone, tail));
}

Result<std::unique_ptr<Segment>> OpenDpdkSegment(const std::string& name) {
  TRIBUTARY_ASSIGN_OR_RETURN(const rte_memzone* zone, Lookup(name));
  ZoneTail* tail = TailOf(zone);
  {
    ZoneLock lock(tail);
    if (tail->unlinked) return Status::NotFound("DPDK memzone " + name + " was removed");
    TRIBUTARY_RETURN_IF_ERROR(AttachLocked(tail, name));
  }
  return std::unique_ptr<Segment>(new DpdkSegment(zone, tail));
}

Status RemoveDpdkSegment(const std::string& name) {
  TRIBUTARY_ASSIGN_OR_RETURN(const rte_memzone* zone, Lookup(name));
  ZoneTail* tail = TailOf(zone);
  bool free_now = false;
  {
    ZoneLock lock(tail);
    if (tail->unlinked) return Status::NotFound("DPDK memzone " + name + " was removed");
    tail->unlinked = 1;
    free_now = ClaimFreeLocked(tail);
  }
  if (free_now) rte_memzone_free(zone);
  return Status::Ok();
}

}  // namespace tributary::shm

#else  // !TRIBUTARY_HAVE_DPDK: never called, since no process can attach to DPDK memory.

namespace tributary::shm {

Result<std::unique_ptr<Segment>> CreateDpdkSegment(const std::string&, std::size_t) {
  return Status::Unimplemented("this build has no DPDK");
}
Result<std::unique_ptr<Segment>> OpenDpdkSegment(const std::string&) {
  return Status::Unimplemented("this build has no DPDK");
}
Status RemoveDpdkSegment(const std::string&) {
  return Status::Unimplemented("this build has no DPDK");
}

}  // namespace tributary::shm

#endif
