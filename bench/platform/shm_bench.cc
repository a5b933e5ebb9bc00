// The shared-memory backends side by side, in one run, for update-sized slots (44.8 MB, 11.2M
// float32, ResNet-18 sized): POSIX shared memory in /dev/shm (4 KiB pages), POSIX shared memory
// in the tmpfs with 2 MiB pages (shm/huge_tmpfs.h; needs root to mount it, or an existing
// mount) and DPDK memzones in 2 MiB hugepages (dpdk).
//   - create: SlotPool::Create of a 4-slot pool, pre-faulted (what a job's creation costs),
//     the process's first and the median of the later ones: the EAL keeps hugepages it got
//     from the kernel for later memzones, a POSIX segment always starts from fresh pages;
//   - first write: a pool created without pre-faulting, then one slot written: with 4 KiB
//     pages every page faults on first touch (the kernel zeroes it); hugepages are allocated
//     and zeroed when the memzone is reserved, so they are included in create instead;
//   - first write by another process: a second process maps the pre-faulted pool and writes a
//     slot for the first time, as an aggregator writes a model or the gateway a slot it has not
//     used before: its own page-table entries, one per page;
//   - copy: 44.8 MB copied from the heap into a slot, warm (the gateway's copy; TLB reach);
//   - alloc/free: Allocate + Release of one slot (the pool's robust process-shared mutex).
// A process attaches to DPDK memory once and then every pool it makes is a memzone, so the dpdk
// row runs in a child process (`--backend dpdk`, root). Without --backend both rows are run and
// printed as a markdown table.
//
//   shm_bench [--reps N]      (the dpdk row needs root and a build with DPDK)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shm/dpdk_memory.h"
#include "shm/huge_tmpfs.h"
#include "shm/segment.h"
#include "shm/slot_pool.h"

namespace {

using tributary::shm::SlotPool;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kSlotBytes = 11'200'000 * sizeof(float);
constexpr uint32_t kSlots = 4;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  double first_create_ms = 0, create_ms = 0, first_write_ms = 0, other_write_ms = 0, copy_gbs = 0,
         alloc_free_ns = 0;
};

// Milliseconds a forked process takes to write slot `slot` of pool `name` the first time after
// it maps the pool (a memset: no source whose pages the new process would also have to map);
// negative on failure.
double OtherProcessFirstWrite(const std::string& name, uint32_t slot) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    double ms = -1;
    if (auto pool = SlotPool::Open(name)) {
      const auto start = Clock::now();
      std::memset((*pool)->Bytes(slot).data(), 1, kSlotBytes);
      ms = Seconds(start) * 1e3;
    }
    _exit(write(fds[1], &ms, sizeof ms) == sizeof ms ? 0 : 1);
  }
  close(fds[1]);
  double ms = -1;
  if (read(fds[0], &ms, sizeof ms) != sizeof ms) ms = -1;
  close(fds[0]);
  waitpid(child, nullptr, 0);
  return ms;
}

// Measures the backend this process uses; false (with a message) when a pool cannot be made.
bool Measure(int reps, const std::string& name, Row* row) {
  std::vector<double> create, first_write, other_write, copy, alloc_free;
  std::vector<std::byte> source(kSlotBytes, std::byte{1});
  for (int r = 0; r < reps; ++r) {
    auto start = Clock::now();
    auto pool = SlotPool::Create({.name = name, .slot_bytes = kSlotBytes, .num_slots = kSlots});
    if (!pool) {
      std::fprintf(stderr, "shm_bench: %s\n", pool.error().ToString().c_str());
      return false;
    }
    create.push_back(Seconds(start) * 1e3);
    other_write.push_back(OtherProcessFirstWrite(name, 0));

    for (int k = 0; k < 5; ++k) {  // warm copies into one slot
      auto bytes = (*pool)->Bytes(k % kSlots);
      start = Clock::now();
      std::memcpy(bytes.data(), source.data(), kSlotBytes);
      copy.push_back(kSlotBytes / Seconds(start) / 1e9);
    }
    constexpr int kPairs = 100000;
    start = Clock::now();
    for (int k = 0; k < kPairs; ++k) {
      auto slot = (*pool)->Allocate();
      (void)(*pool)->Release(*slot);
    }
    alloc_free.push_back(Seconds(start) / kPairs * 1e9);
    pool->reset();
    (void)SlotPool::Remove(name);

    auto cold = SlotPool::Create(
        {.name = name, .slot_bytes = kSlotBytes, .num_slots = 1, .prefault = false});
    if (!cold) return false;
    start = Clock::now();
    std::memcpy((*cold)->Bytes(0).data(), source.data(), kSlotBytes);
    first_write.push_back(Seconds(start) * 1e3);
    cold->reset();
    (void)SlotPool::Remove(name);
  }
  const std::vector<double> later(create.begin() + (create.size() > 1), create.end());
  *row = {create.front(),      Median(later), Median(first_write),
          Median(other_write), Median(copy),  Median(alloc_free)};
  return true;
}

void PrintRow(const char* backend, const Row& r) {
  std::printf("| %s | %.1f | %.1f (%.2f ms/MB) | %.1f | %.1f | %.2f | %.0f |\n", backend,
              r.first_create_ms, r.create_ms, r.create_ms / (kSlots * kSlotBytes / 1e6),
              r.first_write_ms, r.other_write_ms, r.copy_gbs, r.alloc_free_ns);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  std::string backend;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--backend") backend = argv[i + 1];
  }
  const std::string name = "tributary-shm-bench-" + std::to_string(getpid());
  if (backend == "dpdk") {  // the child: one row, as a line the parent parses
    auto memory =
        tributary::shm::DpdkMemory::Attach({.file_prefix = name,
                                            .primary = true,
                                            .memory_bytes = (kSlots + 2) * kSlotBytes + (64u << 20),
                                            .huge_dir = {}});
    if (!memory) {
      std::fprintf(stderr, "shm_bench: dpdk: %s\n", memory.error().ToString().c_str());
      return 2;
    }
    Row row;
    if (!Measure(reps, name, &row)) return 1;
    std::printf("%f %f %f %f %f %f\n", row.first_create_ms, row.create_ms, row.first_write_ms,
                row.other_write_ms, row.copy_gbs, row.alloc_free_ns);
    return 0;
  }

  tributary::shm::SetPosixSegmentDir("/dev/shm");
  Row small_pages;
  if (!Measure(reps, name, &small_pages)) return 1;
  std::printf(
      "| backend | create 4 × 44.8 MB slots, first, ms | create, later, ms | first write of a "
      "fresh 44.8 MB slot, ms | first write by a second process, ms | warm copy into a slot, "
      "GB/s | allocate + release, ns |\n"
      "|---|---|---|---|---|---|---|\n");
  PrintRow("posix, /dev/shm (4 KiB pages)", small_pages);
  if (auto huge = tributary::shm::PrepareHugeTmpfs()) {
    tributary::shm::SetPosixSegmentDir(*huge);
    Row row;
    if (!Measure(reps, name, &row)) return 1;
    PrintRow("posix, tmpfs with 2 MiB pages", row);
    tributary::shm::SetPosixSegmentDir("/dev/shm");
  } else {
    std::fprintf(stderr, "shm_bench: %s\n", huge.error().ToString().c_str());
    std::printf(
        "| posix, tmpfs with 2 MiB pages | not measured: see the message above | | | | | |\n");
  }

  const std::string reps_text = std::to_string(reps);
  std::string command = std::string("'") + argv[0] + "' --backend dpdk --reps " + reps_text;
  FILE* child = popen(command.c_str(), "r");
  Row dpdk;
  bool ok = false;  // the child's last line holds its row (log lines come before it)
  char line[512];
  while (child && std::fgets(line, sizeof line, child)) {
    ok = std::sscanf(line, "%lf %lf %lf %lf %lf %lf", &dpdk.first_create_ms, &dpdk.create_ms,
                     &dpdk.first_write_ms, &dpdk.other_write_ms, &dpdk.copy_gbs,
                     &dpdk.alloc_free_ns) == 6;
  }
  const int status = child ? pclose(child) : -1;
  if (ok && status == 0) {
    PrintRow("dpdk (memzones, 2 MiB hugepages)", dpdk);
  } else {
    std::printf(
        "| dpdk (memzones, 2 MiB hugepages) | not measured: see the message above "
        "(needs root and a build with DPDK) | | | | | |\n");
  }
  return 0;
}
