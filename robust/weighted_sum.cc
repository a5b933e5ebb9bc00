#include "robust/weighted_sum.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "robust/internal/parallel.h"

namespace tributary::robust {
namespace {

// Coordinates per block: the output block (32 KB of doubles) stays in L1/L2 while every
// update streams through it once.
constexpr std::size_t kBlock = 4096;

}  // namespace

void WeightedSum(UpdateViews updates, std::span<const double> coefficients,
                 std::span<double> out) {
  const std::size_t dim = out.size();
  std::vector<std::size_t> used;
  for (std::size_t i = 0; i < updates.size(); ++i) {
    if (coefficients[i] != 0.0) used.push_back(i);
  }
  const std::size_t blocks = (dim + kBlock - 1) / kBlock;
  const bool parallel = used.size() * dim >= internal::kParallelMinValues;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t begin = b * kBlock;
    const std::size_t end = std::min(dim, begin + kBlock);
    double* o = out.data();
    std::fill(o + begin, o + end, 0.0);
    for (std::size_t i : used) {
      const float* x = updates[i].data();
      const double c = coefficients[i];
#pragma omp simd
      for (std::size_t k = begin; k < end; ++k) o[k] += c * double{x[k]};
    }
  }
}

void AddScaled(UpdateView update, double weight, std::span<double> acc) {
  const float* x = update.data();
  double* a = acc.data();
  const std::size_t dim = acc.size();
#pragma omp simd
  for (std::size_t k = 0; k < dim; ++k) a[k] += weight * double{x[k]};
}

Status WeightedMean(UpdateViews updates, std::span<const double> weights, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("fedavg", updates, 1, out));
  if (weights.size() != updates.size()) {
    return Status::InvalidArgument("fedavg: " + std::to_string(weights.size()) + " weights for " +
                                   std::to_string(updates.size()) + " updates");
  }
  double total = 0.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!(std::isfinite(weights[i]) && weights[i] > 0.0)) {
      return Status::InvalidArgument("fedavg: weight " + std::to_string(i) +
                                     " must be finite and > 0");
    }
    total += weights[i];
  }
  std::vector<double> coefficients(weights.begin(), weights.end());
  for (double& c : coefficients) c /= total;
  WeightedSum(updates, coefficients, out);
  return Status::Ok();
}

}  // namespace tributary::robust
