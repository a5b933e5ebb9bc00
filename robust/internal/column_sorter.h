// ColumnSorter: sorts each coordinate's n values across a block of coordinates at once, for the
// order-statistic rules (median, trimmed mean, Bulyan's second stage). Internal to robust/.
//
// One coordinate's n values sit in n different updates, so sorting them one coordinate at a
// time (a gather, then a branchy std::sort or nth_element) runs at a small fraction of memory
// bandwidth. Instead, eight adjacent coordinates are loaded as the eight lanes of n AVX vectors
// and sorted together by a sorting network (Batcher's odd-even merge sort): a fixed sequence of
// compare-exchanges, each one vector min and one max, with no branch that depends on the data.
// Where the CPU has no AVX, each coordinate is gathered and sorted with std::sort.
//
// Values are sorted as floats (exact: it is the order of the doubles they widen to); NaN is
// sorted as +Inf, so that a NaN counts as an extreme value. Results are the same on both paths
// and match the CUDA kernels (gpu/cuda/kernels.cu), which sort the same floats.
//
// Thread safety: a ColumnSorter is immutable after construction and may be shared; each thread
// sorts into a Block of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "robust/update_views.h"

namespace tributary::robust::internal {

// v[lo] <= v[hi] after it.
struct CompareExchange {
  uint32_t lo;
  uint32_t hi;
};

// Batcher's odd-even merge sort network for n inputs: the network for the next power of two
// with the compare-exchanges that touch an index >= n left out (as if those inputs were +Inf,
// which stay at the end). O(n log² n) compare-exchanges.
std::vector<CompareExchange> OddEvenMergeSortNetwork(std::size_t n);

class ColumnSorter {
 public:
  // Coordinates sorted per call of Sort.
  static constexpr std::size_t kBlock = 256;

  // Eight coordinates' values, one lane each: the unit the network moves.
  struct alignas(32) Lanes {
    float v[8];
  };
  // A thread's scratch: the values of one block of coordinates, eight coordinates per group of
  // n Lanes.
  using Block = std::vector<Lanes>;

  // One coordinate's values in ascending order, read in place from a sorted Block.
  class SortedValues {
   public:
    SortedValues(const float* first, std::size_t n) : first_(first), n_(n) {}
    float operator[](std::size_t i) const { return first_[i * 8]; }
    std::size_t size() const { return n_; }

   private:
    const float* first_;
    std::size_t n_;
  };

  // Eight adjacent coordinates' values, each sorted: value i of coordinate l is rows[i].v[l].
  struct SortedGroup {
    const Lanes* rows;
    std::size_t n;
    SortedValues Coordinate(std::size_t l) const { return SortedValues(&rows[0].v[l], n); }
  };

  // A sorter for rounds of `n` (>= 1) updates.
  explicit ColumnSorter(std::size_t n);

  // Scratch for Sort, sized for this sorter's n.
  Block NewBlock() const { return Block(kBlock / 8 * n_); }

  // Sorts the values of coordinates [begin, begin + len) of `updates` (n views; len <= kBlock)
  // into `block`.
  void Sort(UpdateViews updates, std::size_t begin, std::size_t len, Block& block) const;

  // Coordinates begin + first, ..., begin + first + 7 of the last Sort into `block` (first a
  // multiple of 8; lanes past the block's len hold +Inf).
  SortedGroup Group(const Block& block, std::size_t first) const {
    return SortedGroup{&block[first / 8 * n_], n_};
  }

 private:
  std::size_t n_;
  std::vector<CompareExchange> network_;
};

}  // namespace tributary::robust::internal
