#include "shm/dpdk_memory.h"

#include <atomic>

#ifdef TRIBUTARY_HAVE_DPDK

#include <fcntl.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "shm/mounts.h"

namespace fs = std::filesystem;

namespace tributary::shm {
namespace {

std::atomic<bool> attached{false};

constexpr std::size_t kHugepageBytes = 2u << 20;
constexpr const char* kHugepages = "/sys/kernel/mm/hugepages/hugepages-2048kB/";

Result<long> ReadCount(const std::string& file) {
  std::ifstream in(kHugepages + file);
  long value = -1;
  if (!(in >> value)) return Status::Unavailable(std::string("cannot read ") + kHugepages + file);
  return value;
}

Status WriteHugepages(long pages) {
  std::ofstream out(std::string(kHugepages) + "nr_hugepages");
  out << pages;
  out.close();
  if (!out) return Status::FromErrno(std::string("writing ") + kHugepages + "nr_hugepages");
  return Status::Ok();
}

// MemAvailable of /proc/meminfo, in bytes (0 when unreadable).
long AvailableBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  long kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib * 1024;
    meminfo.ignore(64, '\n');
  }
  return 0;
}

constexpr const char* kRunDir = "/run/tributary/";

// A mounted hugetlbfs of 2 MiB pages, or "". Not another node's own mount: that node unmounts
// it when it stops, or when it starts again after a crash.
std::string MountedHugetlbfs() {
  for (const Mount& m : ReadMounts()) {
    if (m.type != "hugetlbfs" || m.dir.starts_with(kRunDir + std::string("hugepages-"))) continue;
    if (m.options.find("pagesize=") == std::string::npos ||
        m.options.find("pagesize=2M") != std::string::npos) {
      return m.dir;
    }
  }
  return "";
}

// The file that records how many hugepages the primary of `prefix` added to vm.nr_hugepages.
std::string PagesFile(const std::string& prefix) { return kRunDir + prefix + ".hugepages"; }

void RemovePageFiles(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(prefix + "map_")) fs::remove(entry.path(), ec);
  }
}

// Gives back the pages the primary of `prefix` added, as its record says, and drops the record.
void GiveBackPages(const std::string& prefix) {
  long added = 0;
  if (std::ifstream(PagesFile(prefix)) >> added; added > 0) {
    if (auto total = ReadCount("nr_hugepages"); total) {
      (void)WriteHugepages(std::max(0L, *total - added));
    }
  }
  std::error_code ec;
  fs::remove(PagesFile(prefix), ec);
}

// Removes what a primary of `prefix` that died left behind: its hugepage files, its own
// hugetlbfs mount, the EAL's runtime files and the pages it added. UNAVAILABLE when a live
// primary holds the prefix (the EAL keeps a write lock on its config file).
Status CleanStalePrefix(const std::string& prefix, const std::string& runtime_dir) {
  const std::string config = runtime_dir + "/config";
  if (const int fd = open(config.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    struct flock probe = {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    const bool locked = fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    close(fd);
    if (locked) {
      return Status::Unavailable("a live DPDK primary (pid " + std::to_string(probe.l_pid) +
                                 ") holds the file prefix " + prefix);
    }
  }
  std::error_code ec;
  const bool stale = fs::exists(runtime_dir, ec) || fs::exists(PagesFile(prefix), ec);
  if (!stale) return Status::Ok();
  spdlog::warn("shared memory: cleaning DPDK prefix {} that a previous run left", prefix);
  const std::string own_mount = kRunDir + ("hugepages-" + prefix);
  for (const std::string& dir : {MountedHugetlbfs(), own_mount}) {
    if (!dir.empty()) RemovePageFiles(dir, prefix);
  }
  if (umount2(own_mount.c_str(), MNT_DETACH) == 0) fs::remove(own_mount, ec);
  fs::remove_all(runtime_dir, ec);
  GiveBackPages(prefix);
  return Status::Ok();
}

// Runs rte_eal_init with `args` on one core and gives the calling thread its CPUs back.
Status InitEal(std::vector<std::string> args) {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  sched_getaffinity(0, sizeof cpus, &cpus);
  int first_cpu = 0;
  while (first_cpu < CPU_SETSIZE && !CPU_ISSET(first_cpu, &cpus)) ++first_cpu;
  // One lcore (no worker threads), no PCI devices, no telemetry socket.
  args.insert(args.begin(), {"tributary", "-l", std::to_string(first_cpu), "--no-pci",
                             "--no-telemetry", "--log-level", "lib.eal:warning"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
  const int err = rte_errno;
  sched_setaffinity(0, sizeof cpus, &cpus);
  if (rc < 0) {
    return Status::Unavailable("DPDK EAL did not start: " + std::string(rte_strerror(err)) +
                               " (its log above says why)");
  }
  return Status::Ok();
}

}  // namespace

bool DpdkMemory::Built() { return true; }
bool DpdkMemory::Attached() { return attached.load(std::memory_order_acquire); }

Result<std::unique_ptr<DpdkMemory>> DpdkMemory::Attach(const DpdkOptions& o) {
  if (attached.load()) return Status::FailedPrecondition("DPDK memory is attached already");
  if (o.file_prefix.empty()) return Status::InvalidArgument("DPDK needs a file prefix");
  if (geteuid() != 0) {
    return Status::FailedPrecondition("the DPDK backend needs root (hugepages and the EAL)");
  }
  std::unique_ptr<DpdkMemory> m(new DpdkMemory());
  m->primary_ = o.primary;
  m->file_prefix_ = o.file_prefix;
  if (!o.primary) {
    if (o.huge_dir.empty()) return Status::InvalidArgument("a DPDK secondary needs huge_dir");
    m->huge_dir_ = o.huge_dir;
    TRIBUTARY_RETURN_IF_ERROR(InitEal(
        {"--proc-type", "secondary", "--file-prefix", o.file_prefix, "--huge-dir", o.huge_dir}));
    attached.store(true, std::memory_order_release);
    return m;
  }

  if (o.memory_bytes == 0) return Status::InvalidArgument("DPDK needs memory_bytes > 0");
  // The EAL's runtime directory for root (rte_eal_get_runtime_dir() once it runs).
  TRIBUTARY_RETURN_IF_ERROR(CleanStalePrefix(o.file_prefix, "/var/run/dpdk/" + o.file_prefix));
  // Reserve the pages: raise vm.nr_hugepages by what the free pages lack.
  const long need = static_cast<long>((o.memory_bytes + kHugepageBytes - 1) / kHugepageBytes);
  TRIBUTARY_ASSIGN_OR_RETURN(const long total, ReadCount("nr_hugepages"));
  TRIBUTARY_ASSIGN_OR_RETURN(const long free, ReadCount("free_hugepages"));
  if (free < need) {
    // Asking the kernel for more than it has would first take all it can find.
    const long available = AvailableBytes() / static_cast<long>(kHugepageBytes);
    if (need - free > available) {
      return Status::ResourceExhausted(
          "DPDK needs " + std::to_string(need) + " free 2 MiB hugepages (" +
          std::to_string(o.memory_bytes >> 20) + " MiB); " + std::to_string(free) +
          " are free and memory has room for " + std::to_string(available) + " more");
    }
    TRIBUTARY_RETURN_IF_ERROR(WriteHugepages(total + need - free));
    TRIBUTARY_ASSIGN_OR_RETURN(const long now_total, ReadCount("nr_hugepages"));
    // Recorded for the destructor, or for the next primary if this one dies.
    std::error_code ec;
    fs::create_directories(kRunDir, ec);
    std::ofstream(PagesFile(o.file_prefix)) << now_total - total << '\n';
    TRIBUTARY_ASSIGN_OR_RETURN(const long now_free, ReadCount("free_hugepages"));
    if (now_free < need) {
      return Status::ResourceExhausted(
          "the kernel gave only " + std::to_string(now_free) + " of the " + std::to_string(need) +
          " free 2 MiB hugepages DPDK needs (" + std::to_string(o.memory_bytes >> 20) +
          " MiB; memory too fragmented or too small)");
    }
  }
  m->huge_dir_ = MountedHugetlbfs();
  if (m->huge_dir_.empty()) {
    m->huge_dir_ = kRunDir + ("hugepages-" + o.file_prefix);
    std::error_code ec;
    fs::create_directories(m->huge_dir_, ec);
    if (mount("nodev", m->huge_dir_.c_str(), "hugetlbfs", 0, "pagesize=2M") != 0) {
      return Status::FromErrno("mounting hugetlbfs on " + m->huge_dir_);
    }
    m->mounted_ = true;
  }
  // All of it mapped now (-m), before any secondary attaches: memzones and the secondaries' own
  // allocations are carved from it, so the EAL never grows its heap later. Growing it runs a
  // multi-process sync with every secondary, and with a secondary killed around that exchange
  // (an aggregator's replacement starting at once) the replacement was seen to spin forever in
  // rte_eal_init on one of the EAL's shared locks, about one start in forty under load.
  TRIBUTARY_RETURN_IF_ERROR(
      InitEal({"--proc-type", "primary", "--file-prefix", o.file_prefix, "--huge-dir", m->huge_dir_,
               "-m", std::to_string(need * (kHugepageBytes >> 20))}));
  m->runtime_dir_ = rte_eal_get_runtime_dir();
  attached.store(true, std::memory_order_release);
  spdlog::info("shared memory: DPDK memzones in {} MiB of 2 MiB hugepages ({}, prefix {})",
               o.memory_bytes >> 20, m->huge_dir_, o.file_prefix);
  return m;
}

DpdkMemory::~DpdkMemory() {
  if (attached.exchange(false)) rte_eal_cleanup();
  if (!primary_) return;
  std::error_code ec;
  if (!runtime_dir_.empty()) fs::remove_all(runtime_dir_, ec);
  RemovePageFiles(huge_dir_, file_prefix_);  // pages that memzones still held
  if (mounted_) {
    umount2(huge_dir_.c_str(), MNT_DETACH);
    fs::remove(huge_dir_, ec);
  }
  GiveBackPages(file_prefix_);
  fs::remove(kRunDir, ec);  // when empty
}

}  // namespace tributary::shm

#else  // !TRIBUTARY_HAVE_DPDK

namespace tributary::shm {

bool DpdkMemory::Built() { return false; }
bool DpdkMemory::Attached() { return false; }

Result<std::unique_ptr<DpdkMemory>> DpdkMemory::Attach(const DpdkOptions&) {
  return Status::Unimplemented(
      "this build has no DPDK backend (install libdpdk-dev, then configure and build again)");
}

DpdkMemory::~DpdkMemory() = default;

}  // namespace tributary::shm

#endif
