// OpenMP helpers for robust/ that also compile without OpenMP (then everything runs on one
// thread). Internal to robust/.
//
// Determinism: the kernels split the coordinates into fixed blocks, give each thread a
// contiguous range of blocks (static schedule) and add the per-thread partial sums in thread
// order, so a result depends only on the inputs and the thread count.
#pragma once

#include <cstddef>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tributary::robust::internal {

// Below this many values (n * d) a kernel runs on one thread: forking costs more than it saves.
inline constexpr std::size_t kParallelMinValues = std::size_t{1} << 16;

inline int MaxThreads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int ThreadIndex() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace tributary::robust::internal
