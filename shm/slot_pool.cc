#include "shm/slot_pool.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "shm/robust_mutex.h"

namespace tributary::shm {

namespace {
constexpr uint64_t kPoolMagic = 0x4c4f4f5054425254ull;  // "TRBTPOOL"
constexpr uint32_t kPoolVersion = 2;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kDataAlign = 2u << 20;  // data starts on a 2 MiB boundary
constexpr std::size_t kMaxMetadata = 4096;

std::size_t RoundUp(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }

struct SlotMeta {
  uint32_t refcount;
  uint32_t generation;
  uint64_t offset;  // of the slot's bytes from the segment's start
};

struct HolderRow {
  int32_t pid;     // 0: free row
  uint32_t opens;  // SlotPool objects of this process mapping the pool
};
}  // namespace

struct SlotPool::Header {
  std::atomic<uint64_t> magic;
  uint32_t version;
  uint32_t num_slots;
  uint64_t slot_bytes;
  uint32_t max_holders;
  uint32_t cursor;  // next index Allocate() looks at
  uint32_t free_slots;
  uint32_t pad;
  uint64_t slots_offset;   // SlotMeta[num_slots]
  uint64_t rows_offset;    // HolderRow[max_holders]
  uint64_t counts_offset;  // uint32_t[max_holders][num_slots]
  uint64_t data_offset;
  uint64_t total_bytes;
  uint64_t metadata_bytes;
  char metadata[kMaxMetadata];
  pthread_mutex_t mutex;

  SlotMeta* slots() {
    return reinterpret_cast<SlotMeta*>(reinterpret_cast<char*>(this) + slots_offset);
  }
  HolderRow* rows() {
    return reinterpret_cast<HolderRow*>(reinterpret_cast<char*>(this) + rows_offset);
  }
  uint32_t* counts() {
    return reinterpret_cast<uint32_t*>(reinterpret_cast<char*>(this) + counts_offset);
  }
};

// Where a pool's parts lie in its segment: the header, the slot table, the holder rows, the
// per-holder reference counts, then (from a 2 MiB boundary) the slots.
struct SlotPool::Layout {
  std::size_t slot_bytes;
  std::size_t slots_offset;
  std::size_t rows_offset;
  std::size_t counts_offset;
  std::size_t data_offset;
  std::size_t total;
};

SlotPool::Layout SlotPool::LayoutOf(const PoolOptions& o) {
  Layout l{};
  l.slot_bytes = RoundUp(o.slot_bytes, kPage);
  l.slots_offset = RoundUp(sizeof(Header), 64);
  l.rows_offset = RoundUp(l.slots_offset + sizeof(SlotMeta) * o.num_slots, 64);
  l.counts_offset = RoundUp(l.rows_offset + sizeof(HolderRow) * o.max_holders, 64);
  const std::size_t meta_end =
      l.counts_offset + sizeof(uint32_t) * std::size_t(o.max_holders) * o.num_slots;
  l.data_offset = RoundUp(meta_end, kDataAlign);
  l.total = l.data_offset + Segment::SlotFootprint(l.slot_bytes) * o.num_slots;
  return l;
}

std::size_t SlotPool::SegmentBytes(std::size_t slot_bytes, uint32_t num_slots) {
  PoolOptions options;
  options.slot_bytes = slot_bytes;
  options.num_slots = num_slots;
  return LayoutOf(options).total;
}

// Holds the pool mutex. When the previous owner died inside the critical section, the slot
// totals are rebuilt from the holder rows (the rows are the source of truth: every mutation
// writes the row first), and the backend's free list from the totals, before the mutex is
// marked consistent again.
class SlotPool::Lock {
 public:
  explicit Lock(const SlotPool* pool) : pool_(pool), h_(pool->header_) {
    int rc = pthread_mutex_lock(&h_->mutex);
    if (rc == EOWNERDEAD) {
      Repair();
      pthread_mutex_consistent(&h_->mutex);
    }
  }
  ~Lock() { pthread_mutex_unlock(&h_->mutex); }

 private:
  void Repair() {
    SlotMeta* slots = h_->slots();
    std::vector<uint32_t> free;
    for (uint32_t s = 0; s < h_->num_slots; ++s) {
      uint32_t total = 0;
      for (uint32_t r = 0; r < h_->max_holders; ++r) {
        if (h_->rows()[r].pid != 0) total += h_->counts()[std::size_t(r) * h_->num_slots + s];
      }
      slots[s].refcount = total;
      if (total == 0) free.push_back(s);
    }
    h_->free_slots = static_cast<uint32_t>(free.size());
    if (pool_->objects_) pool_->objects_->Reset(free);
  }
  const SlotPool* pool_;
  Header* h_;
};

Result<std::unique_ptr<SlotPool>> SlotPool::Create(const PoolOptions& o) {
  if (o.name.empty() || o.name.find('/') != std::string::npos) {
    return Status::InvalidArgument("pool name must be non-empty and contain no '/'");
  }
  if (o.slot_bytes == 0 || o.num_slots == 0 || o.max_holders == 0) {
    return Status::InvalidArgument("pool needs slot_bytes, num_slots and max_holders > 0");
  }
  if (o.metadata.size() > kMaxMetadata) {
    return Status::InvalidArgument("pool metadata exceeds 4 KiB");
  }
  if (o.replace_existing) (void)Remove(o.name);

  const Layout layout = LayoutOf(o);
  const std::size_t slot_bytes = layout.slot_bytes, data_offset = layout.data_offset,
                    total = layout.total;

  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<Segment> segment,
                             Segment::Create(o.name, total, o.prefault));
  void* base = segment->bytes().data();
  if (o.prefault) {
    // MAP_POPULATE alone maps the holes of a fresh segment for reading; writing every page
    // here allocates them, so neither the gateway nor an aggregator faults on the data path.
    std::memset(static_cast<char*>(base) + data_offset, 0, total - data_offset);
  }
  auto* h = new (base) Header();  // the fresh segment is zero-filled
  h->version = kPoolVersion;
  h->num_slots = o.num_slots;
  h->slot_bytes = slot_bytes;
  h->max_holders = o.max_holders;
  h->cursor = 0;
  h->free_slots = o.num_slots;
  h->slots_offset = layout.slots_offset;
  h->rows_offset = layout.rows_offset;
  h->counts_offset = layout.counts_offset;
  h->data_offset = data_offset;
  h->total_bytes = total;
  h->metadata_bytes = o.metadata.size();
  std::memcpy(h->metadata, o.metadata.data(), o.metadata.size());
  InitRobustMutex(&h->mutex);
  std::vector<uint64_t> offsets(o.num_slots);
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<SlotObjects> objects,
                             segment->LaySlots(data_offset, slot_bytes, offsets));
  for (uint32_t s = 0; s < o.num_slots; ++s) h->slots()[s].offset = offsets[s];
  h->magic.store(kPoolMagic, std::memory_order_release);

  std::unique_ptr<SlotPool> pool(new SlotPool(o.name, std::move(segment), std::move(objects)));
  TRIBUTARY_RETURN_IF_ERROR(pool->RegisterHolder());
  return pool;
}

Result<std::unique_ptr<SlotPool>> SlotPool::Open(std::string_view name, bool prefault) {
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<Segment> segment,
                             Segment::Open(std::string(name), prefault));
  const std::size_t mapped = segment->bytes().size();
  auto* h = reinterpret_cast<Header*>(segment->bytes().data());
  if (mapped < sizeof(Header) || h->magic.load(std::memory_order_acquire) != kPoolMagic) {
    return Status::FailedPrecondition("segment " + std::string(name) + " is not a slot pool");
  }
  if (h->version != kPoolVersion) {
    return Status::FailedPrecondition("slot pool " + std::string(name) + " has version " +
                                      std::to_string(h->version) + ", expected " +
                                      std::to_string(kPoolVersion));
  }
  if (h->total_bytes != mapped) {
    return Status::DataLoss("slot pool " + std::string(name) + " is truncated");
  }
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<SlotObjects> objects, segment->OpenSlots());
  std::unique_ptr<SlotPool> pool(
      new SlotPool(std::string(name), std::move(segment), std::move(objects)));
  TRIBUTARY_RETURN_IF_ERROR(pool->RegisterHolder());
  return pool;
}

Status SlotPool::Remove(std::string_view name) { return Segment::Remove(std::string(name)); }

SlotPool::SlotPool(std::string name, std::unique_ptr<Segment> segment,
                   std::unique_ptr<SlotObjects> objects)
    : name_(std::move(name)),
      segment_(std::move(segment)),
      objects_(std::move(objects)),
      header_(reinterpret_cast<Header*>(segment_->bytes().data())) {}

SlotPool::~SlotPool() {
  if (!keep_references_ && header_->magic.load(std::memory_order_acquire) == kPoolMagic) {
    UnregisterHolder();
  }
}

Status SlotPool::RegisterHolder() {
  const int32_t pid = static_cast<int32_t>(getpid());
  Lock lock(this);
  HolderRow* rows = header_->rows();
  uint32_t free_row = header_->max_holders;
  for (uint32_t r = 0; r < header_->max_holders; ++r) {
    if (rows[r].pid == pid) {
      ++rows[r].opens;
      my_row_ = r;
      return Status::Ok();
    }
    if (rows[r].pid == 0 && free_row == header_->max_holders) free_row = r;
  }
  if (free_row == header_->max_holders) {
    return Status::ResourceExhausted("slot pool " + name_ + " has no free holder row (" +
                                     std::to_string(header_->max_holders) + " processes)");
  }
  std::memset(RowCounts(free_row), 0, sizeof(uint32_t) * header_->num_slots);
  rows[free_row].opens = 1;
  rows[free_row].pid = pid;
  my_row_ = free_row;
  return Status::Ok();
}

void SlotPool::UnregisterHolder() {
  Lock lock(this);
  HolderRow& row = header_->rows()[my_row_];
  if (row.pid != static_cast<int32_t>(getpid())) return;  // reclaimed already
  if (--row.opens == 0) DropRowLocked(my_row_);
}

uint32_t* SlotPool::RowCounts(uint32_t row) const {
  return header_->counts() + std::size_t(row) * header_->num_slots;
}

uint32_t SlotPool::DropRowLocked(uint32_t row) {
  uint32_t dropped = 0;
  uint32_t* counts = RowCounts(row);
  SlotMeta* slots = header_->slots();
  for (uint32_t s = 0; s < header_->num_slots; ++s) {
    if (counts[s] == 0) continue;
    dropped += counts[s];
    slots[s].refcount -= counts[s];
    counts[s] = 0;
    if (slots[s].refcount == 0) FreedLocked(s);
  }
  header_->rows()[row].pid = 0;
  header_->rows()[row].opens = 0;
  return dropped;
}

Result<SlotHandle> SlotPool::Allocate() {
  Lock lock(this);
  const uint32_t n = header_->num_slots;
  if (header_->free_slots == 0) {
    return Status::ResourceExhausted("slot pool " + name_ + " is full (" + std::to_string(n) +
                                     " slots in use)");
  }
  TRIBUTARY_ASSIGN_OR_RETURN(const uint32_t s, TakeFreeLocked());
  SlotMeta& slot = header_->slots()[s];
  RowCounts(my_row_)[s] = 1;
  slot.refcount = 1;
  slot.generation += 1;
  --header_->free_slots;
  return SlotHandle{s, slot.generation};
}

Result<std::size_t> SlotPool::DiscardFreeSlots() {
  Lock lock(this);
  std::size_t bytes = 0;
  for (uint32_t s = 0; s < header_->num_slots; ++s) {
    if (header_->slots()[s].refcount != 0) continue;
    TRIBUTARY_RETURN_IF_ERROR(segment_->Discard(Bytes(s)));
    bytes += header_->slot_bytes;
  }
  return bytes;
}

Result<uint32_t> SlotPool::TakeFreeLocked() {
  const uint32_t n = header_->num_slots;
  SlotMeta* slots = header_->slots();
  if (objects_) {
    const std::optional<uint32_t> s = objects_->Take();
    if (s && *s < n && slots[*s].refcount == 0) return *s;
  } else {
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t s = (header_->cursor + i) % n;
      if (slots[s].refcount != 0) continue;
      header_->cursor = (s + 1) % n;
      return s;
    }
  }
  return Status::Internal("slot pool " + name_ + " free list is inconsistent");
}

void SlotPool::FreedLocked(uint32_t index) {
  ++header_->free_slots;
  if (objects_) objects_->Give(index);
}

Status SlotPool::Acquire(SlotHandle h) {
  if (h.index >= header_->num_slots) return Status::OutOfRange("slot index out of range");
  Lock lock(this);
  SlotMeta& m = header_->slots()[h.index];
  if (m.refcount == 0 || m.generation != h.generation) {
    return Status::FailedPrecondition("slot " + std::to_string(h.index) + " generation " +
                                      std::to_string(h.generation) + " is no longer live");
  }
  ++RowCounts(my_row_)[h.index];
  ++m.refcount;
  return Status::Ok();
}

Status SlotPool::Release(SlotHandle h) {
  if (h.index >= header_->num_slots) return Status::OutOfRange("slot index out of range");
  Lock lock(this);
  SlotMeta& m = header_->slots()[h.index];
  uint32_t& mine = RowCounts(my_row_)[h.index];
  if (mine == 0 || m.generation != h.generation) {
    return Status::FailedPrecondition("this process holds no reference on slot " +
                                      std::to_string(h.index) + " generation " +
                                      std::to_string(h.generation));
  }
  --mine;
  if (--m.refcount == 0) FreedLocked(h.index);
  return Status::Ok();
}

uint32_t SlotPool::Reclaim(pid_t pid) {
  Lock lock(this);
  for (uint32_t r = 0; r < header_->max_holders; ++r) {
    if (header_->rows()[r].pid == static_cast<int32_t>(pid)) return DropRowLocked(r);
  }
  return 0;
}

uint32_t SlotPool::ReclaimDead() {
  Lock lock(this);
  uint32_t dropped = 0;
  for (uint32_t r = 0; r < header_->max_holders; ++r) {
    int32_t pid = header_->rows()[r].pid;
    if (pid != 0 && kill(pid, 0) != 0 && errno == ESRCH) dropped += DropRowLocked(r);
  }
  return dropped;
}

std::span<std::byte> SlotPool::Bytes(uint32_t index) const {
  return {segment_->bytes().data() + header_->slots()[index].offset, header_->slot_bytes};
}

std::span<float> SlotPool::Floats(uint32_t index) const {
  auto bytes = Bytes(index);
  return {reinterpret_cast<float*>(bytes.data()), bytes.size() / sizeof(float)};
}

std::span<const std::byte> SlotPool::Mapping() const { return segment_->bytes(); }

std::string_view SlotPool::metadata() const { return {header_->metadata, header_->metadata_bytes}; }

std::size_t SlotPool::slot_bytes() const { return header_->slot_bytes; }
uint32_t SlotPool::num_slots() const { return header_->num_slots; }

uint32_t SlotPool::FreeSlots() const {
  Lock lock(this);
  return header_->free_slots;
}

uint32_t SlotPool::RefCount(uint32_t index) const {
  Lock lock(this);
  return header_->slots()[index].refcount;
}

uint32_t SlotPool::HeldByMe(uint32_t index) const {
  Lock lock(this);
  return RowCounts(my_row_)[index];
}

}  // namespace tributary::shm
