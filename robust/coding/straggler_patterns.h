// Survivor sets: which workers remain when s of n straggle.
//
// Gradient codes promise exact decoding from every set of n-s surviving workers. Code
// construction (conditioning checks) and tests iterate over those sets: all C(n, s) of them when
// that count is small, a seeded uniform sample otherwise. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace tributary::robust::coding {

// C(n, k), saturating at UINT64_MAX instead of overflowing. REQUIRES: 0 <= k <= n.
uint64_t BinomialCoefficient(int n, int k);

// The sorted survivor sets of size n-s: every one (in lexicographic order of the stragglers)
// when C(n, s) <= max_sets, otherwise max_sets sets whose s stragglers are drawn uniformly at
// random from `seed` (repeats possible). REQUIRES: 0 <= s < n, max_sets >= 1.
std::vector<std::vector<int>> SurvivorSets(int n, int s, uint64_t max_sets, uint64_t seed);

}  // namespace tributary::robust::coding
