// ForEachCoordinate: the loop behind the coordinate-wise rules (median, trimmed mean, Bulyan's
// second stage). Internal to robust/.
//
// For each coordinate k it gathers the n values updates[i][k] into a scratch span of doubles
// and stores fn(values) in out[k]. NaN is gathered as +Inf, so that order statistics stay
// well defined and a NaN counts as an extreme value (trimmed away, never the median while
// fewer than half the updates are non-finite). fn may reorder the span. Coordinates are
// processed in blocks that are transposed once into per-thread scratch, on all cores.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "robust/internal/parallel.h"
#include "robust/update_views.h"

namespace tributary::robust::internal {

template <typename Fn>  // double fn(std::span<double> values)
void ForEachCoordinate(UpdateViews updates, std::span<double> out, Fn fn) {
  constexpr std::size_t kBlock = 256;
  const std::size_t n = updates.size();
  const std::size_t dim = out.size();
  const std::size_t blocks = (dim + kBlock - 1) / kBlock;
#pragma omp parallel if (n * dim >= kParallelMinValues)
  {
    std::vector<double> scratch(kBlock * n);
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t begin = b * kBlock;
      const std::size_t len = std::min(kBlock, dim - begin);
      for (std::size_t i = 0; i < n; ++i) {
        const float* x = updates[i].data() + begin;
        for (std::size_t k = 0; k < len; ++k) {
          scratch[k * n + i] =
              std::isnan(x[k]) ? std::numeric_limits<double>::infinity() : double{x[k]};
        }
      }
      for (std::size_t k = 0; k < len; ++k) {
        out[begin + k] = fn(std::span<double>(scratch.data() + k * n, n));
      }
    }
  }
}

}  // namespace tributary::robust::internal
