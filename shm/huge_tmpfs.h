// HugeTmpfs: the machine's tmpfs with 2 MiB pages, where a node keeps its POSIX pools instead of
// /dev/shm when it can.
//
// /dev/shm hands out 4 KiB pages, and every process that maps a pool pays for each of them the
// first time it touches it: the gateway writing an update into a slot, an aggregator writing
// the model. On a virtual machine whose page tables the hypervisor shadows, that first touch
// costs microseconds per page; there a 44.8 MB slot took 50-60 ms to write the first time, and
// rounds ran at half speed until every process had touched every slot (bench/RESULTS.md). With
// 2 MiB pages a slot is 22 page-table entries instead of 11,000.
//
// The mount is kHugeTmpfsDir, a tmpfs with huge=within_size (2 MiB pages wherever a whole one
// fits in the file, 4 KiB ones where memory is too fragmented), mode 1777 and half of memory,
// as /dev/shm. It is shared by the nodes of the machine and outlives them, as /dev/shm does, so
// that a restarted node takes its pools back. The first node that needs it mounts it, which
// takes CAP_SYS_ADMIN; a file lock keeps two nodes starting at once from mounting it twice.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "common/result.h"

namespace tributary::shm {

inline constexpr char kHugeTmpfsDir[] = "/run/tributary/shm";

// kHugeTmpfsDir, mounted now if it was not. An error saying why when it cannot be used:
// UNAVAILABLE when the kernel denies tmpfs huge pages, PERMISSION_DENIED when this process may
// not mount.
Result<std::string> PrepareHugeTmpfs();

// Whether `dir` is a tmpfs mount point that hands out huge pages.
bool IsHugeTmpfs(const std::string& dir);

// The bytes of file `path` that process `pid` (0: this one) maps in 2 MiB pages, from the
// ShmemPmdMapped lines of its /proc/PID/smaps. Less than the file where memory was too
// fragmented to give whole 2 MiB pages.
std::size_t HugeMappedBytes(const std::string& path, pid_t pid = 0);

}  // namespace tributary::shm
