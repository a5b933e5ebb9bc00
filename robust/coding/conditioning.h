// Conditioning of a gradient code over its straggler patterns.
//
// Decoding from survivor set F solves B_F^T a = 1; its sensitivity to rounding (and to float32
// transport of the coded results) is the condition number of B_F restricted to the row space of
// B: cond(B_F) = sigma_1(B_F) / sigma_r(B_F), r = rank(B), infinite when B_F has lost rank
// (F then cannot decode). Cyclic codes worsen fast with n, so construction checks the worst
// case over all C(n, s) patterns, or over a seeded sample when there are too many, and redraws.
// Pure function; thread-safe.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>

namespace tributary::robust::coding {

struct ConditionReport {
  double worst = 1.0;       // the largest cond(B_F) seen; +inf when some F lost rank
  uint64_t patterns = 0;    // how many survivor sets were checked
  bool exhaustive = false;  // whether those were all C(n, s) of them
};

// Checks the survivor sets of size n-s of `b` (n x n): all of them when C(n, s) <=
// max_patterns, max_patterns drawn from `seed` otherwise. Stops early, with exhaustive = false,
// as soon as the worst exceeds stop_above (a redraw loop uses its best so far). Cost: one SVD of
// an (n-s) x n matrix per pattern. REQUIRES: 0 <= s < n.
ConditionReport WorstSurvivorCondition(const Eigen::MatrixXd& b, int s, uint64_t max_patterns,
                                       uint64_t seed, double stop_above = INFINITY);

}  // namespace tributary::robust::coding
