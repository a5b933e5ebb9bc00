// The sorting network and the column sorter behind the median, the trimmed mean and Bulyan: the
// network sorts every input (the 0-1 principle, then random ones), and the sorter's columns,
// over block and group edges and with NaN, ±Inf and ±0 among the values, hold exactly each
// coordinate's values in ascending order; the rules built on them agree with the definitions.
#include "robust/internal/column_sorter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "robust/bulyan.h"
#include "robust/coordinate_wise.h"
#include "robust/gram.h"
#include "tests/robust/test_util.h"

namespace tributary::robust {
namespace {

using internal::ColumnSorter;
using internal::OddEvenMergeSortNetwork;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

template <typename T>
void Apply(const std::vector<internal::CompareExchange>& network, std::vector<T>& v) {
  for (const auto& c : network) {
    ASSERT_LT(c.lo, c.hi);
    ASSERT_LT(c.hi, v.size());
    if (v[c.hi] < v[c.lo]) std::swap(v[c.lo], v[c.hi]);
  }
}

TEST(RobustColumnSorter, NetworkSortsEveryZeroOneInputUpToSixteen) {
  for (std::size_t n = 1; n <= 16; ++n) {
    const auto network = OddEvenMergeSortNetwork(n);
    for (uint32_t bits = 0; bits < (1u << n); ++bits) {
      std::vector<int> v(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = (bits >> i) & 1;
      Apply(network, v);
      ASSERT_TRUE(std::is_sorted(v.begin(), v.end())) << "n=" << n << " input " << bits;
    }
  }
}

TEST(RobustColumnSorter, NetworkSortsRandomInputs) {
  std::mt19937_64 rng(5);
  for (std::size_t n : {17u, 33u, 50u, 64u, 100u, 255u, 1000u}) {
    const auto network = OddEvenMergeSortNetwork(n);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<uint64_t> v(n);
      for (auto& x : v) x = rng() % (trial % 2 ? 4 : 1000000);  // with and without ties
      std::vector<uint64_t> expected = v;
      std::sort(expected.begin(), expected.end());
      Apply(network, v);
      ASSERT_EQ(v, expected) << "n=" << n;
    }
  }
}

// n rows of d values drawn from a small set that holds every special float, so that ties,
// ±0, ±Inf and NaN meet in the same columns.
testing::Updates Awkward(std::size_t n, std::size_t d, uint64_t seed) {
  const float values[] = {-0.0f, 0.0f, 1.0f, -1.0f, 0.5f, 1e30f, -1e-30f, kInf, -kInf, kNaN};
  std::mt19937_64 rng(seed);
  testing::Updates u = testing::Gaussian(n, d, seed);
  for (auto& row : u.rows) {
    for (float& x : row) {
      if (rng() % 3 == 0) x = values[rng() % std::size(values)];
    }
  }
  return u;
}

TEST(RobustColumnSorter, ColumnsHoldEachCoordinatesValuesInOrder) {
  for (std::size_t n : {1u, 2u, 3u, 7u, 8u, 9u, 16u, 17u, 50u, 129u}) {
    for (std::size_t dim : {1u, 7u, 8u, 9u, 255u, 256u, 257u, 1003u}) {
      const testing::Updates u = Awkward(n, dim, 31 * n + dim);
      const auto views = u.Views();
      const ColumnSorter sorter(n);
      ColumnSorter::Block block = sorter.NewBlock();
      for (std::size_t begin = 0; begin < dim; begin += ColumnSorter::kBlock) {
        const std::size_t len = std::min(ColumnSorter::kBlock, dim - begin);
        sorter.Sort(views, begin, len, block);
        for (std::size_t k = 0; k < len; ++k) {
          std::vector<uint32_t> want, got;  // the values' bits: -0 and +0 both kept
          std::vector<float> sorted;
          for (std::size_t i = 0; i < n; ++i) {
            const float x = u.rows[i][begin + k];
            want.push_back(std::bit_cast<uint32_t>(std::isnan(x) ? kInf : x));
            const float y = sorter.Group(block, k / 8 * 8).Coordinate(k % 8)[i];
            got.push_back(std::bit_cast<uint32_t>(y));
            sorted.push_back(y);
          }
          ASSERT_TRUE(std::is_sorted(sorted.begin(), sorted.end()))
              << "n=" << n << " coordinate " << begin + k;
          std::sort(want.begin(), want.end());
          std::sort(got.begin(), got.end());
          ASSERT_EQ(got, want) << "n=" << n << " coordinate " << begin + k;
        }
      }
    }
  }
}

// The definitions, one coordinate at a time, over std::sort.
std::vector<float> SortedColumn(const testing::Updates& u, std::size_t k) {
  std::vector<float> v;
  for (const auto& row : u.rows) v.push_back(std::isnan(row[k]) ? kInf : row[k]);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(RobustColumnSorter, MedianAndTrimmedMeanFollowTheirDefinitions) {
  for (std::size_t n : {1u, 2u, 5u, 8u, 15u, 50u}) {
    const testing::Updates u = Awkward(n, 1003, 7 + n);
    std::vector<double> median(u.dim()), trimmed(u.dim());
    const std::size_t f = (n - 1) / 4;
    ASSERT_TRUE(CoordinateMedian(u.Views(), median).ok());
    ASSERT_TRUE(TrimmedMean(u.Views(), f, trimmed).ok());
    for (std::size_t k = 0; k < u.dim(); ++k) {
      const std::vector<float> v = SortedColumn(u, k);
      const double want_median =
          n % 2 ? double{v[n / 2]} : 0.5 * (double{v[n / 2 - 1]} + double{v[n / 2]});
      double sum = 0.0;
      for (std::size_t j = f; j < n - f; ++j) sum += v[j];
      const double want_trimmed = sum / static_cast<double>(n - 2 * f);
      if (std::isnan(want_median)) {
        EXPECT_TRUE(std::isnan(median[k])) << "n=" << n << " k=" << k;
      } else {
        EXPECT_EQ(median[k], want_median) << "n=" << n << " k=" << k;
      }
      if (std::isnan(want_trimmed)) {
        EXPECT_TRUE(std::isnan(trimmed[k])) << "n=" << n << " k=" << k;
      } else {
        EXPECT_EQ(trimmed[k], want_trimmed) << "n=" << n << " k=" << k;
      }
    }
  }
}

TEST(RobustColumnSorter, BulyanAveragesTheWindowAroundEachMedian) {
  const std::size_t f = 2, n = 4 * f + 3;
  const testing::Updates u = testing::Gaussian(n, 1003, 91);
  const Eigen::MatrixXd gram = Gram(u.Views());
  std::vector<double> out(u.dim());
  ASSERT_TRUE(BulyanFromGram(u.Views(), gram, f, out).ok());
  auto selected = BulyanSelect(SquaredDistancesFromGram(gram), f);
  ASSERT_TRUE(selected.has_value());
  testing::Updates kept;
  for (std::size_t i : *selected) kept.rows.push_back(u.rows[i]);
  const std::size_t beta = selected->size() - 2 * f;
  for (std::size_t k = 0; k < u.dim(); ++k) {
    // Sorted, the β values nearest the median are the ones left after trimming the extremes
    // one by one from whichever end lies farther from it.
    std::vector<float> v = SortedColumn(kept, k);
    const double mid = v.size() % 2 ? double{v[v.size() / 2]}
                                    : 0.5 * (double{v[v.size() / 2 - 1]} + v[v.size() / 2]);
    std::size_t lo = 0, hi = v.size();
    while (hi - lo > beta) {
      if (mid - v[lo] > v[hi - 1] - mid)
        ++lo;
      else
        --hi;
    }
    double sum = 0.0;
    for (std::size_t j = lo; j < hi; ++j) sum += v[j];
    EXPECT_NEAR(out[k], sum / static_cast<double>(beta), 1e-6) << "k=" << k;
  }
}

}  // namespace
}  // namespace tributary::robust
