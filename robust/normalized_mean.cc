#include "robust/normalized_mean.h"

#include <cmath>
#include <vector>

#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {

Result<std::vector<double>> NormalizedMeanCoefficients(std::span<const double> squared_norms) {
  TRIBUTARY_RETURN_IF_ERROR(CheckFiniteRows("normalized-mean", squared_norms));
  const double n = static_cast<double>(squared_norms.size());
  std::vector<double> coefficients(squared_norms.size(), 0.0);
  for (std::size_t i = 0; i < squared_norms.size(); ++i) {
    if (squared_norms[i] > 0.0) coefficients[i] = 1.0 / (n * std::sqrt(squared_norms[i]));
  }
  return coefficients;
}

Status NormalizedMean(UpdateViews updates, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("normalized-mean", updates, 1, out));
  TRIBUTARY_ASSIGN_OR_RETURN(std::vector<double> coefficients,
                             NormalizedMeanCoefficients(SquaredNorms(updates)));
  WeightedSum(updates, coefficients, out);
  return Status::Ok();
}

}  // namespace tributary::robust
