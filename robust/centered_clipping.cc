#include "robust/centered_clipping.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {

Status CenteredClipping(UpdateViews updates, std::span<const double> center,
                        const CenteredClippingParams& params, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("cclip", updates, 1, out));
  if (!(params.tau > 0.0) || params.iters < 1) {
    return Status::InvalidArgument("cclip: needs tau > 0 and iters >= 1");
  }
  if (!center.empty() && center.size() != out.size()) {
    return Status::InvalidArgument("cclip: the center has " + std::to_string(center.size()) +
                                   " values, updates have " + std::to_string(out.size()));
  }
  if (center.empty()) {
    std::fill(out.begin(), out.end(), 0.0);
  } else {
    std::copy(center.begin(), center.end(), out.begin());
  }
  const double n = static_cast<double>(updates.size());
  std::vector<double> step(out.size());
  for (int l = 0; l < params.iters; ++l) {
    const std::vector<double> sq_dist = SquaredDistancesTo(updates, out);
    TRIBUTARY_RETURN_IF_ERROR(CheckFiniteRows("cclip", sq_dist));
    std::vector<double> coefficients(updates.size());
    double kept = 0.0;  // Σ_i c_i / n, the share of v_l replaced by the updates
    for (std::size_t i = 0; i < updates.size(); ++i) {
      const double dist = std::sqrt(sq_dist[i]);
      coefficients[i] = (dist > params.tau ? params.tau / dist : 1.0) / n;
      kept += coefficients[i];
    }
    WeightedSum(updates, coefficients, step);
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = (1.0 - kept) * out[k] + step[k];
  }
  return Status::Ok();
}

}  // namespace tributary::robust
