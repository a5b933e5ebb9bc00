// Fractional-repetition gradient code (Tandon et al. 2017, section 3.1).
//
// The n workers form n/(s+1) groups of s+1; every worker of group g holds the same s+1 data
// partitions (those of index g*(s+1) .. g*(s+1)+s) and sends their plain sum, so
// B = I_{n/(s+1)} (x) 1_{(s+1)x(s+1)}. Any n-s survivors leave one worker per group, and the
// decoder adds one result per group: exact, 0/1 coefficients, perfectly conditioned. Prefer it
// over the cyclic code whenever (s+1) divides n. Pure function; thread-safe.
#pragma once

#include <Eigen/Core>

#include "common/result.h"

namespace tributary::robust::coding {

// The n x n encoding matrix (row i = worker i, column j = partition j).
// InvalidArgument unless 0 <= s < n and (s+1) | n.
Result<Eigen::MatrixXd> FractionalRepetitionMatrix(int n, int s);

// The group of s+1 workers (and of partitions) that worker or partition `index` belongs to.
inline int FractionalRepetitionGroup(int index, int s) { return index / (s + 1); }

}  // namespace tributary::robust::coding
