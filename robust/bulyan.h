// Bulyan (El Mhamdi et al. 2018) on top of Krum.
//
// 1. Select θ = n − 2f updates by repeated Krum: pick the lowest-score update of the pool,
//    remove it, recompute the scores on the remaining pool. Late in the recursion the pool is
//    smaller than 2f + 3, so the neighbour count pool − f − 2 is clamped to [1, pool − 1].
//    With one neighbour, two mutual nearest neighbours tie; score ties are therefore broken by
//    the sum of squared distances to the whole pool (then by index), so that the selection does
//    not depend on the order of the inputs.
// 2. Per coordinate, average the β = θ − 2f = n − 4f selected values closest to the median of
//    the selected values (mean of the two middle ones for even θ; ties by value, the smaller
//    first, so the result does not depend on input order).
// Requires n ≥ 4f + 3. Distances come from one Gram matrix; the recursion reuses it. Non-finite
// updates are at infinite distance and never selected while at most f updates are non-finite.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "common/result.h"
#include "robust/update_views.h"

namespace tributary::robust {

// Stage 1: the θ = n − 2f indices, in selection order. Checks n >= 4f + 3.
Result<std::vector<std::size_t>> BulyanSelect(const Eigen::MatrixXd& sq_dist, std::size_t f);

Status Bulyan(UpdateViews updates, std::size_t f, std::span<double> out);
// Bulyan given the Gram matrix of the updates (robust::Gram's, or one computed elsewhere, as
// gpu/ does). REQUIRES: CheckUpdates passed; gram is n × n.
Status BulyanFromGram(UpdateViews updates, const Eigen::MatrixXd& gram, std::size_t f,
                      std::span<double> out);

}  // namespace tributary::robust
