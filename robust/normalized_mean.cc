#include "robust/normalized_mean.h"

#include <cmath>
#include <vector>

#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {

Status NormalizedMean(UpdateViews updates, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("normalized-mean", updates, 1, out));
  const std::vector<double> sq_norms = SquaredNorms(updates);
  TRIBUTARY_RETURN_IF_ERROR(CheckFiniteRows("normalized-mean", sq_norms));
  const double n = static_cast<double>(updates.size());
  std::vector<double> coefficients(sq_norms.size(), 0.0);
  for (std::size_t i = 0; i < sq_norms.size(); ++i) {
    if (sq_norms[i] > 0.0) coefficients[i] = 1.0 / (n * std::sqrt(sq_norms[i]));
  }
  WeightedSum(updates, coefficients, out);
  return Status::Ok();
}

}  // namespace tributary::robust
