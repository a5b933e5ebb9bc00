#include "robust/geometric_median.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {

Status GeometricMedian(UpdateViews updates, const GeometricMedianParams& params,
                       std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("geomed", updates, 1, out));
  if (!(params.nu > 0.0) || params.max_iters < 1 || !(params.tolerance >= 0.0)) {
    return Status::InvalidArgument("geomed: needs nu > 0, iters >= 1, tolerance >= 0");
  }
  const Eigen::MatrixXd gram = Gram(updates);
  const Eigen::VectorXd sq_norms = gram.diagonal();
  TRIBUTARY_RETURN_IF_ERROR(
      CheckFiniteRows("geomed", std::span<const double>(sq_norms.data(), sq_norms.size())));
  const Eigen::Index n = gram.rows();
  Eigen::VectorXd a = Eigen::VectorXd::Zero(n);  // z = Σ a_i x_i, starting at z = 0
  for (int it = 0; it < params.max_iters; ++it) {
    const Eigen::VectorXd ka = gram * a;
    const double zz = a.dot(ka);
    Eigen::VectorXd beta(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      const double dist = std::sqrt(std::max(0.0, zz - 2.0 * ka(i) + sq_norms(i)));
      beta(i) = 1.0 / std::max(params.nu, dist);
    }
    const Eigen::VectorXd next = beta / beta.sum();
    const Eigen::VectorXd step = next - a;
    a = next;
    const double step_sq = std::max(0.0, step.dot(gram * step));
    const double norm_sq = std::max(0.0, a.dot(gram * a));
    if (step_sq <= params.tolerance * params.tolerance * norm_sq) break;
  }
  WeightedSum(updates, std::span<const double>(a.data(), a.size()), out);
  return Status::Ok();
}

}  // namespace tributary::robust
