// Krum and Multi-Krum (Blanchard et al. 2017).
//
// score(i) = the sum of the squared distances from x_i to its n − f − 2 nearest other updates.
// Krum returns the update with the lowest score; Multi-Krum the mean of the m lowest-scoring
// ones (default m = n − f, as ByzFL). Both require n ≥ 2f + 3, the condition of Krum's
// guarantee. Distances come from one Gram matrix (robust/gram.h). Non-finite distances count
// as +inf, so an update holding Inf/NaN is never selected while at most f updates do; ties go
// to the lowest index.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "common/result.h"
#include "robust/update_views.h"

namespace tributary::robust {

// Krum scores of the updates in `pool` (indices into sq_dist) against the other members of the
// pool, with `neighbours` nearest neighbours each (+inf when one of them is at infinite
// distance). scores[j] belongs to pool[j]. REQUIRES: 1 <= neighbours < pool.size().
std::vector<double> KrumScores(const Eigen::MatrixXd& sq_dist, std::span<const std::size_t> pool,
                               std::size_t neighbours);

// The `count` indices of `pool` with the lowest scores, by (score, tie_break, index); an empty
// tie_break (one value per pool member otherwise) leaves ties to the lowest index. Errors when
// one of them has an infinite score (more than f updates are non-finite or infinitely far).
Result<std::vector<std::size_t>> LowestScores(std::span<const double> scores,
                                              std::span<const std::size_t> pool,
                                              std::size_t count,
                                              std::span<const double> tie_break = {});

// Multi-Krum's selection (Krum's for m = 1) from a squared-distance matrix: the m indices with
// the lowest scores, in increasing score order. Checks n >= 2f + 3 and 1 <= m <= n − f.
Result<std::vector<std::size_t>> MultiKrumSelect(const Eigen::MatrixXd& sq_dist, std::size_t f,
                                                 std::size_t m);

// The coefficients of Multi-Krum's aggregate (1/m for each of the m selected updates, 0 for
// the others) from the Gram matrix of the updates, so that a backend that computes the Gram
// matrix and the weighted sum elsewhere (gpu/) shares the selection. m unset: n − f.
Result<std::vector<double>> MultiKrumCoefficients(const Eigen::MatrixXd& gram, std::size_t f,
                                                  std::optional<std::size_t> m);

Status Krum(UpdateViews updates, std::size_t f, std::span<double> out);
// m unset: n − f.
Status MultiKrum(UpdateViews updates, std::size_t f, std::optional<std::size_t> m,
                 std::span<double> out);

}  // namespace tributary::robust
