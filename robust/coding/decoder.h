// Decoding a gradient code: from the coded results of the arrived workers F, find a with
// a^T B_F = 1^T, so that sum_{i in F} a_i f_i = sum_j g_j (the full gradient).
//
// The system B_F^T a = 1 is solved in double precision by a complete orthogonal decomposition,
// which returns the minimum-norm least-squares solution whatever the rank of B_F. The residual
// e = B_F^T a - 1 is measured on the result, never assumed: F is decodable (Decoding::exact)
// when ||e||_2 <= tolerance * ||1||_2. Beyond s stragglers the same solution is the optimal
// approximate decoder (Tandon et al. 2017, Raviv et al. 2018): the decoded sum is
// sum_j (1 + e_j) g_j, so its error is at most ||e||_2 * sqrt(sum_j ||g_j||^2) and equals
// ||e||_2 exactly when the partition gradients are orthonormal. Pure function; thread-safe.
#pragma once

#include <Eigen/Core>
#include <span>
#include <vector>

#include "common/result.h"

namespace tributary::robust::coding {

// Relative residual (||e|| / sqrt(n)) under which a decoding counts as exact. Far above the
// ~cond * 1e-16 of a well-conditioned exact solve, far below the >= 1/sqrt(n) of a set that
// misses a whole partition.
inline constexpr double kDefaultDecodeTolerance = 1e-6;

struct Decoding {
  bool exact = false;            // the residual is within tolerance: the sum is exact
  Eigen::VectorXd coefficients;  // a, length n, indexed by worker; 0 for absent workers
  double residual = 0.0;         // ||B_F^T a - 1||_2

  // Upper bound on ||sum_i a_i f_i - sum_j g_j||, given sqrt(sum_j ||g_j||^2) (for unit
  // partition gradients: sqrt(n)).
  double ErrorBound(double partition_gradients_norm) const {
    return residual * partition_gradients_norm;
  }
};

// Decodes encoding matrix `b` (n x n, row i = worker i) from the `arrived` workers, in any
// order. InvalidArgument for an id outside [0, n) or a repeated id. An empty set decodes to
// a = 0 with residual sqrt(n).
Result<Decoding> Decode(const Eigen::MatrixXd& b, std::span<const int> arrived,
                        double tolerance = kDefaultDecodeTolerance);

// The arrived set as a mask of length n, or InvalidArgument naming the bad id (out of range
// or repeated). Shared by every caller that takes worker ids from outside.
Result<std::vector<bool>> ArrivalMask(int n, std::span<const int> arrived);

}  // namespace tributary::robust::coding
