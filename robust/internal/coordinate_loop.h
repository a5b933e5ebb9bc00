// ForEachSortedGroup / ForEachSortedCoordinate: the loops behind the coordinate-wise rules
// (median, trimmed mean, Bulyan's second stage). Internal to robust/.
//
// For each coordinate k they sort the n values updates[i][k] (NaN as +Inf, see ColumnSorter)
// and hand them to fn, which writes out[k]. Coordinates go in blocks of ColumnSorter::kBlock,
// sorted together into per-thread scratch, on all cores. ForEachSortedGroup hands fn eight
// coordinates at a time, so that a rule may work on them in vector lanes.
#pragma once

#include <algorithm>
#include <span>

#include "robust/internal/column_sorter.h"
#include "robust/internal/parallel.h"
#include "robust/update_views.h"

namespace tributary::robust::internal {

// fn(const ColumnSorter::SortedGroup& group, std::span<double> out) writes out[l] (at most 8)
// from group.Coordinate(l).
template <typename Fn>
void ForEachSortedGroup(UpdateViews updates, std::span<double> out, Fn fn) {
  constexpr std::size_t kBlock = ColumnSorter::kBlock;
  const std::size_t n = updates.size();
  const std::size_t dim = out.size();
  const std::size_t blocks = (dim + kBlock - 1) / kBlock;
  const ColumnSorter sorter(n);
#pragma omp parallel if (n * dim >= kParallelMinValues)
  {
    ColumnSorter::Block block = sorter.NewBlock();
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t begin = b * kBlock;
      const std::size_t len = std::min(kBlock, dim - begin);
      sorter.Sort(updates, begin, len, block);
      for (std::size_t first = 0; first < len; first += 8) {
        fn(sorter.Group(block, first),
           out.subspan(begin + first, std::min<std::size_t>(8, len - first)));
      }
    }
  }
}

// out[k] = fn(values of coordinate k, sorted), fn(const ColumnSorter::SortedValues&) -> double.
template <typename Fn>
void ForEachSortedCoordinate(UpdateViews updates, std::span<double> out, Fn fn) {
  ForEachSortedGroup(updates, out,
                     [&fn](const ColumnSorter::SortedGroup& group, std::span<double> lanes) {
                       for (std::size_t l = 0; l < lanes.size(); ++l) {
                         lanes[l] = fn(group.Coordinate(l));
                       }
                     });
}

}  // namespace tributary::robust::internal
