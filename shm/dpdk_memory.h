// DpdkMemory: this process's attachment to its node's DPDK hugepage memory, in DPDK's
// multi-process model. While a process is attached, its Segments (and so its SlotPools) are
// memzones in hugepages instead of POSIX shared memory (segment.h).
//
// `tributary serve --shm-backend dpdk` attaches as the EAL primary: it reserves the 2 MiB
// hugepages it needs (raising vm.nr_hugepages by what is missing), uses a mounted hugetlbfs or
// mounts one of its own, and initialises the EAL with --no-pci, --proc-type primary and a file
// prefix per node. Its aggregator processes attach as secondaries with the same prefix and
// hugepage directory. Detaching the primary (the destructor) cleans up the EAL, removes its
// runtime files, unmounts what it mounted and gives the pages it added back. What a primary
// that died left of its prefix (page files, mount, runtime files, added pages, which it
// records under /run/tributary) is cleaned by the next primary; a prefix in use is refused.
//
// Once per process, from its main thread before it starts others (the EAL pins the calling
// thread while it initialises; the thread's affinity is restored afterwards).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"

namespace tributary::shm {

struct DpdkOptions {
  std::string file_prefix;       // one per node (required)
  bool primary = false;          // serve: true; its aggregators: false
  std::size_t memory_bytes = 0;  // primary: hugepage memory to reserve (required, > 0)
  std::string huge_dir;          // secondary: the primary's huge_dir() (required)
};

class DpdkMemory {
 public:
  // Whether this build has the DPDK backend.
  static bool Built();
  // Whether this process is attached (its Segments are memzones).
  static bool Attached();

  // UNIMPLEMENTED without DPDK in the build; FAILED_PRECONDITION without root or when already
  // attached; RESOURCE_EXHAUSTED when the hugepages cannot be reserved; UNAVAILABLE when the
  // EAL fails to start (a live primary holds the prefix, say).
  static Result<std::unique_ptr<DpdkMemory>> Attach(const DpdkOptions& options);
  ~DpdkMemory();
  DpdkMemory(const DpdkMemory&) = delete;
  DpdkMemory& operator=(const DpdkMemory&) = delete;

  // The hugetlbfs directory of the node's pages (what secondaries pass as huge_dir).
  const std::string& huge_dir() const { return huge_dir_; }
  const std::string& file_prefix() const { return file_prefix_; }

 private:
  DpdkMemory() = default;

  bool primary_ = false;
  std::string file_prefix_;
  std::string huge_dir_;
  std::string runtime_dir_;  // the EAL's files for this prefix
  bool mounted_ = false;     // huge_dir_ is our own hugetlbfs mount
};

}  // namespace tributary::shm
