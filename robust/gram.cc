#include "robust/gram.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "robust/internal/parallel.h"

namespace tributary::robust {
namespace {

// Coordinates per block: a block of n = 50 updates in double (400 KB) stays in L2.
constexpr std::size_t kBlock = 1024;

// Runs body(begin, end, thread) over [0, dim) in kBlock-sized blocks, a contiguous range of
// blocks per thread, and returns the number of threads used (partials are indexed by thread).
template <typename Body>
int ForBlocks(std::size_t dim, std::size_t values, Body body) {
  const std::size_t blocks = (dim + kBlock - 1) / kBlock;
  const int threads = values >= internal::kParallelMinValues
                          ? std::max(1, std::min<int>(internal::MaxThreads(), blocks))
                          : 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = internal::ThreadIndex();
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t begin = b * kBlock;
      body(begin, std::min(dim, begin + kBlock), t);
    }
  }
  return threads;
}

// Sums per-thread vectors of partial sums in thread order (deterministic).
std::vector<double> SumPartials(const std::vector<std::vector<double>>& partials, int threads) {
  std::vector<double> total(partials[0].size(), 0.0);
  for (int t = 0; t < threads; ++t) {
    for (std::size_t i = 0; i < total.size(); ++i) total[i] += partials[t][i];
  }
  return total;
}

}  // namespace

Eigen::MatrixXd Gram(UpdateViews updates) {
  const std::size_t n = updates.size();
  const std::size_t dim = updates[0].size();
  const int max_threads = internal::MaxThreads();
  std::vector<Eigen::MatrixXd> partial(max_threads, Eigen::MatrixXd::Zero(n, n));
  std::vector<Eigen::MatrixXd> block(max_threads);
  const int threads = ForBlocks(dim, n * dim, [&](std::size_t begin, std::size_t end, int t) {
    Eigen::MatrixXd& a = block[t];
    if (a.size() == 0) a.resize(kBlock, n);
    const std::size_t len = end - begin;
    for (std::size_t i = 0; i < n; ++i) {
      const float* src = updates[i].data() + begin;
      double* dst = a.col(i).data();
      for (std::size_t k = 0; k < len; ++k) dst[k] = src[k];
    }
    partial[t].selfadjointView<Eigen::Lower>().rankUpdate(a.topRows(len).transpose());
  });
  Eigen::MatrixXd gram = partial[0];
  for (int t = 1; t < threads; ++t) gram += partial[t];
  return gram.selfadjointView<Eigen::Lower>();
}

Eigen::MatrixXd SquaredDistancesFromGram(const Eigen::MatrixXd& gram) {
  const Eigen::Index n = gram.rows();
  Eigen::MatrixXd dist(n, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    dist(i, i) = 0.0;
    for (Eigen::Index j = 0; j < i; ++j) {
      const double d = gram(i, i) + gram(j, j) - 2.0 * gram(i, j);
      dist(i, j) = dist(j, i) =
          std::isfinite(d) ? std::max(0.0, d) : std::numeric_limits<double>::infinity();
    }
  }
  return dist;
}

namespace {

// For each update i, the sum over coordinates k of square(offset(k) applied to x_i[k]), over
// both cores in blocks; `offset(k)` is what is subtracted from x_i[k] (0 for norms).
template <typename Offset>
std::vector<double> SumOfSquares(UpdateViews updates, Offset offset) {
  const std::size_t n = updates.size();
  const std::size_t dim = updates[0].size();
  std::vector<std::vector<double>> partial(internal::MaxThreads(), std::vector<double>(n, 0.0));
  const int threads = ForBlocks(dim, n * dim, [&](std::size_t begin, std::size_t end, int t) {
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = updates[i].data();
      double s = 0.0;
#pragma omp simd reduction(+ : s)
      for (std::size_t k = begin; k < end; ++k) {
        const double diff = double{x[k]} - offset(k);
        s += diff * diff;
      }
      partial[t][i] += s;
    }
  });
  return SumPartials(partial, threads);
}

}  // namespace

std::vector<double> SquaredNorms(UpdateViews updates) {
  return SumOfSquares(updates, [](std::size_t) { return 0.0; });
}

std::vector<double> SquaredDistancesTo(UpdateViews updates, std::span<const double> point) {
  return SumOfSquares(updates, [point](std::size_t k) { return point[k]; });
}

}  // namespace tributary::robust
