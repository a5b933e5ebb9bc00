#include "robust/coordinate_wise.h"

#include <algorithm>
#include <numeric>
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
  internal::ForEachCoordinate(updates, out, MedianInPlace);
  return Status::Ok();
}

Status TrimmedMean(UpdateViews updates, std::size_t f, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("trimmed-mean", updates, 2 * f + 1, out));
  const std::size_t n = updates.size();
  internal::ForEachCoordinate(updates, out, [f, n](std::span<double> v) {
    if (f > 0) {
      std::nth_element(v.begin(), v.begin() + f, v.end());
      std::nth_element(v.begin() + f, v.end() - f, v.end());
    }
    return std::accumulate(v.begin() + f, v.end() - f, 0.0) / static_cast<double>(n - 2 * f);
  });
  return Status::Ok();
}

}  // namespace tributary::robust
