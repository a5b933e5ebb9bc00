#include "robust/internal/column_sorter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace tributary::robust::internal {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr std::size_t kPrefetchFloats = 64;

}  // namespace

std::vector<CompareExchange> OddEvenMergeSortNetwork(std::size_t n) {
  // Batcher's network in its iterative form: for runs of length p = 1, 2, 4, ..., merge each
  // pair of sorted runs into one of 2p by compare-exchanges at distances k = p, p/2, ..., 1
  // that stay within that run of 2p.
  std::vector<CompareExchange> network;
  for (std::size_t p = 1; p < n; p *= 2) {
    for (std::size_t k = p; k >= 1; k /= 2) {
      for (std::size_t j = k % p; j + k < n; j += 2 * k) {
        for (std::size_t i = 0; i < k && i + j + k < n; ++i) {
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
            network.push_back({static_cast<uint32_t>(i + j), static_cast<uint32_t>(i + j + k)});
          }
        }
      }
    }
  }
  return network;
}

ColumnSorter::ColumnSorter(std::size_t n) : n_(n), network_(OddEvenMergeSortNetwork(n)) {}

void ColumnSorter::Sort(UpdateViews updates, std::size_t begin, std::size_t len,
                        Block& block) const {
  const std::size_t n = n_;
  for (std::size_t group = 0; group < len; group += 8) {
    Lanes* values = &block[group / 8 * n];
    const std::size_t lanes = std::min<std::size_t>(8, len - group);
#if defined(__AVX__)
    __m256* v = reinterpret_cast<__m256*>(values);
    const __m256 inf = _mm256_set1_ps(kInf);
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = updates[i].data() + begin + group;
      // n streams are more than the hardware prefetcher follows: ask for the row's later
      // values ahead of the groups that will read them.
      if (begin + group + kPrefetchFloats < updates[i].size()) {
        _mm_prefetch(reinterpret_cast<const char*>(x + kPrefetchFloats), _MM_HINT_T0);
      }
      __m256 row;
      if (lanes == 8) {
        row = _mm256_loadu_ps(x);
      } else {  // the last coordinates: the lanes past them sort as +Inf, and are not read
        Lanes tail;
        for (std::size_t k = 0; k < 8; ++k) tail.v[k] = k < lanes ? x[k] : kInf;
        row = _mm256_load_ps(tail.v);
      }
      v[i] = _mm256_blendv_ps(row, inf, _mm256_cmp_ps(row, row, _CMP_UNORD_Q));  // NaN: +Inf
    }
    for (const CompareExchange& c : network_) {
      const __m256 a = v[c.lo], b = v[c.hi];
      // On a tie min(a, b) gives b and max(b, a) gives a, so two equal values (+0 and -0)
      // both survive.
      v[c.lo] = _mm256_min_ps(a, b);
      v[c.hi] = _mm256_max_ps(b, a);
    }
#else
    std::vector<float> column(n);
    for (std::size_t k = 0; k < 8; ++k) {
      if (k >= lanes) {  // past the last coordinate: +Inf, as on the vector path
        for (std::size_t i = 0; i < n; ++i) values[i].v[k] = kInf;
        continue;
      }
      for (std::size_t i = 0; i < n; ++i) {
        const float x = updates[i][begin + group + k];
        column[i] = std::isnan(x) ? kInf : x;
      }
      std::sort(column.begin(), column.end());
      for (std::size_t i = 0; i < n; ++i) values[i].v[k] = column[i];
    }
#endif
  }
}

}  // namespace tributary::robust::internal
