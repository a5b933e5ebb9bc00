#include "robust/norm_clipping.h"

#include <cmath>
#include <vector>

#include "robust/coordinate_wise.h"
#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {

Result<std::vector<double>> NormClippingCoefficients(std::span<const double> squared_norms,
                                                     std::optional<double> clip_norm) {
  if (clip_norm && !(std::isfinite(*clip_norm) && *clip_norm > 0.0)) {
    return Status::InvalidArgument("normclip: the clipping norm must be finite and > 0");
  }
  TRIBUTARY_RETURN_IF_ERROR(CheckFiniteRows("normclip", squared_norms));
  std::vector<double> norms(squared_norms.size());
  for (std::size_t i = 0; i < norms.size(); ++i) norms[i] = std::sqrt(squared_norms[i]);
  double c = 0.0;
  if (clip_norm) {
    c = *clip_norm;
  } else {
    std::vector<double> scratch = norms;
    c = MedianInPlace(scratch);
  }
  const double n = static_cast<double>(norms.size());
  std::vector<double> coefficients(norms.size());
  for (std::size_t i = 0; i < norms.size(); ++i) {
    coefficients[i] = (norms[i] > c ? c / norms[i] : 1.0) / n;
  }
  return coefficients;
}

Status NormClipping(UpdateViews updates, std::optional<double> clip_norm, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("normclip", updates, 1, out));
  TRIBUTARY_ASSIGN_OR_RETURN(std::vector<double> coefficients,
                             NormClippingCoefficients(SquaredNorms(updates), clip_norm));
  WeightedSum(updates, coefficients, out);
  return Status::Ok();
}

}  // namespace tributary::robust
