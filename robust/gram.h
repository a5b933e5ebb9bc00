// Inner products of a round's updates, in double precision: the Gram matrix K = XᵀX (one pass
// over the data, blocked SYRK on both cores), the pairwise squared distances derived from it
// (‖a−b‖² = ‖a‖²+‖b‖²−2a·b, so Krum and Bulyan never make n² passes over d), squared norms, and
// squared distances to one point.
//
// Precision: each block of coordinates is widened to double before the product, so products
// are exact and sums are accumulated in double. Non-finite values only poison the rows and
// columns of the updates that hold them.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <span>
#include <vector>

#include <Eigen/Core>

#include "robust/update_views.h"

namespace tributary::robust {

// K(i, j) = <updates[i], updates[j]>. REQUIRES: CheckUpdates passed.
Eigen::MatrixXd Gram(UpdateViews updates);

// D(i, j) = ‖x_i − x_j‖² from a Gram matrix, clamped at 0 against rounding; +inf wherever the
// Gram entries involved are not finite; D(i, i) = 0.
Eigen::MatrixXd SquaredDistancesFromGram(const Eigen::MatrixXd& gram);

// ‖x_i‖² for every update (the Gram diagonal, without the off-diagonal work).
std::vector<double> SquaredNorms(UpdateViews updates);

// ‖x_i − point‖² for every update. REQUIRES: point.size() == the update dimension.
std::vector<double> SquaredDistancesTo(UpdateViews updates, std::span<const double> point);

}  // namespace tributary::robust
