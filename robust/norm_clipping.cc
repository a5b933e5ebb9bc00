#include "robust/norm_clipping.h"

#include <cmath>
#include <vector>

#include "robust/coordinate_wise.h"
#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {

Status NormClipping(UpdateViews updates, std::optional<double> clip_norm, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("normclip", updates, 1, out));
  if (clip_norm && !(std::isfinite(*clip_norm) && *clip_norm > 0.0)) {
    return Status::InvalidArgument("normclip: the clipping norm must be finite and > 0");
  }
  const std::vector<double> sq_norms = SquaredNorms(updates);
  TRIBUTARY_RETURN_IF_ERROR(CheckFiniteRows("normclip", sq_norms));
  std::vector<double> norms(sq_norms.size());
  for (std::size_t i = 0; i < norms.size(); ++i) norms[i] = std::sqrt(sq_norms[i]);
  double c = 0.0;
  if (clip_norm) {
    c = *clip_norm;
  } else {
    std::vector<double> scratch = norms;
    c = MedianInPlace(scratch);
  }
  const double n = static_cast<double>(updates.size());
  std::vector<double> coefficients(norms.size());
  for (std::size_t i = 0; i < norms.size(); ++i) {
    coefficients[i] = (norms[i] > c ? c / norms[i] : 1.0) / n;
  }
  WeightedSum(updates, coefficients, out);
  return Status::Ok();
}

}  // namespace tributary::robust
