// BulyanWindowMean: Bulyan's second stage on one coordinate (robust/bulyan.h), in one place for
// the CPU (robust/bulyan.cc) and the CUDA kernel (gpu/cuda/kernels.cu), which must agree to the
// bit. Internal to robust/ and gpu/.
#pragma once

#include <cstddef>

#if defined(__CUDACC__)
#define TRIBUTARY_HOST_DEVICE __host__ __device__
#else
#define TRIBUTARY_HOST_DEVICE
#endif

namespace tributary::robust::internal {

// The mean of the β of the n ascending values v[0], ..., v[n-1] closest to their median (the
// mean of the two middle ones for even n). They are a window of the sorted values, grown from
// the middle by the nearer neighbour (the smaller value on a tie) and summed in increasing
// order, so that the result depends on the values alone. REQUIRES: 1 <= beta <= n.
template <typename Values>
TRIBUTARY_HOST_DEVICE inline double BulyanWindowMean(const Values& v, std::size_t n,
                                                     std::size_t beta) {
  const double median = n % 2 == 1 ? static_cast<double>(v[n / 2])
                                   : 0.5 * (static_cast<double>(v[n / 2 - 1]) +
                                            static_cast<double>(v[n / 2]));
  std::size_t lo = n / 2, hi = n / 2;
  while (hi - lo < beta) {
    if (hi == n || (lo > 0 && median - static_cast<double>(v[lo - 1]) <=
                                  static_cast<double>(v[hi]) - median)) {
      --lo;
    } else {
      ++hi;
    }
  }
  double sum = 0.0;
  for (std::size_t j = lo; j < hi; ++j) sum += static_cast<double>(v[j]);
  return sum / static_cast<double>(beta);
}

}  // namespace tributary::robust::internal
