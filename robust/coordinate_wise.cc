#include "robust/coordinate_wise.h"

#include <algorithm>
#include <string>

#include "robust/internal/coordinate_loop.h"

namespace tributary::robust {

double MedianInPlace(std::span<double> values) {
  const std::size_t half = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + half, values.end());
  const double upper = values[half];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + half);
  return 0.5 * (lower + upper);
}

Status CoordinateMedian(UpdateViews updates, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("median", updates, 1, out));
  const std::size_t n = updates.size();
  internal::ForEachSortedCoordinate(updates, out, [n](const auto& v) {
    const double upper = v[n / 2];
    return n % 2 == 1 ? upper : 0.5 * (double{v[n / 2 - 1]} + upper);
  });
  return Status::Ok();
}

Status TrimmedMean(UpdateViews updates, std::size_t f, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("trimmed-mean", updates, 2 * f + 1, out));
  const std::size_t n = updates.size();
  const double kept = static_cast<double>(n - 2 * f);
  internal::ForEachSortedGroup(updates, out, [f, n, kept](const auto& group, auto lanes) {
    // Eight coordinates side by side, each summed in ascending order as the CUDA kernel adds.
    double sum[8] = {};
    for (std::size_t j = f; j < n - f; ++j) {
      for (std::size_t l = 0; l < 8; ++l) sum[l] += group.rows[j].v[l];
    }
    for (std::size_t l = 0; l < lanes.size(); ++l) lanes[l] = sum[l] / kept;
  });
  return Status::Ok();
}

}  // namespace tributary::robust
