// KeepHeapWarm: stops glibc from returning memory to the kernel between messages.
//
// By default glibc serves allocations above 32 MiB (and growing heaps) with fresh mmaps and
// trims freed memory back to the kernel, so every multi-megabyte gRPC message faults its pages
// in again: measured on this class of machine, that costs more than the copy itself. Processes
// that move model-sized messages (serve, sim, benchmarks) call this once at start.
#pragma once

#include <malloc.h>

namespace tributary::cli {

inline void KeepHeapWarm() {
  mallopt(M_MMAP_MAX, 0);                // never mmap an allocation: reuse the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // keep up to 1 GiB of freed heap mapped
  mallopt(M_TOP_PAD, 64 << 20);          // grow the heap in large steps
}

}  // namespace tributary::cli
