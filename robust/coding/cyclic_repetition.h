// Cyclic-repetition gradient code (Tandon et al. 2017, section 3.2), one random draw.
//
// Worker i covers partitions i, i+1, ..., i+s (mod n) with B(i,i) = 1. A Gaussian H (s x n) with
// zero row sums (H*1 = 0) is drawn from the seed, and the other s entries of row i solve
// H[:, S_i \ {i}] v = -H[:, i], so every row of B lies in null(H), which contains 1 and has
// dimension n-s: generically any n-s rows span it and decode exactly. "Generically" hides bad
// conditioning that grows fast with n (cond ~1e7 at n=20, s=4); GradientCode::Create checks the
// survivor patterns and redraws. The draw uses a portable generator (mt19937_64 + Box-Muller),
// so a seed gives the same B on every platform. Pure function; thread-safe.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "common/result.h"

namespace tributary::robust::coding {

// InvalidArgument unless 0 <= s < n; Internal in the (measure-zero) event that a drawn s x s
// block of H is numerically singular.
Result<Eigen::MatrixXd> CyclicRepetitionMatrix(int n, int s, uint64_t seed);

}  // namespace tributary::robust::coding
