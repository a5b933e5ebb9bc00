#include "shm/dpdk_segment.h"

#ifdef TRIBUTARY_HAVE_DPDK

#include <pthread.h>
#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "shm/robust_mutex.h"

namespace tributary::shm {
namespace {

constexpr uint64_t kZoneMagic = 0x454e4f5a54425254ull;  // "TRBTZONE"
constexpr std::size_t kZoneAlign = 2u << 20;
constexpr int kMaxAttached = 256;
// The slots' mempool: DPDK's ring handler, objects anywhere in virtual memory (the data path
// uses no IOVA), no padding between them.
constexpr char kMempoolOps[] = "ring_mp_mc";
constexpr unsigned kMempoolFlags = RTE_MEMPOOL_F_NO_SPREAD | RTE_MEMPOOL_F_NO_IOVA_CONTIG;

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
  char mempool[RTE_MEMPOOL_NAMESIZE];  // the slots' mempool; empty when none was laid
  uint64_t first_object;               // slot 0's offset from the zone's start
  uint64_t object_stride;              // from one slot to the next
  pthread_mutex_t mutex;
  Attachment attached[kMaxAttached];
};

std::size_t RoundUp(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }

// FNV-1a of `name` after `prefix`: a short name, the same in every process.
std::string Hashed(const char* prefix, const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  char hashed[RTE_MEMZONE_NAMESIZE];
  std::snprintf(hashed, sizeof hashed, "%s%016llx", prefix, static_cast<unsigned long long>(h));
  return hashed;
}

// Memzone names are limited to RTE_MEMZONE_NAMESIZE - 1 characters; longer names are hashed.
std::string ZoneName(const std::string& name) {
  return name.size() < RTE_MEMZONE_NAMESIZE ? name : Hashed("trb-", name);
}

// A mempool's own memzones get prefixes ("MP_", "RG_MP_") within the same limit.
std::string MempoolName(const std::string& name) { return Hashed("trbmp-", name); }

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

// Frees the zone and the mempool laid over it. Once, by the process that claimed the free.
void FreeZone(const rte_memzone* zone) {
  const ZoneTail* tail = TailOf(zone);
  if (tail->mempool[0] != '\0') {
    if (rte_mempool* mp = rte_mempool_lookup(tail->mempool)) rte_mempool_free(mp);
  }
  rte_memzone_free(zone);
}

// The slots as mempool objects. Objects carry pointers (the ring holds them), valid in every
// process of the node since DPDK maps its memory at the same addresses in each; slots go
// between processes as indices, and the pool's table holds offsets.
class MempoolSlots final : public SlotObjects {
 public:
  MempoolSlots(rte_mempool* mp, char* first, std::size_t stride)
      : mp_(mp), first_(first), stride_(stride) {}

  std::optional<uint32_t> Take() override {
    void* object = nullptr;
    if (rte_mempool_get(mp_, &object) != 0) return std::nullopt;
    return static_cast<uint32_t>((static_cast<char*>(object) - first_) / stride_);
  }
  void Give(uint32_t index) override {
    rte_mempool_put(mp_, first_ + std::size_t(index) * stride_);
  }
  // A ring op cut short by a death leaves its head and tail apart; the ring starts over.
  void Reset(std::span<const uint32_t> free) override {
    rte_ring_reset(static_cast<rte_ring*>(mp_->pool_data));
    for (const uint32_t index : free) Give(index);
  }

 private:
  rte_mempool* mp_;
  char* first_;
  std::size_t stride_;
};

// The handler that `mp` was made with, checked by name: handlers are registered per process,
// so the index the mempool stores is only right where they registered in the same order.
Status CheckMempoolOps(const rte_mempool* mp, const std::string& name) {
  const rte_mempool_ops* ops = rte_mempool_get_ops(mp->ops_index);
  if (std::strcmp(ops->name, kMempoolOps) != 0) {
    return Status::FailedPrecondition("mempool of " + name + " has handler " + ops->name +
                                      " in this process, expected " + kMempoolOps +
                                      " (mempool drivers registered in another order)");
  }
  return Status::Ok();
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
    if (free_now) FreeZone(zone_);
  }

  Result<std::unique_ptr<SlotObjects>> LaySlots(std::size_t first, std::size_t slot_bytes,
                                                std::span<uint64_t> offsets) override;
  Result<std::unique_ptr<SlotObjects>> OpenSlots() override;

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

Result<std::unique_ptr<SlotObjects>> DpdkSegment::LaySlots(std::size_t first,
                                                           std::size_t slot_bytes,
                                                           std::span<uint64_t> offsets) {
  const std::string name = MempoolName(zone_->name);
  const auto n = static_cast<unsigned>(offsets.size());
  rte_mempool* mp = rte_mempool_create_empty(name.c_str(), n, static_cast<unsigned>(slot_bytes), 0,
                                             0, SOCKET_ID_ANY, kMempoolFlags);
  if (!mp) {
    return Status::Internal("mempool for " + std::string(zone_->name) + ": " +
                            rte_strerror(rte_errno));
  }
  auto fail = [&](const std::string& why) {
    rte_mempool_free(mp);
    return Status::Internal("mempool for " + std::string(zone_->name) + ": " + why);
  };
  if (rte_mempool_set_ops_byname(mp, kMempoolOps, nullptr) != 0) {
    return fail(std::string("no ") + kMempoolOps + " handler");
  }
  char* base = static_cast<char*>(zone_->addr);
  const std::size_t stride = DpdkSlotFootprint(slot_bytes);
  const int populated =
      rte_mempool_populate_iova(mp, base + first, RTE_BAD_IOVA, stride * n, nullptr, nullptr);
  if (populated != static_cast<int>(n)) {
    return fail("laid " + std::to_string(populated) + " of " + std::to_string(n) + " objects");
  }
  struct Laid {
    char* base;
    std::vector<uint64_t> offsets;
  } laid{base, {}};
  rte_mempool_obj_iter(
      mp,
      [](rte_mempool*, void* opaque, void* object, unsigned) {
        auto* out = static_cast<Laid*>(opaque);
        out->offsets.push_back(static_cast<uint64_t>(static_cast<char*>(object) - out->base));
      },
      &laid);
  // Back to back, so that an object's index follows from its address.
  for (unsigned i = 0; i < n; ++i) {
    if (laid.offsets.size() != n || laid.offsets[i] != laid.offsets[0] + i * stride) {
      return fail("objects are not evenly spaced");
    }
    offsets[i] = laid.offsets[i];
  }
  std::snprintf(tail_->mempool, sizeof tail_->mempool, "%s", name.c_str());
  tail_->first_object = offsets[0];
  tail_->object_stride = stride;
  return std::unique_ptr<SlotObjects>(new MempoolSlots(mp, base + offsets[0], stride));
}

Result<std::unique_ptr<SlotObjects>> DpdkSegment::OpenSlots() {
  if (tail_->mempool[0] == '\0') return std::unique_ptr<SlotObjects>();
  rte_mempool* mp = rte_mempool_lookup(tail_->mempool);
  if (!mp) {
    return Status::NotFound("no mempool " + std::string(tail_->mempool) + " for " + zone_->name);
  }
  TRIBUTARY_RETURN_IF_ERROR(CheckMempoolOps(mp, zone_->name));
  return std::unique_ptr<SlotObjects>(new MempoolSlots(
      mp, static_cast<char*>(zone_->addr) + tail_->first_object, tail_->object_stride));
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
  if (free_now) FreeZone(zone);
  return Status::Ok();
}

std::size_t DpdkSlotFootprint(std::size_t slot_bytes) {
  rte_mempool_objsz size{};
  return rte_mempool_calc_obj_size(static_cast<uint32_t>(slot_bytes), kMempoolFlags, &size);
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
std::size_t DpdkSlotFootprint(std::size_t slot_bytes) { return slot_bytes; }

}  // namespace tributary::shm

#endif
